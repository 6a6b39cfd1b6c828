"""The bundles show the time limit in the diagram: event sub-processes 时限预警 and 超期督办 whose timers read
the statutory clock (`${statutory_warn_at}`, `${statutory_deadline}`), so a pause, a resume or an extension
moves them, and the scheduler fires them on the controllable clock.

企业注销登记一件事: statutory limit 20 working days. Accepted on Friday 2026-10-09: day 1 is the make-up
Saturday 10-10; day 20 is Thursday 11-05 (warning from 00:00 that day).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import timesource
from orchestrator.db import transaction
from orchestrator.models import ActivityInstance, HumanTask, Timer
from orchestrator.scheduler import fire_due_timers
from orchestrator.services import cases, clock
from orchestrator.services.seed import seed_bundles
from orchestrator.workcalendar import SHANGHAI

BUNDLES = Path(__file__).resolve().parents[2] / "bpmn"


def shanghai(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=SHANGHAI)


def limit_timers(sessions: sessionmaker[Session], instance_id: str) -> dict[str, datetime]:
    with transaction(sessions) as session:
        rows = session.scalars(select(Timer).where(Timer.instance_id == instance_id))
        return {t.activity_id: t.due_at for t in rows if t.activity_id in ("start_limit_warning", "start_overdue")}


@pytest.fixture()
def accepted(sessions: sessionmaker[Session]) -> str:
    timesource.set_now(shanghai(10, 9, 10))
    with transaction(sessions) as session:
        seed_bundles(session, BUNDLES)
    with transaction(sessions) as session:
        return cases.start_case(session, key="company_deregistration", actor="窗口").id


def test_the_diagram_timers_are_due_when_the_statutory_clock_warns_and_runs_out(
        sessions: sessionmaker[Session], accepted: str) -> None:
    with transaction(sessions) as session:
        [statutory] = [c for c in clock.describe(session, accepted)["clocks"] if c["kind"] == "statutory"]
    assert statutory["deadline"] == shanghai(11, 5, 23, 59, 59).isoformat()
    assert limit_timers(sessions, accepted) == {"start_limit_warning": shanghai(11, 5),
                                                "start_overdue": shanghai(11, 5, 23, 59, 59)}


def test_a_pause_holds_the_diagram_timers_and_a_resume_or_extension_moves_them(
        sessions: sessionmaker[Session], accepted: str) -> None:
    with transaction(sessions) as session:
        clock.pause(session, accepted, "correction", "补正材料", "窗口", now=shanghai(10, 12, 10))
    assert {due.year for due in limit_timers(sessions, accepted).values()} == {9999}  # held while paused

    with transaction(sessions) as session:
        clock.resume(session, accepted, "窗口", now=shanghai(10, 14, 10))  # 2 paused working days: 10-12, 10-13
    assert limit_timers(sessions, accepted) == {"start_limit_warning": shanghai(11, 9),
                                                "start_overdue": shanghai(11, 9, 23, 59, 59)}

    with transaction(sessions) as session:
        clock.extend(session, accepted, 3, "区政府分管负责人", "联合办理，需现场核查", "窗口", now=shanghai(10, 15, 10))
    assert limit_timers(sessions, accepted) == {"start_limit_warning": shanghai(11, 12),
                                                "start_overdue": shanghai(11, 12, 23, 59, 59)}


def test_the_scheduler_fires_the_yellow_card_then_opens_the_supervision_task(
        sessions: sessionmaker[Session], accepted: str) -> None:
    timesource.set_now(shanghai(11, 4, 23, 59, 59))
    assert fire_due_timers(sessions) == 0
    timesource.set_now(shanghai(11, 5, 0, 0, 1))
    assert fire_due_timers(sessions) == 1
    with transaction(sessions) as session:
        entered = set(session.scalars(select(ActivityInstance.activity_id)
                                      .where(ActivityInstance.instance_id == accepted)))
        assert "event_yellow_card" in entered
        assert session.scalar(select(HumanTask).where(HumanTask.activity_id == "task_overdue_supervision")) is None

    timesource.set_now(shanghai(11, 6, 0, 0, 1))
    assert fire_due_timers(sessions) == 1
    with transaction(sessions) as session:
        supervision = session.scalars(select(HumanTask).where(
            HumanTask.instance_id == accepted, HumanTask.activity_id == "task_overdue_supervision")).one()
        assert supervision.candidate_groups == ["supervisor"] and supervision.form_key == "lianban:supervision"
        intake = session.scalars(select(HumanTask).where(HumanTask.instance_id == accepted,
                                                         HumanTask.activity_id == "task_intake")).one()
        assert intake.state == "CREATED"  # non-interrupting: the case's own work goes on
    with transaction(sessions) as session:
        cases.complete_task(session, supervision.id, {"supervision_cause": "department_delay",
                                                      "supervision_measure": "reminded",
                                                      "supervision_note": "已电话督促综合受理窗口"}, "督办员")
    with transaction(sessions) as session:
        assert session.get(HumanTask, intake.id).state == "CREATED"


def test_accepted_on_2026_09_25_the_twenty_working_days_end_on_2026_10_29(sessions: sessionmaker[Session]) -> None:
    # The pinned rule on the controlled clock: 09-25 (中秋节) never counts; 10-01..10-07 are off and the
    # make-up Saturday 10-10 counts, so day 20 is Thursday 10-29.
    timesource.set_now(datetime(2026, 9, 25, 16, 30, tzinfo=SHANGHAI))
    with transaction(sessions) as session:
        seed_bundles(session, BUNDLES)
    with transaction(sessions) as session:
        instance_id = cases.start_case(session, key="company_deregistration", actor="窗口").id
    with transaction(sessions) as session:
        [statutory] = [c for c in clock.describe(session, instance_id)["clocks"] if c["kind"] == "statutory"]
    assert (statutory["started_on"], statutory["deadline"]) == ("2026-09-25", "2026-10-29T23:59:59+08:00")
    assert limit_timers(sessions, instance_id)["start_overdue"] == datetime(2026, 10, 29, 23, 59, 59, tzinfo=SHANGHAI)
