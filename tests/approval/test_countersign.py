"""会签 rules on real diagrams (tests/bpmn/approval/countersign_*.bpmn), decided over /api/tasks/{id}/decide."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.approval.bundle import Approval, Sessions, auth, head_of
from tests.conftest import ROOT
from tests.coverage.case import Case, deploy_files
from tests.helpers import token_for

pytestmark = pytest.mark.timeout(120)
DIAGRAMS = ROOT / "tests" / "bpmn" / "approval"


def countersign(client: FlaskClient, sessions: Sessions, key: str, signers: list[str], **variables: Any) -> Approval:
    """Start a countersign diagram; its step belongs to 市场监管, whose head is 刘 (head-liu)."""
    if "head-liu" not in client.application.extensions.get("tests.user_tokens", {}):
        head_of(client, "head-liu", "dept-market-regulation", "市场监管")
    deploy_files(client, DIAGRAMS / f"{key}.bpmn")
    started = Case.start(client, sessions, key, {"signers": signers, **variables})
    return Approval(client, sessions, started.id, started.business_key)


def sign(case: Approval, signer: str, decision: str, opinion: str = "同意。") -> None:
    task_id = case.task("task_countersign", assignee=signer)["id"]
    response = case.post(f"/api/tasks/{task_id}/decide", signer, {"decision": decision, "opinion": opinion})
    assert response.status_code == 200, response.get_json()


def open_signers(case: Approval) -> list[str]:
    return sorted(t["assignee"] for t in case.tasks("task_countersign"))


def test_all_waits_for_every_signer_and_passes_only_without_a_rejection(
        client: FlaskClient, sessions: Sessions) -> None:
    case = countersign(client, sessions, "countersign_all", ["zhang", "li", "wang"])
    sign(case, "zhang", "approve")
    sign(case, "li", "reject", "不同意：平面图与现场不符")
    assert open_signers(case) == ["wang"]
    sign(case, "wang", "approve")
    assert case.ready() == ["task_rejected"]
    passing = countersign(client, sessions, "countersign_all", ["zhang", "li"])
    sign(passing, "zhang", "approve")
    sign(passing, "li", "approve")
    assert passing.ready() == ["task_approved"]


def test_veto_ends_at_the_first_rejection_and_cancels_the_others(client: FlaskClient, sessions: Sessions) -> None:
    case = countersign(client, sessions, "countersign_veto", ["zhang", "li", "wang"])
    sign(case, "zhang", "approve")
    sign(case, "li", "reject", "一票否决：消防通道不达标")
    assert case.ready() == ["task_rejected"]
    assert case.canceled("task_countersign") == 1


def test_any_passes_at_the_first_approval(client: FlaskClient, sessions: Sessions) -> None:
    case = countersign(client, sessions, "countersign_any", ["zhang", "li", "wang"])
    sign(case, "zhang", "reject", "不同意")
    assert open_signers(case) == ["li", "wang"]
    sign(case, "li", "approve")
    assert case.ready() == ["task_approved"] and case.canceled("task_countersign") == 1
    failing = countersign(client, sessions, "countersign_any", ["zhang", "li"])
    sign(failing, "zhang", "reject", "不同意")
    sign(failing, "li", "reject", "不同意")
    assert failing.ready() == ["task_rejected"]


def test_a_weighted_ratio_passes_at_sixty_percent_and_fails_once_it_cannot_be_reached(
        client: FlaskClient, sessions: Sessions) -> None:
    weights = {"head": 3, "zhang": 1, "li": 1, "wang": 1}  # total 6, 60 % is 3.6
    case = countersign(client, sessions, "countersign_ratio", list(weights), weights=weights)
    sign(case, "head", "approve")
    assert open_signers(case) == ["li", "wang", "zhang"]  # 3 of 6 is not yet 60 %
    sign(case, "zhang", "approve")
    assert case.ready() == ["task_approved"] and case.canceled("task_countersign") == 2

    vetoed = countersign(client, sessions, "countersign_ratio", list(weights), weights=weights)
    sign(vetoed, "head", "reject", "不同意")  # 3 left of 6 can never reach 3.6
    assert vetoed.ready() == ["task_rejected"]


def test_a_count_rule_fails_as_soon_as_too_few_signers_are_left(client: FlaskClient, sessions: Sessions) -> None:
    case = countersign(client, sessions, "countersign_count", ["zhang", "li", "wang"])
    sign(case, "zhang", "approve")
    sign(case, "li", "reject", "不同意")
    assert open_signers(case) == ["wang"]
    sign(case, "wang", "approve")
    assert case.ready() == ["task_approved"]
    failing = countersign(client, sessions, "countersign_count", ["zhang", "li", "wang"])
    sign(failing, "zhang", "reject", "不同意")
    sign(failing, "li", "reject", "不同意")
    assert failing.ready() == ["task_rejected"] and failing.canceled("task_countersign") == 1


def test_a_camunda_completion_condition_reads_the_approve_and_reject_counters(
        client: FlaskClient, sessions: Sessions) -> None:
    signers = ["a", "b", "c", "d", "e"]
    case = countersign(client, sessions, "countersign_condition", signers)
    sign(case, "a", "approve")
    sign(case, "b", "approve")
    local = case.task_data("task_countersign", assignee="c")
    assert (local["nrOfApproved"], local["nrOfRejected"], local["nrOfCompletedInstances"]) == (2, 0, 2)
    sign(case, "c", "approve")  # 3 / 5 >= 0.6
    assert case.ready() == ["task_approved"] and case.canceled("task_countersign") == 2


def test_an_unknown_rule_is_refused_at_deployment_naming_the_element(client: FlaskClient) -> None:
    text = (DIAGRAMS / "countersign_all.bpmn").read_text(encoding="utf-8").replace('value="all"', 'value="most"')
    response = client.post("/engine-rest/deployment/create", content_type="multipart/form-data",
                           data={"deployment-name": "bad", "bad.bpmn": (io.BytesIO(text.encode()), "bad.bpmn")})
    assert response.status_code == 400
    problem = response.get_json()
    assert problem["code"] == "bpmn.countersign_rule" and problem["element_id"] == "task_countersign"
    assert problem["line"] and "未知的会签规则" in problem["message_zh"]


def test_a_countersign_without_a_decision_is_refused_and_nothing_changes(
        client: FlaskClient, sessions: Sessions) -> None:
    case = countersign(client, sessions, "countersign_all", ["zhang", "li"])
    task_id = case.task("task_countersign", assignee="zhang")["id"]
    response = client.post(f"/engine-rest/task/{task_id}/complete", json={"variables": {}},
                           headers=auth(client, "zhang"))
    assert response.status_code == 422 and response.get_json()["element_id"] == "task_countersign"
    assert open_signers(case) == ["li", "zhang"]


def test_signers_added_in_parallel_and_removed_re_evaluate_the_rule(client: FlaskClient, sessions: Sessions) -> None:
    case = countersign(client, sessions, "countersign_all", ["zhang", "li"])
    token_for(client, "wang")  # an added signer must be an active user
    task_id = case.task("task_countersign", assignee="zhang")["id"]
    before = case.post(f"/api/tasks/{task_id}/signers", "head-liu",
                       {"signer": "wang", "position": "before", "reason": "请王工把关"})
    assert before.status_code == 400 and before.get_json()["field"] == "position"
    added = case.post(f"/api/tasks/{task_id}/signers", "head-liu",
                      {"signer": "wang", "position": "parallel", "reason": "涉及消防，请王工会签"})
    assert added.status_code == 200, added.get_json()
    assert open_signers(case) == ["li", "wang", "zhang"]
    li_task = case.task("task_countersign", assignee="li")["id"]
    sign(case, "zhang", "approve")
    sign(case, "wang", "approve")
    removed = case.post(f"/api/tasks/{task_id}/signers/remove", "head-liu", {"signer": "li", "reason": "李工回避"})
    assert removed.status_code == 200, removed.get_json()
    assert case.row(li_task).state == "CANCELED"
    assert case.ready() == ["task_approved"]  # the two left both approved: the rule is met at once
    again = case.post(f"/api/tasks/{task_id}/signers/remove", "head-liu", {"signer": "li", "reason": "重复"})
    assert again.status_code == 404 or again.status_code == 409


def test_a_sequential_countersign_adds_before_and_after_the_current_signer(
        client: FlaskClient, sessions: Sessions) -> None:
    case = countersign(client, sessions, "countersign_sequential", ["zhang", "li"])
    token_for(client, "wang"), token_for(client, "zhao")  # added signers must be active users
    zhang_task = case.task("task_countersign")["id"]
    assert open_signers(case) == ["zhang"]
    response = case.post(f"/api/tasks/{zhang_task}/signers", "head-liu",
                         {"signer": "wang", "position": "before", "reason": "请王工先审"})
    assert response.status_code == 200, response.get_json()
    assert open_signers(case) == ["wang"] and case.row(zhang_task).state == "CANCELED"
    sign(case, "wang", "approve")
    assert open_signers(case) == ["zhang"]
    current = case.task("task_countersign")["id"]
    assert case.post(f"/api/tasks/{current}/signers", "head-liu",
                     {"signer": "zhao", "position": "after", "reason": "请赵工复核"}).status_code == 200
    listing = case.client.get(f"/api/tasks/{current}/signers").get_json()
    assert [s["signer"] for s in listing["signers"]] == ["wang", "zhang", "zhao", "li"]
    assert case.post(f"/api/tasks/{current}/signers/remove", "head-liu",
                     {"signer": "li", "reason": "李工出差"}).status_code == 200
    sign(case, "zhang", "approve")
    assert open_signers(case) == ["zhao"]
    sign(case, "zhao", "approve")
    assert case.ready() == ["task_approved"]
    assert case.completed("task_countersign") == 3


def test_a_signature_is_retracted_while_the_countersign_runs_and_refused_once_it_has_ended(
        client: FlaskClient, sessions: Sessions) -> None:
    case = countersign(client, sessions, "countersign_all", ["zhang", "li", "wang"])
    sign(case, "zhang", "approve")
    signed = case.done("task_countersign")
    response = case.post(f"/api/tasks/{signed}/retract", "zhang", {"reason": "意见需修改"})
    assert response.status_code == 200, response.get_json()
    assert open_signers(case) == ["li", "wang", "zhang"]
    listing = case.client.get(f"/api/tasks/{response.get_json()['task_id']}/signers").get_json()
    assert [(s["signer"], s["state"], s["decision"]) for s in listing["signers"]] == [
        ("zhang", "open", None), ("li", "open", None), ("wang", "open", None)]
    assert listing["counters"]["nrOfCompletedInstances"] == 0
    sign(case, "zhang", "reject", "不同意：平面图与现场不符")  # the retracted approval no longer counts
    sign(case, "li", "approve")
    sign(case, "wang", "approve")
    assert case.ready() == ["task_rejected"]

    too_late = case.post(f"/api/tasks/{case.done('task_countersign')}/retract", "wang", {"reason": "再看看"})
    assert too_late.status_code == 409 and too_late.get_json()["code"] == "task.retract_too_late"
    assert "会签已结束" in too_late.get_json()["message_zh"]
    assert case.ready() == ["task_rejected"]


def test_a_sequential_signature_is_not_retracted_once_the_next_signer_has_the_task(
        client: FlaskClient, sessions: Sessions) -> None:
    case = countersign(client, sessions, "countersign_sequential", ["zhang", "li"])
    sign(case, "zhang", "approve")
    refused = case.post(f"/api/tasks/{case.done('task_countersign')}/retract", "zhang", {"reason": "再看看"})
    assert refused.status_code == 409 and refused.get_json()["code"] == "task.retract_too_late"
    assert open_signers(case) == ["li"]


def test_a_signer_added_must_be_an_active_user(client: FlaskClient, sessions: Sessions, client_as: Any) -> None:
    case = countersign(client, sessions, "countersign_all", ["zhang", "li"])
    client_as("reviewer", username="retired-qian", active=False)
    task_id = case.task("task_countersign", assignee="zhang")["id"]
    for signer in ("nobody-here", "retired-qian"):
        refused = case.post(f"/api/tasks/{task_id}/signers", "head-liu",
                            {"signer": signer, "position": "parallel", "reason": "请会签"})
        assert refused.status_code == 400 and refused.get_json()["field"] == "signer"
        assert "不存在或已停用" in refused.get_json()["message_zh"]
    assert open_signers(case) == ["li", "zhang"]
