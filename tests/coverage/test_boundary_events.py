"""Boundary events: timer, message, error and escalation; interrupting and not."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from tests.coverage.case import Case, deploy_coverage

Sessions = sessionmaker[Session]


def test_an_interrupting_timer_boundary_cancels_the_task_when_due(client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "boundary_timer_interrupting")
    late = Case.start(client, sessions, "boundary_timer_interrupting")
    early = Case.start(client, sessions, "boundary_timer_interrupting")
    [timer] = late.timers()
    assert timer.activity_id == "boundary_timeout" and timer.kind == "duration"
    early.complete("task_wait")
    assert early.state() == "COMPLETED" and early.timers() == [] and early.completed("end") == 1

    assert late.fire_timers(after=1.0) == 0
    assert late.ready() == ["task_wait"]
    late.fire_timers(after=1.2)
    assert late.ready() == ["task_timeout"]
    assert late.canceled("task_wait") == 1
    late.complete("task_timeout")
    assert late.state() == "COMPLETED" and late.completed("end_timeout") == 1


def test_a_non_interrupting_timer_boundary_adds_a_reminder_once(client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "boundary_timer_non_interrupting")
    reminder_first = Case.start(client, sessions, "boundary_timer_non_interrupting")
    task_first = Case.start(client, sessions, "boundary_timer_non_interrupting")
    quick = Case.start(client, sessions, "boundary_timer_non_interrupting")
    quick.complete("task_wait")
    assert quick.state() == "COMPLETED" and quick.timers() == []

    reminder_first.fire_timers(after=2.2)
    reminder_first.fire_timers()  # a duration fires once
    for case in (reminder_first, task_first):
        assert case.ready() == ["task_reminder", "task_wait"] and case.timers() == []

    reminder_first.complete("task_reminder")
    reminder_first.complete("task_wait")
    assert reminder_first.state() == "COMPLETED"

    task_first.complete("task_wait")
    assert task_first.ready() == ["task_reminder"] and task_first.state() == "ACTIVE"
    task_first.complete("task_reminder")
    assert task_first.state() == "COMPLETED"


def test_a_timer_cycle_boundary_repeats_and_its_reminders_outlive_the_task(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "timer_cycle")
    full = Case.start(client, sessions, "timer_cycle")
    stopped = Case.start(client, sessions, "timer_cycle")
    [timer] = full.timers()
    assert timer.kind == "cycle"

    full.fire_timers(after=1.1)
    assert stopped.ready() == ["task_reminder", "task_wait"]
    stopped.complete("task_wait")  # two repetitions left: the cycle stops, its reminder stays
    assert stopped.ready() == ["task_reminder"] and stopped.timers() == [] and stopped.state() == "ACTIVE"

    full.fire_timers(after=2.0)
    full.fire_timers()
    full.fire_timers()
    assert full.ready() == ["task_reminder"] * 3 + ["task_wait"]
    assert full.timers() == []  # R3: three repetitions, then nothing
    assert stopped.ready() == ["task_reminder"]

    full.complete("task_wait")
    assert full.ready() == ["task_reminder"] * 3 and full.state() == "ACTIVE"
    for reminder in full.tasks("task_reminder"):
        full.complete("task_reminder", id=reminder["id"])
    assert full.state() == "COMPLETED"
    stopped.complete("task_reminder")
    assert stopped.state() == "COMPLETED"


def test_an_interrupting_message_boundary_cancels_the_task(client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "boundary_message_interrupting")
    case = Case.start(client, sessions, "boundary_message_interrupting")
    assert case.subscriptions() == ["withdraw_request"]
    assert case.send("withdraw_request", {"reason": "不再需要"}).status_code == 204
    assert case.ready() == ["task_withdrawn"]
    assert case.variables_at("task_withdrawn")["reason"] == "不再需要"
    assert case.subscriptions() == []
    case.complete("task_withdrawn")
    assert case.state() == "COMPLETED" and case.completed("end_withdrawn") == 1
    assert case.canceled("task_wait") == 1


def test_a_non_interrupting_message_boundary_catches_every_message_while_the_task_runs(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "boundary_message_non_interrupting")
    case = Case.start(client, sessions, "boundary_message_non_interrupting")
    assert case.send("urge", {"urge_note": "请尽快办理"}).status_code == 204
    assert case.ready() == ["task_urge_ack", "task_wait"]
    assert case.send("urge", {"urge_note": "再次催办"}).status_code == 204
    assert case.ready() == ["task_urge_ack", "task_urge_ack", "task_wait"]
    assert case.variables_at("task_wait")["urge_note"] == "再次催办"
    case.complete("task_wait")
    assert case.subscriptions() == []  # the task ended: no more urging, but the acknowledgements stay
    assert case.ready() == ["task_urge_ack", "task_urge_ack"]
    assert case.send("urge").status_code == 400
    for ack in case.tasks("task_urge_ack"):
        case.complete("task_urge_ack", id=ack["id"])
    assert case.state() == "COMPLETED" and case.completed("end_urge_ack") == 2


def test_an_error_boundary_on_a_subprocess_catches_its_error_end_event(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "boundary_error")
    failing = Case.start(client, sessions, "boundary_error")
    failing.complete("task_inner", {"fail": True})
    assert failing.ready() == ["task_handle_error"]
    failing.complete("task_handle_error")
    assert failing.state() == "COMPLETED" and failing.completed("end_error_handled") == 1
    assert "task_after" not in failing.history() and failing.canceled("sub_check") == 1

    passing = Case.start(client, sessions, "boundary_error")
    passing.complete("task_inner", {"fail": False})
    assert passing.ready() == ["task_after"]
    passing.complete("task_after")
    assert passing.state() == "COMPLETED" and passing.completed("end") == 1


def test_a_non_interrupting_escalation_boundary_lets_the_subprocess_finish(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "boundary_escalation")
    escalated = Case.start(client, sessions, "boundary_escalation")
    escalated.complete("task_inner", {"escalate": True})
    assert escalated.ready() == ["task_after", "task_supervisor"]
    escalated.complete("task_supervisor")
    escalated.complete("task_after")
    assert escalated.state() == "COMPLETED" and escalated.completed("sub_work") == 1

    calm = Case.start(client, sessions, "boundary_escalation")
    calm.complete("task_inner", {"escalate": False})
    assert calm.ready() == ["task_after"]
    calm.complete("task_after")
    assert calm.state() == "COMPLETED" and "task_supervisor" not in calm.history()


def test_an_escalation_end_event_caught_by_an_interrupting_boundary_ends_the_subprocess(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "escalation_end_event")
    escalated = Case.start(client, sessions, "escalation_end_event")
    escalated.complete("task_inner", {"escalate": True})
    assert escalated.ready() == ["task_escalated"]
    escalated.complete("task_escalated")
    assert escalated.state() == "COMPLETED" and "task_after" not in escalated.history()

    calm = Case.start(client, sessions, "escalation_end_event")
    calm.complete("task_inner", {"escalate": False})
    assert calm.ready() == ["task_after"]
    calm.complete("task_after")
    assert calm.state() == "COMPLETED"


def test_a_non_interrupting_signal_boundary_catches_every_signal_of_the_case(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "boundary_signal_non_interrupting")
    case = Case.start(client, sessions, "boundary_signal_non_interrupting")
    assert case.ready() == ["task_ping", "task_wait"]
    case.complete("task_ping")
    assert case.ready() == ["task_ping_again", "task_remind", "task_wait"]
    case.complete("task_ping_again")
    assert case.ready() == ["task_remind", "task_remind", "task_wait"]
    case.complete("task_wait")  # passes the none intermediate throw event
    assert case.ready() == ["task_remind", "task_remind"] and case.completed("throw_done") == 1
    for remind in case.tasks("task_remind"):
        case.complete("task_remind", id=remind["id"])
    assert case.state() == "COMPLETED" and case.completed("end_remind") == 2
