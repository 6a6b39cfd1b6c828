"""Step limits (环节时限) and escalation on the controllable clock: every moment is set, nothing sleeps.

Diagram tests/bpmn/timelimits/step-limits.bpmn: 部门审查 (`statutory_limit_days` 2, group dept-a) then 签发
(`camunda:dueDate="${workdays(1)}"`, group dept-lead); the bundle's statutory limit is 5 working days, lead
department dept-lead. Accepted on Friday 2026-10-09: day 1 is the make-up Saturday 10-10, day 2 Monday 10-12.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import timesource
from orchestrator.db import transaction
from orchestrator.models import AuditEvent, HumanTask, Notification, SupervisionItem
from orchestrator.services import cases, clock, step_limits, supervision_reports
from orchestrator.services.audit import verify_chain
from orchestrator.services.definitions import deploy
from orchestrator.workcalendar import SHANGHAI

DIAGRAM = Path(__file__).resolve().parents[1] / "bpmn" / "timelimits" / "step-limits.bpmn"


def shanghai(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=SHANGHAI)


def start_at(sessions: sessionmaker[Session], moment: datetime) -> str:
    timesource.set_now(moment)
    with transaction(sessions) as session:
        deploy(session, {"step-limits.bpmn": DIAGRAM.read_bytes()})
    with transaction(sessions) as session:
        return cases.start_case(session, key="step_limits", actor="窗口").id


def open_step(sessions: sessionmaker[Session], instance_id: str) -> HumanTask:
    with transaction(sessions) as session:
        return session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                       HumanTask.state == "CREATED")).one()


def scan_at(sessions: sessionmaker[Session], moment: datetime) -> int:
    timesource.set_now(moment)
    return step_limits.scan(sessions)


def event_types(sessions: sessionmaker[Session], instance_id: str) -> list[str]:
    with transaction(sessions) as session:
        return list(session.scalars(select(AuditEvent.event_type).where(AuditEvent.instance_id == instance_id)
                                    .order_by(AuditEvent.id)))


def complete_at(sessions: sessionmaker[Session], moment: datetime, task_id: str) -> None:
    timesource.set_now(moment)
    with transaction(sessions) as session:
        cases.complete_task(session, task_id, {}, "审查员")


def test_a_step_limit_counts_working_days_from_the_day_the_step_was_created(sessions: sessionmaker[Session]) -> None:
    instance_id = start_at(sessions, shanghai(10, 9, 10))
    review = open_step(sessions, instance_id)
    assert (review.limit_days, review.limit_state, review.department) == (2, "NORMAL", "dept-a")
    assert review.due == shanghai(10, 12, 23, 59, 59)  # the make-up Saturday 10-10 is day 1
    assert review.warn_at == shanghai(10, 12)  # warned from the start of the last day (LIANBAN_WARN_WORKDAYS=1)


def test_a_step_turns_yellow_then_red_once_each_and_escalates_to_a_supervision_item(
        sessions: sessionmaker[Session]) -> None:
    instance_id = start_at(sessions, shanghai(10, 9, 10))
    review = open_step(sessions, instance_id)

    assert scan_at(sessions, shanghai(10, 11, 23, 59, 59)) == 0
    assert scan_at(sessions, shanghai(10, 12)) == 1
    assert open_step(sessions, instance_id).limit_state == "WARNING"
    assert scan_at(sessions, shanghai(10, 12, 23, 59, 59)) == 0  # still within the limit
    assert scan_at(sessions, shanghai(10, 13, 0, 0, 0)) == 1
    assert open_step(sessions, instance_id).limit_state == "OVERDUE"
    assert scan_at(sessions, shanghai(10, 14)) == 0  # each transition fires once

    types = event_types(sessions, instance_id)
    assert types.count("step.warning") == 1 and types.count("step.overdue") == 1
    assert types.index("step.warning") < types.index("step.overdue") < types.index("supervision.item_opened")
    with transaction(sessions) as session:
        item = session.scalars(select(SupervisionItem)).one()
        assert (item.scope, item.task_id, item.department, item.status) == ("step", review.id, "dept-a", "OPEN")
        assert item.limit_deadline == review.due
        assert item.deadline == shanghai(10, 16, 23, 59, 59)  # its own deadline: 3 working days
        notified = {(n.kind, n.recipient) for n in session.scalars(select(Notification))}
        assert notified == {("step.warning", "group:dept-a"), ("step.overdue", "group:dept-a"),
                            ("step.overdue", "role:supervisor"), ("step.overdue", "head:dept-a")}
        assert verify_chain(session, instance_id) is None


def test_ending_a_step_stops_its_limit_and_records_whether_it_was_on_time(sessions: sessionmaker[Session]) -> None:
    instance_id = start_at(sessions, shanghai(10, 9, 10))
    review = open_step(sessions, instance_id)
    scan_at(sessions, shanghai(10, 13, 9))
    complete_at(sessions, shanghai(10, 13, 10), review.id)

    sign = open_step(sessions, instance_id)
    assert sign.activity_id == "sign"
    # ${workdays(1)} on the controlled clock: created on Tuesday 10-13, due at the end of Wednesday 10-14
    assert sign.due == shanghai(10, 14, 23, 59, 59) and sign.limit_days == 1
    complete_at(sessions, shanghai(10, 14, 9), sign.id)

    with transaction(sessions) as session:
        rows = {t.activity_id: t
                for t in session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id))}
        assert {a: t.limit_state for a, t in rows.items()} == {"review": "STOPPED", "sign": "STOPPED"}
        stopped = [e.payload for e in session.scalars(select(AuditEvent).where(
            AuditEvent.instance_id == instance_id, AuditEvent.event_type == "step.stopped").order_by(AuditEvent.id))]
        assert [(p["activity_id"], p["on_time"]) for p in stopped] == [("review", False), ("sign", True)]
        rates = supervision_reports.on_time_rate(session, None, None)
        assert rates["steps"]["by_department"] == [
            {"department": "dept-a", "on_time": 0, "total": 1, "rate": 0.0},
            {"department": "dept-lead", "on_time": 1, "total": 1, "rate": 1.0}]
        assert rates["cases"]["by_bundle"] == [{"bundle": "step_limits", "on_time": 1, "total": 1, "rate": 1.0}]
        assert rates["cases"]["by_department"][0]["department"] == "dept-lead"


def test_a_paused_case_holds_its_steps_and_a_resume_moves_them_by_the_paused_working_days(
        sessions: sessionmaker[Session]) -> None:
    instance_id = start_at(sessions, shanghai(10, 9, 10))
    with transaction(sessions) as session:
        clock.pause(session, instance_id, "expert_review", "专家评审", "审查员", now=shanghai(10, 12, 10))
    assert scan_at(sessions, shanghai(10, 13, 0, 0, 1)) == 0  # would be overdue, but the clock is stopped
    assert open_step(sessions, instance_id).limit_state == "NORMAL"

    timesource.set_now(shanghai(10, 14, 10))
    with transaction(sessions) as session:
        described = clock.resume(session, instance_id, "审查员", now=shanghai(10, 14, 10))
    [case_clock] = described["clocks"]
    assert case_clock["paused_workdays"] == 2  # Monday 10-12 and Tuesday 10-13
    review = open_step(sessions, instance_id)
    assert review.due == shanghai(10, 14, 23, 59, 59)  # 10-12 moved by the same 2 working days
    assert review.limit_days == 4 and review.limit_state == "WARNING"
    assert case_clock["deadline"] == shanghai(10, 19, 23, 59, 59).isoformat()  # 10-15 moved by 2: Mon 10-19
    assert "step.deadline_moved" in event_types(sessions, instance_id)
    assert scan_at(sessions, shanghai(10, 15, 0, 0, 1)) == 1
    assert open_step(sessions, instance_id).limit_state == "OVERDUE"


def test_a_case_clock_that_passes_its_deadline_notifies_the_lead_department_and_opens_an_item(
        sessions: sessionmaker[Session]) -> None:
    instance_id = start_at(sessions, shanghai(10, 9, 10))
    timesource.set_now(shanghai(10, 16, 0, 0, 1))  # the 5-day statutory limit ended with Thursday 10-15
    assert clock.scan(sessions) >= 1
    with transaction(sessions) as session:
        item = session.scalars(select(SupervisionItem).where(SupervisionItem.scope == "case")).one()
        assert (item.instance_id, item.department, item.bundle) == (instance_id, "dept-lead", "step_limits")
        recipients = set(session.scalars(select(Notification.recipient).where(Notification.kind == "case.overdue")))
        assert recipients == {"role:supervisor", "head:dept-lead"}
    assert "supervision.item_opened" in event_types(sessions, instance_id)


def test_terminating_a_case_stops_its_open_steps(sessions: sessionmaker[Session], run_in_tx: Any) -> None:
    instance_id = start_at(sessions, shanghai(10, 9, 10))
    run_in_tx(cases.terminate_case, instance_id, "撤回申请", "窗口")
    with transaction(sessions) as session:
        review = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).one()
        assert (review.state, review.limit_state) == ("CANCELED", "STOPPED")
    assert "step.stopped" in event_types(sessions, instance_id)
