"""撤回 and 转办 on the 开办餐饮店 bundle: retract until the next step is claimed; transfer for good."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from orchestrator.db import transaction
from orchestrator.models import AuditEvent
from tests.approval.bundle import Approval, Sessions, approve, fire_reaches_decision, open_restaurant
from tests.coverage.test_restaurant_bundle import FIRE_DOCUMENT_REVIEW, INTAKE
from tests.helpers import token_for

pytestmark = pytest.mark.timeout(120)


def audit(case: Approval, event_type: str) -> list[tuple[str | None, dict[str, Any]]]:
    with transaction(case.sessions) as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.instance_id == case.id,
                                                        AuditEvent.event_type == event_type).order_by(AuditEvent.id))
        return [(row.actor, row.payload) for row in rows]


def test_a_step_is_retracted_while_the_next_is_unclaimed_and_refused_once_it_is_claimed(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> None:
    case = open_restaurant(client, sessions, run_in_tx)
    case.act("task_fire_document_review", "fire-li", FIRE_DOCUMENT_REVIEW)
    done = case.done("task_fire_document_review")
    site_check = case.task("task_fire_site_check")["id"]

    assert case.post(f"/api/tasks/{done}/retract", "fire-zhao").status_code == 403  # not who did it
    response = case.post(f"/api/tasks/{done}/retract", "fire-li", {"reason": "漏看了消防设计审查意见书"})
    assert response.status_code == 200, response.get_json()
    again = response.get_json()["task_id"]
    assert case.row(again).assignee == "fire-li" and case.row(site_check).state == "CANCELED"
    assert "task_fire_site_check" not in case.ready() and "task_fire_document_review" in case.ready()
    assert audit(case, "task.retracted") == [("fire-li", {
        "task_id": done, "activity_id": "task_fire_document_review", "new_task_id": again,
        "reason": "漏看了消防设计审查意见书", "withdrawn": ["task_fire_site_check"]})]

    case.act("task_fire_document_review", "fire-li", FIRE_DOCUMENT_REVIEW)
    case.claim("task_fire_site_check", "fire-zhao")
    refused = case.post(f"/api/tasks/{again}/retract", "fire-li")
    assert refused.status_code == 409 and refused.get_json()["code"] == "task.retract_too_late"
    assert "已被签收" in refused.get_json()["message_zh"]
    assert "task_fire_site_check" in case.ready()


def test_retract_is_refused_after_the_next_step_is_completed(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> None:
    case = open_restaurant(client, sessions, run_in_tx)
    fire_reaches_decision(case)
    refused = case.post(f"/api/tasks/{case.done('task_fire_document_review')}/retract", "fire-li")
    assert refused.status_code == 409 and refused.get_json()["code"] == "task.retract_too_late"


def test_a_branch_waiting_at_the_join_can_be_retracted_but_not_once_the_join_fired(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> None:
    case = open_restaurant(client, sessions, run_in_tx)
    case.act("task_food_license", "market-sun", approve("food_license"))
    response = case.post(f"/api/tasks/{case.done('task_food_license')}/retract", "market-sun", {"reason": "意见写错"})
    assert response.status_code == 200, response.get_json()
    assert case.task("task_food_license")["assignee"] == "market-sun"

    case.act("task_food_license", "market-sun", approve("food_license"))
    fire_reaches_decision(case)
    case.act("task_fire_safety", "fire-chen", approve("fire_safety"))
    case.act("task_license_verification", "market-zhou", approve("license_verification"))
    case.act("task_signboard", "urban-wu", approve("signboard"))
    assert "task_joint_inspection" in case.ready()
    refused = case.post(f"/api/tasks/{case.done('task_food_license')}/retract", "market-sun")
    assert refused.status_code == 409 and "汇聚" in refused.get_json()["message_zh"]


def test_the_step_before_the_parallel_split_is_retracted_while_no_department_has_claimed(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> None:
    case = open_restaurant(client, sessions, run_in_tx)
    branches = {row.activity_id for row in case.open_rows()}
    assert {"task_fire_document_review", "task_food_license", "task_signboard"} <= branches
    response = case.post(f"/api/tasks/{case.done('task_intake')}/retract", "clerk-wang", {"reason": "材料登记有误"})
    assert response.status_code == 200, response.get_json()
    assert [(row.activity_id, row.assignee) for row in case.open_rows()] == [("task_intake", "clerk-wang")]
    [(actor, payload)] = audit(case, "task.retracted")
    assert actor == "clerk-wang" and set(payload["withdrawn"]) == branches

    case.act("task_intake", "clerk-wang", INTAKE)
    assert {row.activity_id for row in case.open_rows()} == branches
    case.claim("task_signboard", "urban-wu")
    refused = case.post(f"/api/tasks/{case.done('task_intake')}/retract", "clerk-wang")
    assert refused.status_code == 409 and refused.get_json()["code"] == "task.retract_too_late"
    assert "已被签收" in refused.get_json()["message_zh"]


def test_transfer_hands_the_task_over_for_good_with_an_audit_record(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> None:
    case = open_restaurant(client, sessions, run_in_tx)
    fire_reaches_decision(case)
    decision = case.task("task_fire_safety")["id"]
    assert case.post(f"/api/tasks/{decision}/transfer", "fire-chen", {"to": "fire-qian"}).get_json()["field"] \
        == "reason"
    nobody = case.post(f"/api/tasks/{decision}/transfer", "fire-chen", {"to": "fire-qian", "reason": "本人回避"})
    assert nobody.status_code == 400 and nobody.get_json()["field"] == "to"  # only to an active user
    token_for(client, "fire-qian")
    assert case.post(f"/api/tasks/{decision}/transfer", "fire-li",
                     {"to": "fire-qian", "reason": "出差"}).status_code == 403
    response = case.post(f"/api/tasks/{decision}/transfer", "fire-chen", {"to": "fire-qian", "reason": "本人回避"})
    assert response.status_code == 200, response.get_json()
    assert case.task("task_fire_safety")["assignee"] == "fire-qian"
    assert audit(case, "task.transferred") == [("fire-chen", {
        "task_id": decision, "activity_id": "task_fire_safety", "from": "fire-chen", "to": "fire-qian",
        "reason": "本人回避"})]
    # Only the new assignee acts on it now.
    assert case.post(f"/api/tasks/{decision}/send-back", "fire-chen",
                     {"target": "task_fire_site_check", "reason": "复查"}).status_code == 403
    case.act("task_fire_safety", "fire-qian", approve("fire_safety"))
