"""Task forms over HTTP: served with the case data, drafts, and submissions checked on the server.

Every refusal names each field at fault in Chinese, and leaves the case exactly as it was: tasks,
variables, history, audit chain and engine state.
"""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.models import AuditEvent, FormDraft, FormSubmission, ProcessInstance
from orchestrator.services.seed import seed_bundles
from tests.conftest import ROOT
from tests.form_samples import decision, sample
from tests.helpers import activities, instance_variables, open_tasks, start, task_by_key, typed

Sessions = sessionmaker[Session]
DEPARTMENTS = ["dept-fire-rescue", "dept-market-regulation", "dept-urban-management"]


def submit_sample(client: FlaskClient, case_id: str, key: str, name: str) -> None:
    task = task_by_key(client, case_id, key)
    response = client.post(f"/api/tasks/{task['id']}/submit", json={"values": sample(name)})
    assert response.status_code == 200, response.get_json()


def restaurant_at_review(client: FlaskClient, run_in_tx: Any) -> str:
    """A restaurant case whose four department decisions are open (fire: after document review and site check)."""
    run_in_tx(seed_bundles, ROOT / "bpmn")
    case_id = start(client, "restaurant_opening", {"inspection_departments": DEPARTMENTS})["id"]
    submit_sample(client, case_id, "task_intake", "restaurant-intake")
    submit_sample(client, case_id, "task_fire_document_review", "restaurant-fire-document-review")
    submit_sample(client, case_id, "task_fire_site_check", "restaurant-fire-site-check")
    return case_id


def _state(client: FlaskClient, sessions: Sessions, case_id: str) -> dict[str, Any]:
    """Everything a refused submission must leave untouched."""
    with transaction(sessions) as session:
        row = session.get(ProcessInstance, case_id)
        assert row is not None
        audit = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.instance_id == case_id))
        submissions = session.scalar(select(func.count()).select_from(FormSubmission))
        stored = (row.version, row.audit_head, bytes(row.engine_state))
    return {"tasks": sorted((t["id"], t["taskDefinitionKey"]) for t in open_tasks(client, case_id)),
            "variables": instance_variables(client, case_id), "history": len(activities(client, case_id)),
            "audit": audit, "submissions": submissions, "row": stored}


