"""Start, intermediate and end events; script, external and receive tasks."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.models import ProcessInstance
from orchestrator.services.cases import load_case
from tests.conftest import COVERAGE_DIR
from tests.coverage.case import Case, deploy_coverage
from tests.helpers import deploy, typed

Sessions = sessionmaker[Session]


def thrown_messages(sessions: Sessions, case: Case) -> list[tuple[str, dict[str, Any]]]:
    with transaction(sessions) as session:
        runtime = load_case(session, case.id, for_change=False).runtime
        return [(m.name, m.variables) for m in runtime.thrown_messages()]


def test_an_error_end_event_in_a_called_process_is_caught_on_the_call_activity(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "error_end_event")
    failing = Case.start(client, sessions, "error_end_event", {"case_no": "X1"})
    assert failing.ready() == ["task_child"]
    failing.complete("task_child", {"fail": True})
    assert failing.ready() == ["task_handle_error"]
    failing.complete("task_handle_error")
    assert failing.state() == "COMPLETED" and failing.completed("end_handled") == 1
    assert failing.canceled("call_child") == 1

    passing = Case.start(client, sessions, "error_end_event", {"case_no": "X2"})
    passing.complete("task_child", {"fail": False, "child_result": "ok"})
    assert passing.ready() == ["task_after"]
    assert passing.variables_at("task_after")["child_result"] == "ok"
    passing.complete("task_after")
    assert passing.state() == "COMPLETED" and passing.completed("end") == 1


def test_a_message_end_event_ends_like_a_none_end_event_and_keeps_the_message_for_publishing(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "message_end_event")
    case = Case.start(client, sessions, "message_end_event")
    case.complete("task_close", {"result": "done"})
    assert case.state() == "COMPLETED" and case.completed("end_message") == 1
    assert thrown_messages(sessions, case) == [("case_closed", {"result": "done"})]


def test_an_intermediate_message_throw_reaches_nothing_inside_the_engine(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "message_intermediate_throw")
    case = Case.start(client, sessions, "message_intermediate_throw")
    case.complete("task_prepare", {"notice": "已通知"})
    assert case.completed("throw_notice") == 1 and case.completed("end_a") == 1
    # Camunda 7 delivers nothing for a throw without implementation, not even to this case's catch.
    assert case.state() == "ACTIVE" and case.subscriptions() == ["notice_sent"]
    assert thrown_messages(sessions, case) == [("notice_sent", {"notice": "已通知"})]
    assert case.send("notice_sent").status_code == 204
    assert case.state() == "COMPLETED"


def test_a_signal_end_event_is_caught_by_the_waiting_signal_catch(client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "signal_end_event")
    case = Case.start(client, sessions, "signal_end_event")
    assert case.ready() == ["task_a"]
    case.complete("task_a")
    assert case.ready() == ["task_after_signal"]
    case.complete("task_after_signal")
    assert case.state() == "COMPLETED" and case.completed("end_signal") == 1 and case.completed("end_b") == 1


def test_an_intermediate_signal_throw_is_caught_and_passes_its_variables(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "signal_intermediate_throw")
    case = Case.start(client, sessions, "signal_intermediate_throw")
    case.complete("task_a", {"checked_by": "王五"})
    assert case.ready() == ["task_after_signal", "task_b"]
    assert case.task_data("task_after_signal")["checked_by"] == "王五"  # <camunda:in variables="all"/>
    case.complete("task_b")
    case.complete("task_after_signal")
    assert case.state() == "COMPLETED"


def test_a_terminate_end_event_ends_the_case_and_cancels_the_other_branch(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "terminate_end_event")
    case = Case.start(client, sessions, "terminate_end_event")
    assert case.ready() == ["task_a", "task_b"]
    case.complete("task_a")
    assert case.ready() == [] and case.state() == "COMPLETED"
    assert case.canceled("task_b") == 1 and "end_b" not in case.history()


def test_a_script_task_computes_in_the_sandbox(client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "script_task")
    case = Case.start(client, sessions, "script_task", {"price": 12.5, "quantity": 4})
    assert case.ready() == ["task_check"]
    assert case.variables_at("task_check")["total"] == 50.0
    case.complete("task_check")
    assert case.state() == "COMPLETED"


def test_a_script_task_that_tries_to_leave_the_sandbox_is_refused_without_a_case(
        client: FlaskClient, sessions: Sessions) -> None:
    original = (COVERAGE_DIR / "script_task.bpmn").read_text(encoding="utf-8")
    escaping = original.replace('id="script_task"', 'id="script_task_escape"')
    assert "total = price * quantity" in escaping
    escaping = escaping.replace("total = price * quantity", "total = ().__class__.__base__.__subclasses__()")
    deploy(client, {"script_task_escape.bpmn": escaping.encode("utf-8")})
    response = client.post("/engine-rest/process-definition/key/script_task_escape/start",
                           json={"variables": typed({"price": 1, "quantity": 1})})
    assert response.status_code in (400, 422) and response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"].startswith("expression.") and problem["element_id"] == "script_total"
    with transaction(sessions) as session:
        assert session.scalars(select(ProcessInstance.id)).all() == []


def test_an_external_task_is_completed_by_a_department_system(client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "external_service_task")
    case = Case.start(client, sessions, "external_service_task", {"case_no": "X"})
    [job] = case.jobs()
    assert case.ready() == ["service_call"] and job.topic == "demo.topic"
    case.complete_job("service_call", {"result": "ok"})
    assert case.ready() == ["task_after"]
    assert case.variables_at("task_after")["result"] == "ok"
    case.complete("task_after")
    assert case.state() == "COMPLETED" and case.completed("end") == 1


def test_a_bpmn_error_from_an_external_task_is_caught_by_its_boundary_event(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "external_service_task")
    case = Case.start(client, sessions, "external_service_task", {"case_no": "Y"})
    assert not case.report_bpmn_error("service_call", "OTHER_ERROR")
    assert case.ready() == ["service_call"]
    assert case.report_bpmn_error("service_call", "DEMO_ERROR", {"error_detail": "部门系统拒绝"})
    assert case.ready() == ["task_handle_error"]
    assert case.variables_at("task_handle_error")["error_detail"] == "部门系统拒绝"
    case.complete("task_handle_error")
    assert case.state() == "COMPLETED" and case.completed("end_error") == 1


def test_an_intermediate_timer_waits_until_it_is_due(client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "intermediate_timer")
    case = Case.start(client, sessions, "intermediate_timer")
    assert case.ready() == [] and case.state() == "ACTIVE"
    [timer] = case.timers()
    assert timer.activity_id == "timer_wait"
    case.fire_timers(after=1.2)
    assert case.ready() == ["task_after"] and case.timers() == []
    case.complete("task_after")
    assert case.state() == "COMPLETED"


def test_an_intermediate_message_catch_merges_the_message_variables(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "intermediate_message_catch")
    case = Case.start(client, sessions, "intermediate_message_catch")
    assert case.send("other_message").status_code == 400
    assert case.send("documents_supplied", {"documents": ["身份证"]}).status_code == 204
    assert case.ready() == ["task_after"]
    assert case.variables_at("task_after")["documents"] == ["身份证"]
    case.complete("task_after")
    assert case.state() == "COMPLETED"


def test_a_receive_task_merges_the_message_variables(client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "receive_task")
    case = Case.start(client, sessions, "receive_task")
    assert case.ready() == [] and case.subscriptions() == ["payment_confirmed"]
    case.send("payment_confirmed", {"amount": 380})
    assert case.ready() == ["task_after"]
    assert case.variables_at("task_after")["amount"] == 380
    case.complete("task_after")
    assert case.state() == "COMPLETED"


def test_a_message_start_event_starts_a_new_case_for_each_message(client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "message_start_event")
    for applicant in ("张三", "李四"):
        response = client.post("/engine-rest/message", json={
            "messageName": "application_submitted", "businessKey": f"BK-{applicant}",
            "processVariables": typed({"applicant": applicant}), "resultEnabled": True})
        assert response.status_code == 200, response.get_json()
        [result] = response.get_json()
        case = Case(client, sessions, result["processInstance"]["id"], f"BK-{applicant}")
        assert case.ready() == ["task_review"]
        assert case.variables_at("task_review")["applicant"] == applicant
        case.complete("task_review")
        assert case.state() == "COMPLETED" and case.completed("start_message") == 1
