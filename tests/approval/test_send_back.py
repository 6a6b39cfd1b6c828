"""退回 on the 开办餐饮店 bundle: a department's branch is rewound alone; across the split is explicit.

The fire branch is document review → site check → decision. While it is at the decision, the
market regulator's licence verification has asked for a correction (half done), the food licence
branch is complete (waiting at the join) and the signboard branch is open with its warning timer.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.approval.bundle import Approval, Sessions, approve, fire_reaches_decision, open_restaurant
from tests.coverage.test_restaurant_bundle import DEPARTMENTS, FIRE_DOCUMENT_REVIEW, FIRE_SITE_CHECK
from tests.form_samples import sample

pytestmark = pytest.mark.timeout(120)


def mid_flight(client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> Approval:
    case = open_restaurant(client, sessions, run_in_tx)
    fire_reaches_decision(case)
    case.act("task_food_license", "market-sun", approve("food_license"))
    case.act("task_license_verification", "market-zhou",
             {"license_verification_decision": "correct", "license_verification_opinion": "请补正章程"})
    assert case.ready() == ["task_fire_safety", "task_license_verification_correction", "task_signboard"]
    return case


def outside(case: Approval, branch: set[str]) -> dict[str, Any]:
    """Everything of the case outside one branch: engine tasks, open task rows, timers, jobs."""
    tasks = {k: v for k, v in case.engine_tasks().items() if k not in branch}
    rows = {r.id: (r.activity_id, r.assignee, r.due, r.candidate_groups) for r in case.open_rows()
            if r.id not in branch}
    timers = {t.id: (t.activity_id, t.due_at) for t in case.timers() if t.id not in branch}
    jobs = {j.id: (j.activity_id, j.state) for j in case.jobs() if j.id not in branch}
    return {"tasks": tasks, "rows": rows, "timers": timers, "jobs": jobs}


def test_the_fire_branch_sent_back_two_steps_leaves_the_other_departments_exactly_as_they_were(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> None:
    case = mid_flight(client, sessions, run_in_tx)
    fire_branch = case.subtree_of("task_fire_document_review")
    before = outside(case, fire_branch)
    assert before["timers"] and any(a == "timer_signboard_warning" for a, _ in before["timers"].values())
    decision = case.task("task_fire_safety")["id"]
    assert any(t.activity_id == "timer_fire_safety_warning" for t in case.timers())

    targets = case.client.get(f"/api/tasks/{decision}/send-back-targets").get_json()
    assert [(t["activity_id"], t["across_split"], t["completed_by"]) for t in targets] == [
        ("task_fire_site_check", False, "fire-zhao"), ("task_fire_document_review", False, "fire-li"),
        ("task_intake", True, "clerk-wang")]

    response = case.post(f"/api/tasks/{decision}/send-back", "fire-chen",
                         {"target": "task_fire_document_review", "reason": "消防设计审查意见书缺失"})
    assert response.status_code == 200, response.get_json()
    sent = response.get_json()
    assert sent["assignee"] == "fire-li" and sent["across_split"] is False

    # The fire branch is back at document review, with the person who did it; its decision is gone.
    assert case.ready() == ["task_fire_document_review", "task_license_verification_correction", "task_signboard"]
    assert case.row(sent["task_id"]).assignee == "fire-li"
    assert case.row(decision).state == "CANCELED"
    assert not any(t.activity_id == "timer_fire_safety_warning" for t in case.timers())
    # Everything outside the fire branch is exactly as before: engine tasks and data, rows, due dates, timers.
    assert outside(case, case.subtree_of("task_fire_document_review") | fire_branch) == before
    # The rewound step still sees what the branch knew.
    assert case.task_data("task_fire_document_review")["fire_site_check_inspector"] == "消防监督员 李明"

    # Everyone finishes; the join fires once and the joint inspection starts.
    case.act("task_fire_document_review", "fire-li", FIRE_DOCUMENT_REVIEW)
    case.act("task_fire_site_check", "fire-zhao", FIRE_SITE_CHECK)
    case.act("task_fire_safety", "fire-chen", approve("fire_safety"))
    case.act("task_license_verification_correction", "clerk-wang",
             sample("correction", correction_materials="章程（修订）"))
    case.act("task_license_verification", "market-zhou", approve("license_verification"))
    assert case.ready() == ["task_signboard"]
    case.act("task_signboard", "urban-wu", approve("signboard"))
    assert case.ready() == ["task_joint_inspection"] * len(DEPARTMENTS)
    assert case.completed("gw_items_join") == 1
    assert case.completed("task_fire_document_review") == 2 and case.canceled("task_fire_safety") == 1

    audit = case.client.get(f"/api/cases/{case.id}/opinions").get_json()
    [fire] = [s for s in audit["steps"] if s["activity_id"] == "task_fire_safety"]
    assert fire["department"] == "dept-fire-rescue"  # the code: the same as the step's candidate group
    assert [(o["kind"], o["opinion"], o["actor"]) for o in fire["opinions"]] == [
        ("send_back", "消防设计审查意见书缺失", "fire-chen")]


def test_send_back_needs_a_reason_and_the_assignee(client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> None:
    case = mid_flight(client, sessions, run_in_tx)
    decision = case.task("task_fire_safety")["id"]
    no_reason = case.post(f"/api/tasks/{decision}/send-back", "fire-chen", {"target": "task_fire_site_check"})
    assert no_reason.status_code == 400 and no_reason.get_json()["field"] == "reason"
    not_mine = case.post(f"/api/tasks/{decision}/send-back", "fire-li",
                         {"target": "task_fire_site_check", "reason": "复查"})
    assert not_mine.status_code == 403
    wrong_target = case.post(f"/api/tasks/{decision}/send-back", "fire-chen",
                             {"target": "task_food_license", "reason": "复查"})
    assert wrong_target.status_code == 400 and wrong_target.get_json()["field"] == "target"
    assert wrong_target.get_json()["message_zh"].startswith("不能退回到环节")
    assert case.ready() == ["task_fire_safety", "task_license_verification_correction", "task_signboard"]


def test_sending_back_across_the_split_is_previewed_confirmed_and_undoes_every_branch(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> None:
    case = mid_flight(client, sessions, run_in_tx)
    decision = case.task("task_fire_safety")["id"]
    unconfirmed = case.post(f"/api/tasks/{decision}/send-back", "fire-chen",
                            {"target": "task_intake", "reason": "申请人名称与执照不符，需重新受理"})
    assert unconfirmed.status_code == 409
    assert unconfirmed.get_json()["code"] == "approval.send_back_needs_confirmation"

    preview = case.post(f"/api/tasks/{decision}/send-back/preview", "fire-chen", {"target": "task_intake"})
    assert preview.status_code == 200
    undone = preview.get_json()
    assert sorted(t["activity_id"] for t in undone["open_user_tasks"]) == [
        "task_fire_safety", "task_license_verification_correction", "task_signboard"]
    assert {"task_food_license", "task_fire_site_check"} <= {t["activity_id"] for t in undone["completed_user_tasks"]}
    assert case.ready() == ["task_fire_safety", "task_license_verification_correction", "task_signboard"]

    confirmed = case.post(f"/api/tasks/{decision}/send-back", "fire-chen",
                          {"target": "task_intake", "reason": "申请人名称与执照不符，需重新受理", "across_split": True})
    assert confirmed.status_code == 200, confirmed.get_json()
    assert confirmed.get_json()["assignee"] == "clerk-wang"
    assert case.ready() == ["task_intake"]
    # the branches' timers are gone; the case-wide limit timers (时限预警 / 超期督办 event sub-processes) wait on
    assert sorted(t.activity_id for t in case.timers()) == ["start_limit_warning", "start_overdue"]
    assert case.jobs() == []
    case.act("task_intake", "clerk-wang", sample("restaurant-intake", intake_opinion="已核对名称，重新受理"))
    assert case.ready() == ["task_fire_document_review", "task_food_license", "task_license_verification",
                            "task_signboard"]


def test_a_step_with_a_boundary_timer_is_a_send_back_target_in_its_branch_and_its_timer_is_armed_once(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> None:
    """The merge of a step's boundary events is no parallel split: the send-back stays in the branch."""
    case = open_restaurant(client, sessions, run_in_tx)
    case.act("task_fire_document_review", "fire-li", FIRE_DOCUMENT_REVIEW)
    case.act("task_food_license", "market-sun", approve("food_license"))
    case.act("task_license_verification", "market-zhou",
             {"license_verification_decision": "correct", "license_verification_opinion": "请补正章程"})
    branch = case.subtree_of("task_license_verification.BoundaryEventSplit")
    before = outside(case, branch)
    assert not [t for t in case.timers() if t.activity_id == "timer_license_verification_warning"]
    correction = case.claim("task_license_verification_correction", "clerk-wang")

    targets = case.client.get(f"/api/tasks/{correction}/send-back-targets").get_json()
    assert [(t["activity_id"], t["across_split"]) for t in targets] == [
        ("task_license_verification", False), ("task_intake", True)]
    response = case.post(f"/api/tasks/{correction}/send-back", "clerk-wang",
                         {"target": "task_license_verification", "reason": "核验意见需由核验人重新确认"})
    assert response.status_code == 200, response.get_json()
    sent = response.get_json()
    assert sent["across_split"] is False and sent["assignee"] == "market-zhou"

    assert case.ready() == ["task_fire_site_check", "task_license_verification", "task_signboard"]
    [timer] = [t for t in case.timers() if t.activity_id == "timer_license_verification_warning"]
    assert timer.id not in branch
    waiting = [v for v in case.engine_tasks().values()
               if v[0] == "timer_license_verification_warning" and v[1] == "WAITING"]
    assert len(waiting) == 1
    after_branch = case.subtree_of("task_license_verification.BoundaryEventSplit") | branch
    assert outside(case, after_branch) == before

    case.act("task_license_verification", "market-zhou", approve("license_verification"))
    assert not [t for t in case.timers() if t.activity_id == "timer_license_verification_warning"]
    assert case.ready() == ["task_fire_site_check", "task_signboard"]