def _problem(response: Any, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"
    return response.get_json()  # type: ignore[no-any-return]


def test_a_submission_with_bad_values_is_refused_with_each_field_named_in_chinese_and_the_case_unchanged(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> None:
    case_id = restaurant_at_review(client, run_in_tx)
    task = task_by_key(client, case_id, "task_fire_safety")
    before = _state(client, sessions, case_id)

    bad = {"fire_safety_decision": "maybe", "fire_safety_opinion": "x" * 2001, "fire_safety_permit_no": 12,
           "favourite_colour": "red"}
    problem = _problem(client.post(f"/api/tasks/{task['id']}/submit", json={"values": bad}))
    assert problem["code"] == "form.validation_failed"
    errors = {e["field"]: e for e in problem["errors"]}
    assert set(errors) == {"favourite_colour", "fire_safety_decision", "fire_safety_opinion", "fire_safety_permit_no"}
    assert errors["fire_safety_decision"]["label"] == "审批决定"
    assert errors["fire_safety_decision"]["message"] == (
        "「审批决定」的值“maybe”不是可选项（可选：准予（同意）、不予批准、需补正材料）")
    assert errors["fire_safety_opinion"]["message"] == "「审批意见」最多 2000 个字符"
    assert "favourite_colour" in errors["favourite_colour"]["message"]
    assert "表单校验未通过" in problem["message_zh"]
    # The permit number is hidden unless the decision is "approve" (conditional.hide): with "maybe" it
    # is not shown, so its value is refused as not applicable rather than checked as a text.
    assert errors["fire_safety_permit_no"]["message"] == (
        "「消防安全检查合格证文号」按当前填写内容不适用（表单已隐藏该字段），不能填写")

    approve = {"fire_safety_decision": "approve", "fire_safety_opinion": "合格", "fire_safety_permit_no": 12}
    problem = _problem(client.post(f"/api/tasks/{task['id']}/submit", json={"values": approve}))
    assert problem["errors"] == [{"field": "fire_safety_permit_no", "label": "消防安全检查合格证文号",
                                  "message": "「消防安全检查合格证文号」应为文本"}]

    missing = {"fire_safety_decision": "approve", "fire_safety_opinion": "合格"}
    problem = _problem(client.post(f"/api/tasks/{task['id']}/submit", json={"values": missing}))
    assert problem["errors"] == [{"field": "fire_safety_permit_no", "label": "消防安全检查合格证文号",
                                  "message": "「消防安全检查合格证文号」为必填项"}]
    assert _state(client, sessions, case_id) == before


def test_intake_values_are_checked_for_type_pattern_range_and_date(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> None:
    run_in_tx(seed_bundles, ROOT / "bpmn")
    case_id = start(client, "restaurant_opening", {"inspection_departments": DEPARTMENTS})["id"]
    intake = task_by_key(client, case_id, "task_intake")
    before = _state(client, sessions, case_id)
    values = sample("restaurant-intake", applicant_id_number="63010219880101123", applicant_phone="12345678901",
                    business_area=0, seat_count="四十", enterprise_name="X", apply_health_certificate="yes",
                    intake_decision="accept")
    values.pop("intake_opinion")
    problem = _problem(client.post(f"/api/tasks/{intake['id']}/submit", json={"values": values}))
    messages = {e["field"]: e["message"] for e in problem["errors"]}
    assert messages == {
        "enterprise_name": "「企业名称」至少 2 个字符",
        "business_area": "「经营场所面积（平方米）」不能小于 1",
        "seat_count": "「餐位数」应为数字",
        "applicant_id_number": "「经办人公民身份号码」至少 18 个字符",
        "applicant_phone": "「联系电话（手机）」格式不正确",
        "apply_health_certificate": "「同时办理从业人员健康证明」应为是或否（true / false）",
        "intake_opinion": "「受理意见」为必填项",
    }, messages
    assert [e["field"] for e in problem["errors"]] == [  # in the order of the form
        "enterprise_name", "business_area", "seat_count", "applicant_id_number", "applicant_phone",
        "apply_health_certificate", "intake_opinion"]
    assert _state(client, sessions, case_id) == before


def test_camunda_complete_and_submit_form_check_lianban_forms_too(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> None:
    case_id = restaurant_at_review(client, run_in_tx)
    task = task_by_key(client, case_id, "task_signboard")
    before = _state(client, sessions, case_id)
    for path in ("complete", "submit-form"):
        body = {"variables": typed({"signboard_decision": "approve", "signboard_opinion": "同意"})}
        problem = _problem(client.post(f"/engine-rest/task/{task['id']}/{path}", json=body))
        assert problem["errors"] == [{"field": "signboard_permit_no", "label": "户外招牌设置许可文号",
                                      "message": "「户外招牌设置许可文号」为必填项"}]
        assert problem["message"].startswith("Form validation failed")  # Camunda clients read `message`
    assert _state(client, sessions, case_id) == before
    body = {"variables": typed(decision("restaurant-signboard", "approve"))}
    assert client.post(f"/engine-rest/task/{task['id']}/submit-form", json=body).status_code == 204
    assert "task_signboard" not in [t["taskDefinitionKey"] for t in open_tasks(client, case_id)]


def test_a_decision_is_never_taken_without_a_reason_and_is_audited_with_it(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> None:
    case_id = restaurant_at_review(client, run_in_tx)
    task = task_by_key(client, case_id, "task_food_license")
    for blank in ("", "   ", "\n\t"):
        values = {"food_license_decision": "reject", "food_license_opinion": blank}
        problem = _problem(client.post(f"/api/tasks/{task['id']}/submit", json={"values": values}))
        assert [e["field"] for e in problem["errors"]] == ["food_license_opinion"]
    values = decision("restaurant-food-license", "reject", reason="经营场所与食品安全要求不符：无独立更衣室")
    response = client.post(f"/api/tasks/{task['id']}/submit", json={"values": values})
    assert response.status_code == 200, response.get_json()
    assert "food_license_no" not in values  # hidden for a rejection, so not submitted
    with transaction(sessions) as session:
        decided = session.scalars(select(AuditEvent).where(AuditEvent.instance_id == case_id,
                                                           AuditEvent.event_type == "task.decided")).all()
        assert [(e.payload["field"], e.payload["value"], e.payload["value_label"], e.payload["reason"])
                for e in decided if e.payload["task_id"] == task["id"]] == [
            ("food_license_decision", "reject", "不予批准", "经营场所与食品安全要求不符：无独立更衣室")]
        (submission,) = session.scalars(select(FormSubmission).where(FormSubmission.task_id == task["id"])).all()
        assert submission.values == values and submission.activity_id == "task_food_license"


def test_the_form_is_served_with_the_data_it_needs_and_a_draft_survives_until_submission(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> None:
    case_id = restaurant_at_review(client, run_in_tx)
    task = task_by_key(client, case_id, "task_fire_safety")
    served = client.get(f"/api/tasks/{task['id']}/form")
    assert served.status_code == 200, served.get_json()
    body = served.get_json()
    assert body["form_key"] == "lianban:restaurant-fire-safety" and body["draft"] is None
    assert [c.get("key") for c in body["schema"]["components"]][1:] == [
        "fire_safety_decision", "fire_safety_opinion", "fire_safety_permit_no"]
    assert body["data"]["business_address"] == "西宁市城西区五四大街 1 号"
    assert body["hidden"] == ["fire_safety_permit_no"]  # no decision yet
    assert body["decisions"] == [{"field": "fire_safety_decision", "reason_field": "fire_safety_opinion"}]

    saved = client.put(f"/api/tasks/{task['id']}/draft",
                       json={"values": {"fire_safety_decision": "approve", "fire_safety_opinion": "通道畅通"}})
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["problems"] == [{"field": "fire_safety_permit_no", "label": "消防安全检查合格证文号",
                                             "message": "「消防安全检查合格证文号」为必填项"}]
    assert saved.get_json()["saved_at"].endswith("+08:00")  # shown in Asia/Shanghai
    again = client.get(f"/api/tasks/{task['id']}/form").get_json()
    assert again["draft"]["values"] == {"fire_safety_decision": "approve", "fire_safety_opinion": "通道畅通"}
    assert again["hidden"] == []
    assert client.get(f"/api/tasks/{task['id']}/draft").get_json()["values"]["fire_safety_opinion"] == "通道畅通"

    refused = _problem(client.put(f"/api/tasks/{task['id']}/draft", json={"values": {"is_admin": True}}))
    assert refused["code"] == "form.draft_invalid" and refused["field"] == "is_admin"
    assert _problem(client.put(f"/api/tasks/{task['id']}/draft", json={"values": ["x"]}))["field"] == "values"

    response = client.post(f"/api/tasks/{task['id']}/submit",
                           json={"values": decision("restaurant-fire-safety", "approve")})
    assert response.status_code == 200 and response.get_json()["instance_state"] == "ACTIVE"
    with transaction(sessions) as session:
        assert session.get(FormDraft, task["id"]) is None
    assert _problem(client.get(f"/api/tasks/{task['id']}/form"), 409)["code"] == "task.not_open"
    assert _problem(client.post(f"/api/tasks/{task['id']}/submit", json={"values": {}}), 409)["code"] == \
        "task.not_open"


def test_unknown_tasks_and_tasks_without_a_lianban_form_are_clear_errors(client: FlaskClient) -> None:
    assert _problem(client.get("/api/tasks/no-such-task/form"), 404)["code"] == "resource.not_found"
    from tests.conftest import COVERAGE_DIR
    from tests.helpers import deploy_paths

    deploy_paths(client, COVERAGE_DIR / "exclusive_gateway.bpmn")
    definitions = client.get("/engine-rest/process-definition").get_json()
    case_id = start(client, definitions[0]["key"], {"amount": 10, "kind": "E"})["id"]
    (task, *_) = open_tasks(client, case_id)
    assert _problem(client.get(f"/api/tasks/{task['id']}/form"), 404)["code"] == "form.none"
    assert _problem(client.post(f"/api/tasks/{task['id']}/submit", data="{", content_type="application/json"),
                    400)["field"] == "body"


def test_a_manual_entry_task_is_served_drafted_and_submitted_through_the_same_routes(
        client: FlaskClient, sessions: Sessions, tmp_path: Any, monkeypatch: Any) -> None:
    """二次录入 tasks build their form from the topic and check it themselves (services/manual_entry.py)."""
    from tests.api.test_manual_entry import MANUAL_SAMR, _start_case

    path = tmp_path / "connectors.json"
    path.write_text(json.dumps({"connectors": {"samr.issue_licence": MANUAL_SAMR}}, ensure_ascii=False),
                    encoding="utf-8")
    monkeypatch.setenv("LIANBAN_CONNECTORS", str(path))
    instance_id, task_id = _start_case(client)
    served = client.get(f"/api/tasks/{task_id}/form").get_json()
    assert [c.get("key") for c in served["schema"]["components"]][-3:] == ["licence_number", "issued_on",
                                                                            "capital_wan"]
    assert served["manual_entry"]["system"] == "市场监管局企业登记注册系统"
    assert client.put(f"/api/tasks/{task_id}/draft", json={"values": {"licence_number": "SAMR-12"}}).status_code == 200
    assert _problem(client.put(f"/api/tasks/{task_id}/draft", json={"values": {"x": 1}}))["field"] == "x"
    refused = _problem(client.post(f"/api/tasks/{task_id}/submit", json={"values": {"licence_number": "SAMR-12"}}))
    assert refused["code"] == "manual_entry.invalid"
    done = client.post(f"/api/tasks/{task_id}/submit",
                       json={"values": {"licence_number": "SAMR-123456", "issued_on": "2026-11-30"}})
    assert done.status_code == 200, done.get_json()
    assert instance_variables(client, instance_id)["licence_number"] == "SAMR-123456"
    with transaction(sessions) as session:
        assert session.get(FormDraft, task_id) is None


def test_who_may_see_fill_and_submit_a_form_and_who_reads_id_numbers_in_clear(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any, client_as: Any) -> None:
    case_id = restaurant_at_review(client, run_in_tx)
    task = task_by_key(client, case_id, "task_fire_safety")
    fire = client_as("reviewer", departments=["dept-fire-rescue"], username="fire-reviewer")
    urban = client_as("reviewer", departments=["dept-urban-management"], username="urban-reviewer")
    supervisor = client_as("supervisor", departments=["dept-fire-rescue"], username="supervisor-zhou")

    assert _problem(urban.get(f"/api/tasks/{task['id']}/form"), 403)["code"] == "auth.forbidden"
    assert _problem(urban.post(f"/api/tasks/{task['id']}/submit", json={"values": {}}), 403)["code"] == \
        "auth.forbidden"
    assert _problem(supervisor.put(f"/api/tasks/{task['id']}/draft", json={"values": {}}), 403)["code"] == \
        "auth.forbidden"  # supervisors read, they do not fill in

    masked = supervisor.get(f"/api/tasks/{task['id']}/form")
    assert masked.status_code == 200, masked.get_json()
    assert masked.get_json()["data"]["applicant_id_number"] == "6301**********1234"
    refused = supervisor.get(f"/api/tasks/{task['id']}/form?unmask=true")
    assert _problem(refused, 403)["code"] == "pii.unmask_denied"  # a supervisor has no need for the number
    assert fire.get(f"/api/tasks/{task['id']}/form").get_json()["data"]["applicant_id_number"] == \
        "6301**********1234"  # masked until the reviewer asks
    clear = fire.get(f"/api/tasks/{task['id']}/form?unmask=true").get_json()
    assert clear["data"]["applicant_id_number"] == "630102198801011234"
    with transaction(sessions) as session:
        viewed = session.scalars(select(AuditEvent).where(AuditEvent.event_type == "pii.viewed")).all()
        assert [(e.actor, e.payload["instance_id"], e.payload["variables"], e.payload["via"]) for e in viewed] == [
            ("fire-reviewer", case_id, ["applicant_id_number"], "task form")]

    response = fire.post(f"/api/tasks/{task['id']}/submit",
                         json={"values": decision("restaurant-fire-safety", "approve")})
    assert response.status_code == 200, response.get_json()
    with transaction(sessions) as session:
        (decided,) = [e for e in session.scalars(select(AuditEvent).where(AuditEvent.event_type == "task.decided"))
                      if e.payload["task_id"] == task["id"]]
        assert decided.actor == "fire-reviewer"
