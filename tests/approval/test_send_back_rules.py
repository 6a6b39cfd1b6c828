"""The diagram's send-back rules: `sendBack.targets` on the sender, `sendBack.assignTo` on the target."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from orchestrator.db import transaction
from orchestrator.models import AuditEvent
from orchestrator.workcalendar import SHANGHAI
from tests.approval.bundle import Approval, Sessions, auth
from tests.conftest import ROOT
from tests.coverage.case import Case, deploy_files

pytestmark = pytest.mark.timeout(120)
DIAGRAM = ROOT / "tests" / "bpmn" / "approval" / "send_back_rules.bpmn"


def reviewed(client: FlaskClient, sessions: Sessions) -> Approval:
    """Accepted by 王 and reviewed by 周: the case waits at the check."""
    deploy_files(client, DIAGRAM)
    started = Case.start(client, sessions, "send_back_rules", {})
    case = Approval(client, sessions, started.id, started.business_key)
    case.act("task_apply", "clerk-wang")
    case.act("task_review", "market-zhou")
    return case


def at_decision(client: FlaskClient, sessions: Sessions) -> Approval:
    case = reviewed(client, sessions)
    case.act("task_check", "market-sun")
    case.claim("task_decide", "market-chen")
    return case


def test_a_step_with_listed_targets_sends_back_only_to_them(client: FlaskClient, sessions: Sessions) -> None:
    case = at_decision(client, sessions)
    decide = case.task("task_decide")["id"]
    targets = case.client.get(f"/api/tasks/{decide}/send-back-targets").get_json()
    assert [(t["activity_id"], t["completed_by"]) for t in targets] == [("task_apply", "clerk-wang")]

    refused = case.post(f"/api/tasks/{decide}/send-back", "market-chen", {"target": "task_check", "reason": "复核不细"})
    assert refused.status_code == 400
    problem = refused.get_json()
    assert (problem["code"], problem["field"]) == ("approval.send_back_target", "target")
    assert "流程图不允许退回到该环节" in problem["message_zh"]
    assert case.ready() == ["task_decide"]

    sent = case.post(f"/api/tasks/{decide}/send-back", "market-chen",
                     {"target": "task_apply", "reason": "缺少身份证明"})
    assert sent.status_code == 200, sent.get_json()
    assert sent.get_json()["assignee"] == "clerk-wang"  # `previous`, the default
    assert case.ready() == ["task_apply"] and case.task("task_apply")["assignee"] == "clerk-wang"


def test_a_target_marked_candidates_returns_to_the_pool_of_its_department(
        client: FlaskClient, sessions: Sessions) -> None:
    case = reviewed(client, sessions)
    check = case.claim("task_check", "market-sun")
    sent = case.post(f"/api/tasks/{check}/send-back", "market-sun", {"target": "task_review", "reason": "请重新初审"})
    assert sent.status_code == 200, sent.get_json()
    assert sent.get_json()["assignee"] is None
    row = case.row(sent.get_json()["task_id"])
    assert row.assignee is None and row.candidate_groups == ["dept-market-regulation"]


@pytest.mark.parametrize(("old", "new", "element"), [
    ('value="candidates"', 'value="boss"', "task_review"),
    ('value="task_apply"', 'value="task_apply, task_nowhere"', "task_decide"),
])
def test_a_bad_send_back_property_is_refused_at_deployment_naming_the_step(
        client: FlaskClient, old: str, new: str, element: str) -> None:
    text = DIAGRAM.read_text(encoding="utf-8").replace(old, new)
    response = client.post("/engine-rest/deployment/create", content_type="multipart/form-data",
                           data={"deployment-name": "bad", "bad.bpmn": (io.BytesIO(text.encode()), "bad.bpmn")})
    assert response.status_code == 400
    problem = response.get_json()
    assert problem["code"] == "bpmn.send_back_rule" and problem["element_id"] == element
    assert problem["line"] and "sendBack." in problem["message_zh"]


def test_a_step_sent_back_to_someone_away_goes_to_their_proxy_and_they_still_see_it(
        client: FlaskClient, sessions: Sessions) -> None:
    case = at_decision(client, sessions)
    today = datetime.now(UTC).astimezone(SHANGHAI).date().isoformat()
    away = client.post("/api/proxies", headers=auth(client, "clerk-wang"), json={
        "proxy": "clerk-zhao", "starts_on": today, "ends_on": today, "reason": "年休假"})
    assert away.status_code == 200, away.get_json()
    decide = case.task("task_decide")["id"]
    sent = case.post(f"/api/tasks/{decide}/send-back", "market-chen",
                     {"target": "task_apply", "reason": "缺少身份证明"})
    assert sent.status_code == 200, sent.get_json()
    row = case.row(sent.get_json()["task_id"])
    assert sent.get_json()["assignee"] == row.assignee == "clerk-zhao"
    assert row.candidate_users == ["clerk-wang"]
    with transaction(sessions) as session:
        proxied = session.scalars(select(AuditEvent).where(AuditEvent.instance_id == case.id,
                                                           AuditEvent.event_type == "task.proxied")).all()
        assert [(e.actor, e.payload["task_id"], e.payload["proxy"]) for e in proxied] == [
            ("clerk-wang", row.id, "clerk-zhao")]
