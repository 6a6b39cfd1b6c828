"""审批意见 with phrases and signatures, 抄送 with read status, and 代理 over a date range."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from orchestrator.db import transaction
from orchestrator.models import AuditEvent
from orchestrator.workcalendar import SHANGHAI
from tests.approval.bundle import Approval, Sessions, auth, fire_reaches_decision, open_restaurant
from tests.approval.test_countersign import DIAGRAMS, countersign, open_signers, sign
from tests.coverage.case import Case, deploy_files

pytestmark = pytest.mark.timeout(120)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32  # the signature pad's image; only its header is checked


def copied(client: FlaskClient, sessions: Sessions, reviewer: str = "market-zhou") -> Approval:
    deploy_files(client, DIAGRAMS / "carbon_copy.bpmn")
    started = Case.start(client, sessions, "carbon_copy", {"reviewer": reviewer})
    return Approval(client, sessions, started.id, started.business_key)


def today(days: int = 0) -> str:
    return (datetime.now(UTC).astimezone(SHANGHAI).date() + timedelta(days=days)).isoformat()


def test_a_decision_takes_a_stock_phrase_and_a_signature_into_the_official_record(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> None:
    case = open_restaurant(client, sessions, run_in_tx)
    fire_reaches_decision(case)
    decision = case.task("task_fire_safety")["id"]
    phrases = client.get(f"/api/tasks/{decision}/opinion-phrases").get_json()["phrases"]
    assert phrases[1] == "经审查，材料齐全，符合法定条件，准予许可。"

    forged = {"type": "image/png", "data": base64.b64encode(b"GIF89a....").decode()}
    bad = case.post(f"/api/tasks/{decision}/decide", "fire-chen", {"decision": "approve", "phrase": 1,
                                                                    "signature": forged})
    assert bad.status_code == 400 and bad.get_json()["field"] == "signature.data"
    assert case.post(f"/api/tasks/{decision}/decide", "fire-chen", {"decision": "approve"}).get_json()["field"] \
        == "opinion"
    assert case.post(f"/api/tasks/{decision}/decide", "fire-li", {"decision": "approve", "phrase": 1}).status_code \
        == 403
    assert case.ready().count("task_fire_safety") == 1  # nothing changed

    signature = {"type": "image/png", "data": base64.b64encode(PNG).decode()}
    response = case.post(f"/api/tasks/{decision}/decide", "fire-chen",
                         {"decision": "approve", "phrase": 1, "signature": signature,
                          "variables": {"fire_safety_permit_no": "消检字〔2026〕第 118 号"}})
    assert response.status_code == 200, response.get_json()
    assert "task_fire_safety" not in case.ready()
    [variables] = [data for spec, state, data, _ in case.engine_tasks().values()
                   if spec == "task_fire_safety" and state == "COMPLETED"]
    assert variables["fire_safety_decision"] == "approve"
    assert variables["fire_safety_opinion"] == "经审查，材料齐全，符合法定条件，准予许可。"

    record = client.get(f"/api/cases/{case.id}/opinions").get_json()
    [fire] = [s for s in record["steps"] if s["activity_id"] == "task_fire_safety"]
    [entry] = fire["opinions"]
    assert (entry["decision"], entry["actor"], entry["kind"]) == ("approve", "fire-chen", "decision")
    assert entry["at"].endswith("+08:00")
    image = client.get(entry["signature"]["url"])
    assert image.status_code == 200 and image.mimetype == "image/png" and image.data == PNG


def test_the_record_lists_steps_in_order_with_each_departments_opinions(
        client: FlaskClient, sessions: Sessions) -> None:
    case = countersign(client, sessions, "countersign_all", ["zhang", "li"])
    sign(case, "li", "reject", "不同意：平面图与现场不符")
    sign(case, "zhang", "approve", "同意。")
    steps = client.get(f"/api/cases/{case.id}/opinions").get_json()["steps"]
    assert [(s["activity_id"], s["department"]) for s in steps] == [("task_countersign", "市场监管")]
    assert [(o["actor"], o["decision"], o["opinion"]) for o in steps[0]["opinions"]] == [
        ("li", "reject", "不同意：平面图与现场不符"), ("zhang", "approve", "同意。")]


def test_a_step_copies_the_case_and_the_recipients_read_it_without_blocking_the_flow(
        client: FlaskClient, sessions: Sessions, client_as: Any) -> None:
    case = copied(client, sessions)
    sign_review = case.task("task_review")["id"]
    response = case.post(f"/api/tasks/{sign_review}/decide", "market-zhou", {"decision": "approve", "phrase": 0})
    assert response.status_code == 200, response.get_json()
    assert case.ready() == ["task_deliver"]  # the copy never waits for its readers

    copies = client.get(f"/api/cases/{case.id}/cc").get_json()
    assert sorted((c["recipient"]["kind"], c["recipient"]["id"], c["read"]) for c in copies) == [
        ("group", "dept-supervision", False), ("user", "supervisor-he", False)]
    mine = client.get("/api/cc", headers=auth(client, "supervisor-he")).get_json()
    assert mine["unread"] == 1 and mine["items"][0]["case_id"] == case.id
    read = client.post(f"/api/cc/{mine['items'][0]['id']}/read", headers=auth(client, "supervisor-he"))
    assert read.status_code == 200 and read.get_json()["read_by"] == "supervisor-he"
    assert client.get("/api/cc?unread=true", headers=auth(client, "supervisor-he")).get_json()["total"] == 0
    someone_else = auth(client, "someone-else")
    assert client.post(f"/api/cc/{mine['items'][0]['id']}/read", headers=someone_else).status_code == 404
    member = client_as("supervisor", departments=["dept-supervision"])  # a copy to a department reaches its people
    assert [(c["recipient"]["id"], c["read"]) for c in member.get("/api/cc").get_json()["items"]] == [
        ("dept-supervision", False)]

    bad = case.post(f"/api/cases/{case.id}/cc", "market-zhou", {"recipients": [{"kind": "robot", "id": "x"}]})
    assert bad.status_code == 400 and bad.get_json()["field"] == "recipients[0].kind"
    legal = auth(client, "legal-xu")  # a reviewer of no department of the case: reads it once copied, not before
    assert client.get(f"/engine-rest/process-instance/{case.id}", headers=legal).status_code == 403
    for kind, nobody in (("user", "nobody-here"), ("group", "dept-nowhere")):
        unknown = case.post(f"/api/cases/{case.id}/cc", "market-zhou", {"recipients": [{"kind": kind, "id": nobody}]})
        assert unknown.status_code == 400 and unknown.get_json()["field"] == "recipients[0].id"
    manual = case.post(f"/api/cases/{case.id}/cc", "market-zhou",
                       {"recipients": [{"kind": "user", "id": "legal-xu"}], "note": "请法制科知悉"})
    assert manual.status_code == 200, manual.get_json()
    assert client.get(f"/engine-rest/process-instance/{case.id}", headers=legal).status_code == 200
    assert client.get(f"/api/cases/{case.id}/opinions", headers=legal).status_code == 200
    assert client.get("/api/cc", headers=auth(client, "legal-xu")).get_json()["items"][0]["note"] == "请法制科知悉"
    with transaction(sessions) as session:
        events = list(session.scalars(select(AuditEvent.event_type).where(AuditEvent.instance_id == case.id)))
    assert events.count("case.copied") == 2


def test_a_proxy_receives_new_tasks_in_its_date_range_while_the_original_still_sees_them(
        client: FlaskClient, sessions: Sessions) -> None:
    later = client.post("/api/proxies", headers=auth(client, "li"), json={
        "proxy": "wang", "starts_on": today(2), "ends_on": today(5), "reason": "下周出差"})
    assert later.status_code == 200, later.get_json()
    assert client.post("/api/proxies", headers=auth(client, "li"), json={
        "proxy": "zhao", "starts_on": today(3), "ends_on": today(1), "reason": "x"}).get_json()["field"] == "ends_on"
    assert client.post("/api/proxies", headers=auth(client, "li"), json={
        "proxy": "zhao", "principal": "zhang", "starts_on": today(), "ends_on": today(1),
        "reason": "x"}).status_code == 403
    now = client.post("/api/proxies", headers=auth(client, "li"), json={
        "proxy": "zhao", "starts_on": today(), "ends_on": today(2), "reason": "休假"})
    assert now.status_code == 200

    case = countersign(client, sessions, "countersign_all", ["zhang", "li"])
    assert open_signers(case) == ["zhang", "zhao"]  # li's task went to the proxy of today, not next week's
    proxied = case.task("task_countersign", assignee="zhao")
    assert proxied["candidateUsers"] == ["li"]
    seen_by_li = client.get("/engine-rest/task", query_string={"candidateUser": "li",
                                                                 "processInstanceId": case.id}).get_json()
    assert [t["id"] for t in seen_by_li] == [proxied["id"]]
    with transaction(sessions) as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.instance_id == case.id,
                                                           AuditEvent.event_type == "task.proxied"))
        assert (event.payload["principal"], event.payload["proxy"]) == ("li", "zhao")
    sign(case, "zhao", "approve", "代李工签署：同意。")

    assert client.delete(f"/api/proxies/{now.get_json()['id']}", headers=auth(client, "li")).status_code == 200
    after = countersign(client, sessions, "countersign_all", ["zhang", "li"])
    assert open_signers(after) == ["li", "zhang"]
    listed = client.get("/api/proxies", headers=auth(client, "li")).get_json()
    assert sorted((p["proxy"], p["revoked"]) for p in listed) == [("wang", False), ("zhao", True)]


def test_a_proxy_becomes_a_candidate_of_tasks_naming_the_person_as_a_candidate_user(
        client: FlaskClient, sessions: Sessions) -> None:
    """The delivery step names the reviewer as a candidate user: while 周 is away, 孙 may take it too."""
    before = copied(client, sessions)
    assert client.post("/api/proxies", headers=auth(client, "market-zhou"), json={
        "proxy": "market-sun", "starts_on": today(), "ends_on": today(1), "reason": "外出培训"}).status_code == 200
    case = copied(client, sessions)
    assert before.task("task_review")["assignee"] == "market-zhou"  # created before the range: not proxied
    assert case.task("task_review")["assignee"] == "market-sun"
    for each, reviewer in ((before, "market-zhou"), (case, "market-sun")):
        review = each.task("task_review")["id"]
        assert each.post(f"/api/tasks/{review}/decide", reviewer,
                         {"decision": "approve", "phrase": 0}).status_code == 200
    # Both deliveries are created now, in the range: the proxy is one more candidate user of each.
    for each in (before, case):
        delivery = each.task("task_deliver")
        assert delivery["assignee"] is None and delivery["candidateUsers"] == ["market-zhou", "market-sun"]
    with transaction(sessions) as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.instance_id == case.id,
                                                          AuditEvent.event_type == "task.proxied"))
        assert [(e.actor, e.payload["activity_id"], e.payload["proxy"]) for e in events] == [
            ("market-zhou", "task_review", "market-sun"), ("market-zhou", "task_deliver", "market-sun")]
    claimed = client.post(f"/engine-rest/task/{delivery['id']}/claim", headers=auth(client, "market-sun"), json={})
    assert claimed.status_code == 204, claimed.get_json()
    done = client.post(f"/engine-rest/task/{delivery['id']}/complete", headers=auth(client, "market-sun"),
                       json={"variables": {}})
    assert done.status_code == 204, done.get_json()
    assert case.state() == "COMPLETED"
