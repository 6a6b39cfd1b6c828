"""The working-day calculator under the pinned day-1 rule, against the official 2026 schedule.

Official 2026 schedule (国务院办公厅关于2026年部分节假日安排的通知), as `chinese_calendar` 1.11.0 holds it:
- 中秋节: Friday 2026-09-25 to Sunday 09-27 off (Mid-Autumn falls on 09-25 in 2026);
- 国庆节: Thursday 10-01 to Wednesday 10-07 off; make-up working days Sunday 09-20 and Saturday 10-10.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import chinese_calendar
import pytest

from orchestrator import workcalendar
from orchestrator.errors import InvalidRequestError
from orchestrator.services import calendar
from orchestrator.workcalendar import CalendarDataMissingError, add_workdays, is_workday

# Illustrative 2027 lines in the import format (not the State Council's 2027 notice).
SCHEDULE_2027 = """# 2027 年节假日安排（测试用）
2027-01-01 休 元旦
2027-02-06 休 春节
2027-02-07 休 春节
2027-02-08 休 春节
2027-02-09 休 春节
2027-02-10 休 春节
2027-02-11 休 春节
2027-02-12 休 春节
2027-02-13 班 春节调休
"""


@pytest.fixture(autouse=True)
def no_overrides() -> Iterator[None]:
    workcalendar.set_overrides({}, set())
    yield
    workcalendar.set_overrides({}, set())


def test_twenty_working_days_from_acceptance_on_2026_09_25() -> None:
    # 09-25 is itself a holiday (中秋节), so day 1 is Monday 09-28. Counting:
    # 09-28, 09-29, 09-30 (1-3); 10-01..10-07 National Day off; 10-08, 10-09 (4-5);
    # Saturday 10-10 is a make-up working day (6); 10-12..10-16 (7-11); 10-19..10-23 (12-16);
    # 10-26, 10-27, 10-28, 10-29 (17-20). The deadline is Thursday 2026-10-29, 23:59:59 Beijing time.
    start = date(2026, 9, 25)
    assert not is_workday(start)
    assert add_workdays(start, 20) == date(2026, 10, 29)
    assert workcalendar.workdays_from("2026-09-25", 20) == "2026-10-29T23:59:59+08:00"
    assert calendar.deadline(start, 20)["deadline"] == "2026-10-29"


def test_a_make_up_saturday_counts_and_a_moved_holiday_weekday_does_not() -> None:
    assert date(2026, 10, 10).weekday() == 5 and is_workday(date(2026, 10, 10))
    assert date(2026, 9, 20).weekday() == 6 and is_workday(date(2026, 9, 20))
    assert date(2026, 10, 5).weekday() == 0 and not is_workday(date(2026, 10, 5))
    # Accepted on Friday 10-09: day 1 is the make-up Saturday 10-10, not Monday 10-12.
    assert add_workdays(date(2026, 10, 9), 1) == date(2026, 10, 10)


def test_acceptance_on_a_holiday_starts_on_the_next_working_day() -> None:
    assert add_workdays(date(2026, 10, 3), 1) == date(2026, 10, 8)
    assert add_workdays(date(2026, 10, 3), 2) == date(2026, 10, 9)
    # Acceptance on an ordinary working day: that day does not count either.
    assert add_workdays(date(2026, 10, 13), 1) == date(2026, 10, 14)
    assert add_workdays(date(2026, 10, 13), 0) == date(2026, 10, 13)


def test_chinese_calendar_find_workday_disagrees_with_the_pinned_rule() -> None:
    # find_workday(0, d) is "the next working day including d": for a holiday acceptance it makes the first
    # working day day 0, so its 20 days end one working day later than ours. We never call it.
    start = date(2026, 9, 25)
    assert chinese_calendar.find_workday(0, start) == date(2026, 9, 28)
    assert chinese_calendar.find_workday(20, start) == date(2026, 10, 30)
    assert add_workdays(start, 20) == date(2026, 10, 29)
    # On a working-day acceptance both agree.
    assert chinese_calendar.find_workday(5, date(2026, 10, 13)) == add_workdays(date(2026, 10, 13), 5)


def test_a_2027_deadline_is_refused_until_2027_is_imported(run_in_tx: Any) -> None:
    with pytest.raises(CalendarDataMissingError) as refused:
        add_workdays(date(2026, 12, 28), 10)
    assert refused.value.status == 422 and refused.value.code == "calendar.no_data"
    assert "2027" in refused.value.message_zh
    summary = run_in_tx(calendar.import_schedule, SCHEDULE_2027, "admin", source="测试")
    assert summary["years"] == [2027] and summary["holidays"] == 8 and summary["makeup_workdays"] == 1
    # 2026-12-28 (Mon) accepted: 12-29, 12-30, 12-31 (1-3); 2027-01-01 元旦 off; 01-04..01-08 (4-8); 01-11, 01-12.
    assert add_workdays(date(2026, 12, 28), 10) == date(2027, 1, 12)
    # Make-up Saturday 2027-02-13 counts; the Spring Festival week does not.
    assert add_workdays(date(2027, 2, 5), 1) == date(2027, 2, 13)
    # A year after the imported one is refused again.
    with pytest.raises(CalendarDataMissingError):
        add_workdays(date(2027, 12, 20), 20)


def test_the_horizon_warns_within_sixty_days_of_the_end_of_data(run_in_tx: Any) -> None:
    assert calendar.data_horizon(date(2026, 6, 1))["warning"] is False
    late = calendar.data_horizon(date(2026, 11, 28))
    assert late["last_year"] == 2026 and late["days_left"] == 33 and late["warning"] is True
    assert "2027" in late["message"]
    assert calendar.data_horizon(date(2027, 1, 2))["last_year"] is None
    run_in_tx(calendar.import_schedule, SCHEDULE_2027, "admin")
    after = calendar.data_horizon(date(2026, 11, 28))
    assert after["last_year"] == 2027 and after["warning"] is False


def test_schedule_errors_name_the_line() -> None:
    with pytest.raises(InvalidRequestError) as bad_date:
        calendar.parse_schedule("# 注释\n2027-01-01 休 元旦\n2027-02-30 休 春节\n")
    assert bad_date.value.field == "line 3" and bad_date.value.line == 3 and "第 3 行" in bad_date.value.message_zh
    with pytest.raises(InvalidRequestError) as bad_kind:
        calendar.parse_schedule("2027-01-01 放 元旦\n")
    assert bad_kind.value.field == "line 1"
    with pytest.raises(InvalidRequestError) as repeated:
        calendar.parse_schedule("2027-01-01 休 元旦\n\n2027-01-01 班\n")
    assert repeated.value.field == "line 3" and "第 1 行" in repeated.value.message_zh
    lines = calendar.parse_schedule("\ufeff2027-02-13 班 春节调休 # 周六\n")
    assert lines[0].is_workday and lines[0].name == "春节调休"


def test_day_boundaries_are_asia_shanghai() -> None:
    # 2026-10-08 17:00 UTC is already Friday 10-09 in Beijing.
    assert workcalendar.local_today(datetime(2026, 10, 8, 17, 0, tzinfo=UTC)) == date(2026, 10, 9)
    assert workcalendar.workdays_from("2026-10-08T17:00:00Z", 1) == "2026-10-10T23:59:59+08:00"
