"""The statutory clock on a controllable clock: every service call gets its `now` explicitly, nothing sleeps.

The bundle is 企业注销登记一件事 from bpmn/ (statutory_limit_days 20, committed_limit_days 11). Official 2026
schedule: 09-25..09-27 中秋节 off, 10-01..10-07 国庆节 off, Saturday 10-10 a make-up working day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.errors import ConflictError, InvalidRequestError, LianbanError
from orchestrator.models import AuditEvent, CaseClock, ClockExtension, ClockPause, ProcessDefinition
from orchestrator.services import calendar, cases, clock, definitions
from orchestrator.services.audit import verify_chain
from orchestrator.services.seed import seed_bundles
from orchestrator.workcalendar import SHANGHAI, CalendarDataMissingError, add_workdays

BUNDLES = Path(__file__).resolve().parents[2] / "bpmn"
COVERAGE = Path(__file__).resolve().parents[1] / "bpmn" / "coverage"
KEY = "company_deregistration"
DEFAULT = clock.WarnPolicy()


def shanghai(year: int, month: int, day: int, hour: int = 10, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


def accepted_on(sessions: sessionmaker[Session], when: datetime, key: str = KEY) -> str:
    """Start a case of a bundle from bpmn/ and (re)start its clocks as if it had been accepted at `when`."""
    with transaction(sessions) as session:
        seed_bundles(session, BUNDLES)
    with transaction(sessions) as session:
        record = cases.start_case(session, key=key, actor="窗口")
        session.execute(delete(CaseClock).where(CaseClock.instance_id == record.id))
        record = cases.lock_case(session, record.id)
        clock.start_clocks(session, record, "窗口", now=when, policy=DEFAULT)
        return record.id


def clocks(sessions: sessionmaker[Session], instance_id: str) -> dict[str, dict[str, Any]]:
    with transaction(sessions) as session:
        return {c["kind"]: c for c in clock.describe(session, instance_id)["clocks"]}


def events(sessions: sessionmaker[Session], instance_id: str, event_type: str) -> list[AuditEvent]:
    with transaction(sessions) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id,
                                                             AuditEvent.event_type == event_type)))


def test_a_bundle_case_gets_both_clocks_from_its_process_properties(sessions: sessionmaker[Session]) -> None:
    instance_id = accepted_on(sessions, shanghai(2026, 9, 25))  # 中秋节: day 1 is Monday 09-28
    found = clocks(sessions, instance_id)
    statutory, committed = found["statutory"], found["committed"]
    assert statutory["limit_days"] == 20 and statutory["status"] == "NORMAL"
    assert statutory["started_on"] == "2026-09-25"
    assert statutory["deadline"] == "2026-10-29T23:59:59+08:00"
    assert statutory["deadline_utc"] == "2026-10-29T15:59:59+00:00"
    # 11 working days: 09-28..09-30, 10-08, 10-09, Saturday 10-10 (make-up), 10-12..10-16.
    assert committed["deadline_day"] == "2026-10-16" and committed["limit_days"] == 11
    started = events(sessions, instance_id, "clock.started")  # at the real start, then on 09-25 (the helper)
    assert [e.payload["started_on"] for e in started[-2:]] == ["2026-09-25", "2026-09-25"]
    with transaction(sessions) as session:
        assert verify_chain(session, instance_id) is None


def test_a_bundle_without_limits_has_no_clock(sessions: sessionmaker[Session]) -> None:
    diagram = COVERAGE / "boundary_error.bpmn"
    with transaction(sessions) as session:
        definitions.deploy(session, {diagram.name: diagram.read_bytes()}, name="no limits")
    with transaction(sessions) as session:
        key = session.scalars(select(ProcessDefinition.key)).one()
        record = cases.start_case(session, key=key)
        assert session.scalar(select(func.count()).select_from(CaseClock)
                              .where(CaseClock.instance_id == record.id)) == 0
        assert clock.describe(session, record.id)["clocks"] == []
    assert clock._limits({"bundle_name": "x"}) == {}
    assert clock._limits({"statutory_limit_days": "20", "committed_limit_days": "abc"}) == {"statutory": 20}


def test_a_pause_across_national_day_moves_the_deadline_by_the_paused_working_days(
        sessions: sessionmaker[Session]) -> None:
    instance_id = accepted_on(sessions, shanghai(2026, 9, 25))
    with transaction(sessions) as session:
        clock.pause(session, instance_id, "expert_review", "专家评审", "审核员", now=shanghai(2026, 9, 29, 9))
    paused = clocks(sessions, instance_id)["statutory"]
    assert paused["status"] == "PAUSED" and paused["paused_since"] == "2026-09-29T09:00:00+08:00"
    with pytest.raises(ConflictError) as twice, transaction(sessions) as session:
        clock.pause(session, instance_id, "hearing", None, "审核员", now=shanghai(2026, 9, 30))
    assert twice.value.status == 409 and twice.value.code == "clock.already_paused"
    with transaction(sessions) as session:
        clock.resume(session, instance_id, "审核员", now=shanghai(2026, 10, 9, 9), policy=DEFAULT)
    # Paused working days: 09-29, 09-30, 10-08 (10-01..10-07 are the holiday) = 3.
    resumed = clocks(sessions, instance_id)["statutory"]
    assert resumed["status"] == "NORMAL" and resumed["paused_workdays"] == 3
    assert resumed["pauses"][0]["workdays"] == 3 and resumed["pauses"][0]["kind"] == "expert_review"
    # 10-29 + 3 working days: Friday 10-30, Monday 11-02, Tuesday 11-03.
    assert resumed["deadline"] == "2026-11-03T23:59:59+08:00"
    assert add_workdays(date(2026, 10, 29), 3) == date(2026, 11, 3)
    with pytest.raises(ConflictError), transaction(sessions) as session:
        clock.resume(session, instance_id, "审核员", now=shanghai(2026, 10, 9, 10))
    assert len(events(sessions, instance_id, "clock.paused")) == 2  # both clocks (statutory + committed)
    assert len(events(sessions, instance_id, "clock.resumed")) == 2


@pytest.mark.parametrize(("pause_day", "resume_day", "paused"), [
    (date(2026, 10, 12), date(2026, 10, 12), 0),   # resumed the same day
    (date(2026, 10, 12), date(2026, 10, 13), 1),
    (date(2026, 10, 9), date(2026, 10, 12), 2),    # Friday, make-up Saturday 10-10
    (date(2026, 10, 12), date(2026, 10, 19), 5),
    (date(2026, 9, 25), date(2026, 9, 29), 1),     # paused on the acceptance day: that day never counted
])
def test_a_pause_of_n_working_days_moves_the_deadline_by_exactly_n(
        sessions: sessionmaker[Session], pause_day: date, resume_day: date, paused: int) -> None:
    instance_id = accepted_on(sessions, shanghai(2026, 9, 25))
    before = date.fromisoformat(clocks(sessions, instance_id)["statutory"]["deadline_day"])
    with transaction(sessions) as session:
        clock.pause(session, instance_id, "testing", None, "审核员", now=shanghai(*pause_day.timetuple()[:3], 11))
    with transaction(sessions) as session:
        clock.resume(session, instance_id, "审核员", now=shanghai(*resume_day.timetuple()[:3], 15), policy=DEFAULT)
    after = clocks(sessions, instance_id)["statutory"]
    assert after["paused_workdays"] == paused
    assert after["deadline_day"] == add_workdays(before, paused).isoformat()


def test_extensions_record_who_approved_them_and_cap_the_statutory_limit_at_15(
        sessions: sessionmaker[Session]) -> None:
    instance_id = accepted_on(sessions, shanghai(2026, 9, 25))
    with transaction(sessions) as session:
        clock.extend(session, instance_id, 5, "张局长", "需实地核查", "审核员", now=shanghai(2026, 10, 20),
                     policy=DEFAULT)
    extended = clocks(sessions, instance_id)["statutory"]
    assert extended["extended_days"] == 5 and extended["deadline"] == "2026-11-05T23:59:59+08:00"
    assert extended["extensions"][0]["approved_by"] == "张局长" and extended["extensions"][0]["reason"] == "需实地核查"
    with pytest.raises(InvalidRequestError) as too_long, transaction(sessions) as session:
        clock.extend(session, instance_id, 11, "张局长", "再延", "审核员", now=shanghai(2026, 10, 21))
    assert too_long.value.code == "clock.extension_too_long" and too_long.value.field == "days"
    assert "十五日" in too_long.value.message_zh and too_long.value.extra["remaining_days"] == 10
    with transaction(sessions) as session:
        clock.extend(session, instance_id, 10, "张局长", "再延", "审核员", now=shanghai(2026, 10, 21), policy=DEFAULT)
        assert session.scalar(select(func.count()).select_from(ClockExtension)) == 2
    assert clocks(sessions, instance_id)["statutory"]["extended_days"] == 15
    with transaction(sessions) as session:  # the committed limit is not capped by art. 42
        clock.extend(session, instance_id, 20, "窗口负责人", "申请人补充材料", None, kind="committed",
                     now=shanghai(2026, 10, 21), policy=DEFAULT)


def test_warning_and_overdue_fire_once_each_at_the_right_moments(sessions: sessionmaker[Session]) -> None:
    instance_id = accepted_on(sessions, shanghai(2026, 9, 25))
    with transaction(sessions) as session:  # only the statutory clock in this test
        session.execute(delete(CaseClock).where(CaseClock.kind == "committed"))
    statutory = clocks(sessions, instance_id)["statutory"]
    assert statutory["warn_at"] == "2026-10-29T00:00:00+08:00"  # one working day before the deadline
    assert clock.scan(sessions, shanghai(2026, 10, 28, 23, 59, 59), DEFAULT) == 0
    assert clock.scan(sessions, shanghai(2026, 10, 29, 0, 0, 0), DEFAULT) == 1
    assert clock.scan(sessions, shanghai(2026, 10, 29, 12), DEFAULT) == 0
    assert clocks(sessions, instance_id)["statutory"]["status"] == "WARNING"
    assert clock.scan(sessions, shanghai(2026, 10, 29, 23, 59, 59), DEFAULT) == 0
    assert clock.scan(sessions, shanghai(2026, 10, 30, 0, 0, 1), DEFAULT) == 1
    assert clock.scan(sessions, shanghai(2026, 11, 2), DEFAULT) == 0
    overdue = clocks(sessions, instance_id)["statutory"]
    assert overdue["status"] == "OVERDUE" and overdue["overdue_at"] == "2026-10-30T00:00:01+08:00"
    assert len(events(sessions, instance_id, "clock.warning")) == 1
    assert len(events(sessions, instance_id, "clock.overdue")) == 1
    # Nothing was decided for the applicant: the case is still waiting at its first step.
    with transaction(sessions) as session:
        assert cases.lock_case(session, instance_id).state == "ACTIVE"
        assert verify_chain(session, instance_id) is None
    with transaction(sessions) as session:
        listed = clock.supervision_list(session, ["OVERDUE"], bundle=KEY)["items"]
        assert [item["instance_id"] for item in listed] == [instance_id]
        assert clock.supervision_list(session, ["WARNING"])["items"] == []
        assert clock.supervision_list(session, ["OVERDUE"], due_before=shanghai(2026, 10, 1))["items"] == []


def test_a_ratio_threshold_warns_when_that_share_of_the_limit_has_elapsed(sessions: sessionmaker[Session]) -> None:
    ratio = clock.WarnPolicy(ratio=0.8)
    assert ratio.warning_day_number(20) == 17 and DEFAULT.warning_day_number(20) == 20
    with transaction(sessions) as session:
        seed_bundles(session, BUNDLES)
    with transaction(sessions) as session:
        record = cases.start_case(session, key=KEY)
        session.execute(delete(CaseClock).where(CaseClock.instance_id == record.id))
        record = cases.lock_case(session, record.id)
        clock.start_clocks(session, record, None, now=shanghai(2026, 9, 25), policy=ratio)
    # 16 of 20 working days have elapsed at the end of 10-23 (day 16); day 17 is Monday 10-26.
    assert clocks(sessions, record.id)["statutory"]["warn_at"] == "2026-10-26T00:00:00+08:00"


def test_a_deadline_in_a_year_without_calendar_data_is_refused_until_the_year_is_entered(
        sessions: sessionmaker[Session]) -> None:
    instance_id = accepted_on(sessions, shanghai(2026, 12, 10))  # 20 working days run into 2027
    waiting = clocks(sessions, instance_id)["statutory"]
    assert waiting["deadline"] is None and waiting["status"] == "NORMAL"
    assert "calendar" not in waiting and clocks(sessions, instance_id)["committed"]["deadline_day"] == "2026-12-25"
    assert events(sessions, instance_id, "clock.deadline_unknown")[-1].payload["kind"] == "statutory"
    with pytest.raises(CalendarDataMissingError) as refused, transaction(sessions) as session:
        clock.extend(session, instance_id, 1, "张局长", "延期", None, now=shanghai(2026, 12, 11))
    assert refused.value.status == 422 and refused.value.code == "calendar.no_data"
    assert refused.value.extra["year"] == 2027
    assert clock.scan(sessions, shanghai(2026, 12, 11), DEFAULT) == 0
    with transaction(sessions) as session:
        calendar.mark_year(session, 2027, True, "管理员", source="测试：周末规则")
    try:
        assert clock.scan(sessions, shanghai(2026, 12, 11), DEFAULT) == 1  # clock.deadline_set
        statutory = clocks(sessions, instance_id)["statutory"]
        # 12-11 (1) … 12-31 (15), 2027-01-01 is a Friday under the weekend rule (16), 01-04..01-07 (17-20).
        assert statutory["deadline"] == "2027-01-07T23:59:59+08:00"
    finally:
        with transaction(sessions) as session:
            calendar.mark_year(session, 2027, False, "管理员")
            calendar.load_overrides(session)


def test_terminating_or_completing_a_case_stops_its_clocks(sessions: sessionmaker[Session]) -> None:
    instance_id = accepted_on(sessions, shanghai(2026, 9, 25))
    with transaction(sessions) as session:
        clock.pause(session, instance_id, "correction", "补正营业执照", "窗口", now=shanghai(2026, 9, 28))
    with transaction(sessions) as session:
        cases.terminate_case(session, instance_id, "申请人撤回", "窗口")
    stopped = clocks(sessions, instance_id)
    assert {c["status"] for c in stopped.values()} == {"STOPPED"}
    assert all(c["finished_at"] for c in stopped.values())
    assert len(events(sessions, instance_id, "clock.stopped")) == 2
    with transaction(sessions) as session:
        assert session.scalar(select(func.count()).select_from(ClockPause).where(ClockPause.ended_at.is_(None))) == 0
        assert verify_chain(session, instance_id) is None
    with pytest.raises(LianbanError) as ended, transaction(sessions) as session:
        clock.extend(session, instance_id, 1, "张局长", "延期", None)
    assert ended.value.status == 409
    assert clock.scan(sessions, datetime.now(UTC) + timedelta(days=400), DEFAULT) == 0
