"""Who may do which approval operation, on the 开办餐饮店 bundle, as real users of their departments.

Only the assignee sends back, transfers and decides (decide through the same check as completion);
nobody does any of that while the task is delegated (only the delegate's resolve); only a head of the
step's department (or an administrator) adds or removes signers, and a signer added must exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from orchestrator.db import transaction
from orchestrator.models import AuditEvent
from tests.approval.bundle import Approval, Sessions, approve, fire_reaches_decision, open_restaurant
from tests.coverage.test_restaurant_bundle import DEPARTMENTS

pytestmark = pytest.mark.timeout(180)
ClientAs = Callable[..., FlaskClient]
FIRE, MARKET = "dept-fire-rescue", "dept-market-regulation"


def person(client: FlaskClient, client_as: ClientAs, username: str, role: str, department: str) -> FlaskClient:
    """A real user of one department; the case helpers (which sign in by name) act as the same user."""
    signed_in = client_as(role, departments=[department], username=username)
    token = str(signed_in.environ_base["HTTP_AUTHORIZATION"]).removeprefix("Bearer ")
    client.application.extensions.setdefault("tests.user_tokens", {})[username] = token
    return signed_in


def audit(case: Approval, event_type: str) -> list[tuple[str | None, dict[str, Any]]]:
    with transaction(case.sessions) as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.instance_id == case.id,
                                                        AuditEvent.event_type == event_type).order_by(AuditEvent.id))
        return [(row.actor, row.payload) for row in rows]


def at_fire_decision(client: FlaskClient, sessions: Sessions, run_in_tx: Any, client_as: ClientAs) -> Approval:
    for name in ("fire-li", "fire-zhao", "fire-chen"):
        person(client, client_as, name, "reviewer", FIRE)
    case = open_restaurant(client, sessions, run_in_tx)
    fire_reaches_decision(case)  # the decision is claimed by 陈
    return case


def decide_body(opinion: str = "材料齐全，符合法定条件，准予。") -> dict[str, Any]:
    rest = {k: v for k, v in approve("fire_safety").items() if not k.endswith(("_decision", "_opinion"))}
    return {"decision": "approve", "opinion": opinion, "variables": rest}


def test_only_the_assignee_sends_back_transfers_and_decides(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any, client_as: ClientAs) -> None:
    case = at_fire_decision(client, sessions, run_in_tx, client_as)
    market = person(client, client_as, "market-zhou", "reviewer", MARKET)
    colleague = person(client, client_as, "fire-wu", "reviewer", FIRE)
    decision = case.task("task_fire_safety")["id"]
    attempts = {
        "send-back": {"target": "task_fire_site_check", "reason": "复查"},
        "transfer": {"to": "fire-li", "reason": "出差"},
        "decide": decide_body(),
    }
    for operation, body in attempts.items():
        refused = colleague.post(f"/api/tasks/{decision}/{operation}", json=body)
        assert refused.status_code == 403, (operation, refused.get_json())
        problem = refused.get_json()
        assert problem["code"] == "task.not_assignee" and "fire-chen" in problem["message_zh"], operation
        outsider = market.post(f"/api/tasks/{decision}/{operation}", json=body)
        assert outsider.status_code == 403 and outsider.get_json()["code"] == "auth.forbidden", operation
    assert case.task("task_fire_safety")["assignee"] == "fire-chen"
    assert audit(case, "task.sent_back") == audit(case, "task.transferred") == audit(case, "approval.decided") == []

    decided = case.post(f"/api/tasks/{decision}/decide", "fire-chen", decide_body())
    assert decided.status_code == 200, decided.get_json()
    assert audit(case, "approval.decided") == [("fire-chen", {
        "task_id": decision, "activity_id": "task_fire_safety", "decision": "approve",
        "opinion": "材料齐全，符合法定条件，准予。", "signed": False})]
    assert case.done("task_fire_safety") == decision


def test_an_unclaimed_task_is_decided_by_a_candidate_as_a_completion_claims_it(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any, client_as: ClientAs) -> None:
    case = at_fire_decision(client, sessions, run_in_tx, client_as)
    decision = case.task("task_fire_safety")["id"]
    sun = person(client, client_as, "fire-sun", "reviewer", FIRE)
    assert case.post(f"/engine-rest/task/{decision}/unclaim", "fire-chen").status_code == 204
    not_claimed = sun.post(f"/api/tasks/{decision}/send-back", json={"target": "task_fire_site_check",
                                                                      "reason": "复查"})
    assert not_claimed.status_code == 403 and not_claimed.get_json()["code"] == "task.not_claimed"
    decided = sun.post(f"/api/tasks/{decision}/decide", json=decide_body())
    assert decided.status_code == 200, decided.get_json()
    assert [actor for actor, _ in audit(case, "task.claimed")][-1] == "fire-sun"
    assert [actor for actor, _ in audit(case, "approval.decided")] == ["fire-sun"]


def test_a_delegated_task_is_only_resolved_and_then_comes_back_to_its_owner(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any, client_as: ClientAs) -> None:
    case = at_fire_decision(client, sessions, run_in_tx, client_as)
    decision = case.task("task_fire_safety")["id"]
    delegated = case.post(f"/engine-rest/task/{decision}/delegate", "fire-chen",
                          {"userId": "fire-li", "reason": "请李工就消防通道宽度给出意见"})
    assert delegated.status_code == 204, delegated.get_json()
    task = case.task("task_fire_safety")
    assert (task["assignee"], task["owner"], task["delegationState"]) == ("fire-li", "fire-chen", "PENDING")

    attempts = {
        "send-back": {"target": "task_fire_site_check", "reason": "复查"},
        "transfer": {"to": "fire-zhao", "reason": "转给赵工"},
        "decide": decide_body(),
    }
    for user in ("fire-li", "fire-chen"):  # neither the delegate nor the owner, until it is resolved
        for operation, body in attempts.items():
            refused = case.post(f"/api/tasks/{decision}/{operation}", user, body)
            assert refused.status_code == 409, (user, operation, refused.get_json())
            assert refused.get_json()["code"] == "task.delegated" and "委派" in refused.get_json()["message_zh"]
    assert case.post(f"/engine-rest/task/{decision}/resolve", "fire-chen").status_code == 403

    resolved = case.post(f"/engine-rest/task/{decision}/resolve", "fire-li", {"reason": "通道宽度符合规范"})
    assert resolved.status_code == 204, resolved.get_json()
    task = case.task("task_fire_safety")
    assert (task["assignee"], task["owner"], task["delegationState"]) == ("fire-chen", "fire-chen", "RESOLVED")
    assert audit(case, "task.delegated") == [("fire-chen", {
        "task_id": decision, "activity_id": "task_fire_safety", "delegate": "fire-li", "owner": "fire-chen",
        "reason": "请李工就消防通道宽度给出意见"})]
    assert audit(case, "task.resolved") == [("fire-li", {
        "task_id": decision, "activity_id": "task_fire_safety", "delegate": "fire-li", "owner": "fire-chen",
        "reason": "通道宽度符合规范"})]
    assert case.post(f"/api/tasks/{decision}/decide", "fire-chen", decide_body()).status_code == 200


def joint_inspection(client: FlaskClient, sessions: Sessions, run_in_tx: Any, client_as: ClientAs) -> Approval:
    case = at_fire_decision(client, sessions, run_in_tx, client_as)
    case.act("task_fire_safety", "fire-chen", approve("fire_safety"))
    case.act("task_food_license", "market-sun", approve("food_license"))
    case.act("task_license_verification", "market-zhou", approve("license_verification"))
    case.act("task_signboard", "urban-wu", approve("signboard"))
    assert case.ready() == ["task_joint_inspection"] * len(DEPARTMENTS)
    return case


def test_only_a_head_of_the_steps_department_adds_and_removes_signers(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any, client_as: ClientAs) -> None:
    case = joint_inspection(client, sessions, run_in_tx, client_as)
    fire_task = case.task("task_joint_inspection", candidateGroups=[FIRE])["id"]
    head_fire = person(client, client_as, "head-fire", "department_head", FIRE)
    head_market = person(client, client_as, "head-market", "department_head", MARKET)
    person(client, client_as, "health-he", "reviewer", "dept-health")  # the department exists
    add = {"signer": "dept-health", "position": "parallel", "reason": "涉及餐饮从业人员健康，请卫健参加勘验"}

    reviewer = case.post(f"/api/tasks/{fire_task}/signers", "fire-chen", add)
    assert reviewer.status_code == 403 and reviewer.get_json()["code"] == "auth.forbidden"
    other_head = head_market.post(f"/api/tasks/{fire_task}/signers", json=add)
    assert other_head.status_code == 403
    assert other_head.get_json()["code"] == "countersign.not_department_head"
    assert "负责人" in other_head.get_json()["message_zh"]
    not_a_department = head_fire.post(f"/api/tasks/{fire_task}/signers", json={**add, "signer": "dept-nowhere"})
    assert not_a_department.status_code == 400 and not_a_department.get_json()["field"] == "signer"
    assert case.ready() == ["task_joint_inspection"] * len(DEPARTMENTS)

    added = head_fire.post(f"/api/tasks/{fire_task}/signers", json=add)
    assert added.status_code == 200, added.get_json()
    assert sorted(t["candidateGroups"][0] for t in case.tasks("task_joint_inspection")) == sorted(
        [*DEPARTMENTS, "dept-health"])
    removed = client.post(f"/api/tasks/{fire_task}/signers/remove",  # an administrator may as well
                          json={"signer": "dept-health", "reason": "经核实不涉及"})
    assert removed.status_code == 200, removed.get_json()
    assert [(actor, payload["signer"]) for actor, payload in audit(case, "countersign.signer_added")] == [
        ("head-fire", "dept-health")]
    assert [(actor, payload["signer"]) for actor, payload in audit(case, "countersign.signer_removed")] == [
        ("admin", "dept-health")]
