"""Embedded sub-processes, call activities and event sub-processes (interrupting and not)."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from tests.coverage.case import Case, deploy_coverage

Sessions = sessionmaker[Session]


def test_an_embedded_subprocess_shares_the_variables_of_its_process(client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "embedded_subprocess")
    case = Case.start(client, sessions, "embedded_subprocess", {"x": 1})
    assert case.ready() == ["task_inner"]
    case.complete("task_inner", {"inner_result": "ok"})
    assert case.ready() == ["task_after"]
    at_after = case.variables_at("task_after")
    assert at_after["inner_result"] == "ok" and at_after["x"] == 1
    case.complete("task_after")
    assert case.state() == "COMPLETED"
    assert case.completed("sub_review") == 1 and case.completed("task_inner") == 1


def test_a_call_activity_passes_all_variables_in_and_out(client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "call_activity")
    case = Case.start(client, sessions, "call_activity", {"input_value": 21})
    assert case.ready() == ["task_called"]
    assert case.task_data("task_called")["input_value"] == 21
    case.complete("task_called", {"output_value": 42})
    assert case.ready() == ["task_after"]
    assert case.variables_at("task_after")["output_value"] == 42
    case.complete("task_after")
    assert case.state() == "COMPLETED" and case.completed("call_child") == 1


def test_a_call_activity_passes_only_the_mapped_variables(client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "call_activity_mapping")
    case = Case.start(client, sessions, "call_activity_mapping", {"applicant": "张三", "secret": "内部"})
    child = case.task_data("task_child")
    assert child["person"] == "张三" and "applicant" not in child and "secret" not in child
    case.complete("task_child", {"verdict": "同意", "scratch": 1})
    assert case.ready() == ["task_after"]
    after = case.task_data("task_after")
    assert after["child_verdict"] == "同意" and "verdict" not in after and "scratch" not in after
    assert after["applicant"] == "张三" and after["secret"] == "内部"


def test_an_interrupting_event_subprocess_cancels_the_main_flow(client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "event_subprocess_interrupting")
    case = Case.start(client, sessions, "event_subprocess_interrupting")
    assert case.ready() == ["task_main"] and case.subscriptions() == ["cancel_request"]
    assert case.send("cancel_request", {"reason": "withdrawn"}).status_code == 204
    assert case.ready() == ["task_handle_cancel"]
    assert case.variables_at("task_handle_cancel")["reason"] == "withdrawn"
    assert case.subscriptions() == []  # the event sub-process fired once; nothing listens any more
    case.complete("task_handle_cancel")
    assert case.state() == "COMPLETED"
    assert case.canceled("task_main") == 1 and case.completed("task_main") == 0
    assert case.completed("event_end") == 1 and case.completed("end") == 0


def test_an_event_subprocess_that_never_fires_does_not_keep_the_case_open(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "event_subprocess_interrupting")
    case = Case.start(client, sessions, "event_subprocess_interrupting")
    case.complete("task_main")
    assert case.state() == "COMPLETED" and case.completed("end") == 1
    assert case.subscriptions() == [] and "event_sub" not in case.history()
    assert case.send("cancel_request").status_code == 400


def test_a_non_interrupting_event_subprocess_runs_alongside_for_every_message(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "event_subprocess_non_interrupting")
    case = Case.start(client, sessions, "event_subprocess_non_interrupting")
    assert case.send("add_note", {"note": "补充说明"}).status_code == 204
    assert case.ready() == ["task_main", "task_note"]
    assert case.variables_at("task_main")["note"] == "补充说明"  # message variables are process variables
    assert case.send("add_note", {"note": "再次补充"}).status_code == 204
    assert case.ready() == ["task_main", "task_note", "task_note"]
    for note in case.tasks("task_note"):
        case.complete("task_note", id=note["id"])
    assert case.ready() == ["task_main"] and case.state() == "ACTIVE"
    case.complete("task_main", {"main_result": "done"})
    assert case.state() == "COMPLETED"
    final = case.variables()
    assert final["main_result"] == "done" and final["note"] == "再次补充"
    assert case.completed("event_sub") == 2


def test_a_non_interrupting_event_subprocess_keeps_the_case_open_until_it_ends(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "event_subprocess_non_interrupting")
    case = Case.start(client, sessions, "event_subprocess_non_interrupting")
    case.send("add_note", {"note": "补充说明"})
    case.complete("task_main")
    assert case.ready() == ["task_note"] and case.state() == "ACTIVE"
    assert case.subscriptions() == ["add_note"]  # the scope is still running, so it still listens
    case.complete("task_note", {"note_checked": True})
    assert case.state() == "COMPLETED" and case.variables()["note_checked"] is True


def test_timer_event_subprocesses_remind_without_interrupting_then_interrupt_at_the_deadline(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "event_subprocess_timer")
    case = Case.start(client, sessions, "event_subprocess_timer")
    assert sorted(t.activity_id for t in case.timers()) == ["deadline_start", "reminder_start"]
    case.fire_timers(after=1.2)
    assert case.ready() == ["task_main", "task_reminder"]
    assert [t.activity_id for t in case.timers()] == ["deadline_start"]
    case.fire_timers(after=1.0)
    assert case.ready() == ["task_deadline"]  # the deadline interrupts the main flow and the reminder
    assert case.timers() == []
    case.complete("task_deadline")
    assert case.state() == "COMPLETED"
    assert case.canceled("task_main") == 1 and case.canceled("task_reminder") == 1


def test_timer_event_subprocesses_are_removed_when_the_case_ends_first(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "event_subprocess_timer")
    case = Case.start(client, sessions, "event_subprocess_timer")
    case.complete("task_main")
    assert case.state() == "COMPLETED" and case.timers() == []


def test_an_error_event_subprocess_catches_what_no_boundary_event_catches(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "event_subprocess_error")
    case = Case.start(client, sessions, "event_subprocess_error")
    case.complete("task_inner", {"outcome": "fraud"})
    assert case.ready() == ["task_handle_error"]
    case.complete("task_handle_error")
    assert case.state() == "COMPLETED"
    assert case.canceled("sub_work") == 1 and "task_after" not in case.history()
    assert case.completed("error_end") == 1


def test_an_error_boundary_event_closer_to_the_error_wins_over_the_event_subprocess(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "event_subprocess_error")
    case = Case.start(client, sessions, "event_subprocess_error")
    case.complete("task_inner", {"outcome": "missing"})
    assert case.ready() == ["task_supplement"]
    case.complete("task_supplement")
    assert case.state() == "COMPLETED"
    assert "event_sub_error" not in case.history() and case.completed("end_supplemented") == 1


def test_without_an_error_the_error_event_subprocess_never_runs(client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "event_subprocess_error")
    case = Case.start(client, sessions, "event_subprocess_error")
    case.complete("task_inner", {"outcome": "ok"})
    assert case.ready() == ["task_after"]
    case.complete("task_after")
    assert case.state() == "COMPLETED" and "event_sub_error" not in case.history()


def test_a_non_interrupting_escalation_event_subprocess_runs_beside_the_main_flow(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "event_subprocess_escalation")
    case = Case.start(client, sessions, "event_subprocess_escalation")
    case.complete("task_main", {"escalate": True})
    assert case.ready() == ["task_after", "task_help"]
    assert case.task("task_help")["candidateGroups"] == ["supervisors"]
    case.complete("task_after")
    assert case.state() == "ACTIVE"
    case.complete("task_help")
    assert case.state() == "COMPLETED"

    quiet = Case.start(client, sessions, "event_subprocess_escalation")
    quiet.complete("task_main", {"escalate": False})
    assert quiet.ready() == ["task_after"]


def test_an_event_subprocess_of_a_subprocess_interrupts_only_that_subprocess(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "event_subprocess_in_subprocess")
    case = Case.start(client, sessions, "event_subprocess_in_subprocess")
    assert case.subscriptions() == ["withdraw_item"]
    case.send("withdraw_item", {"withdraw_reason": "申请人撤回"})
    assert case.ready() == ["task_withdrawn"]
    case.complete("task_withdrawn")
    assert case.ready() == ["task_after"]  # the sub-process ended through its event sub-process
    assert case.variables_at("task_after")["withdraw_reason"] == "申请人撤回"
    case.complete("task_after")
    assert case.state() == "COMPLETED" and case.canceled("task_inner") == 1


def test_a_signal_thrown_in_the_case_starts_an_interrupting_signal_event_subprocess(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "event_subprocess_signal")
    case = Case.start(client, sessions, "event_subprocess_signal")
    assert case.ready() == ["task_a", "task_b"]
    case.complete("task_b", {"stop": True})
    assert case.ready() == ["task_stopped"]
    assert case.canceled("task_a") == 1 and case.completed("throw_stop") == 1
    case.complete("task_stopped")
    assert case.state() == "COMPLETED" and case.completed("stop_end") == 1 and "end_a" not in case.history()

    quiet = Case.start(client, sessions, "event_subprocess_signal")
    quiet.complete("task_b", {"stop": False})
    quiet.complete("task_a")
    assert quiet.state() == "COMPLETED" and "event_sub_stop" not in quiet.history()
