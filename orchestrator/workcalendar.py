"""Chinese working days (行政许可法 art. 82): statutory holidays excluded, official make-up days counted.

Pinned rule for day 1: the day of acceptance never counts (民法典 art. 201: a period counted in days
starts on the next day); day 1 is the first working day after the acceptance date, whether the
case was accepted on a working day or not. A deadline ends at 23:59:59 Asia/Shanghai of its last day.
Years without calendar data are refused rather than guessed.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

from orchestrator import timesource
from orchestrator.errors import LianbanError

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_WORKDAYS = 3650

# Administrator overrides (holidays and make-up working days of years the library does not know);
# date -> True (working day) / False (holiday). Loaded from the database by the calendar service.
_overrides: dict[date, bool] = {}
_override_years: set[int] = set()
# The years the `chinese_calendar` package knows (1.11.0: 2004-2026).
LIBRARY_YEARS = range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)


class CalendarDataMissingError(LianbanError):
    status = 422
    code = "calendar.no_data"


def set_overrides(overrides: dict[date, bool], complete_years: set[int]) -> None:
    """Replace the override table; `complete_years` are years whose whole schedule the table holds."""
    _overrides.clear()
    _overrides.update(overrides)
    _override_years.clear()
    _override_years.update(complete_years)


def has_data(year: int) -> bool:
    """Whether working days of `year` can be computed: the library knows it or the override table is complete."""
    return year in LIBRARY_YEARS or year in _override_years


def complete_override_years() -> set[int]:
    return set(_override_years)


def is_workday(day: date) -> bool:
    if day in _overrides:
        return _overrides[day]
    if day.year in _override_years:
        return day.weekday() < 5
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError as exc:
        raise CalendarDataMissingError(
            f"{day.year} 年的节假日安排尚未录入，无法计算工作日期限",
            f"No holiday calendar data for {day.year}; refusing to compute a working-day deadline",
            extra={"year": day.year},
        ) from exc


def add_workdays(start: date, count: int) -> date:
    """The `count`-th working day after `start` (start itself never counts)."""
    if count < 0 or count > MAX_WORKDAYS:
        raise LianbanError(f"工作日数应在 0 到 {MAX_WORKDAYS} 之间", f"Working days must be 0..{MAX_WORKDAYS}",
                           code="calendar.bad_count")
    day = start
    remaining = count
    while remaining > 0:
        day += timedelta(days=1)
        if is_workday(day):
            remaining -= 1
    return day


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), SHANGHAI)


def shanghai_iso(moment: datetime | None) -> str | None:
    """A stored (UTC) moment as people read it: ISO 8601 in Asia/Shanghai."""
    return moment.astimezone(SHANGHAI).isoformat() if moment else None


def local_today(now: datetime | None = None) -> date:
    return (now or timesource.now()).astimezone(SHANGHAI).date()


def workdays_from_now(count: int) -> str:
    """Expression function `workdays(n)`: the deadline n working days from today, as ISO 8601."""
    return end_of_day(add_workdays(local_today(), int(count))).isoformat()


def workdays_from(start: str, count: int) -> str:
    """Expression function `workdays_from('2026-09-25', 20)`."""
    parsed = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
    day = parsed.astimezone(SHANGHAI).date() if parsed.tzinfo else parsed.date()
    return end_of_day(add_workdays(day, int(count))).isoformat()


def is_workday_expression(value: str | None = None) -> bool:
    """Expression function `is_workday()` / `is_workday('2026-10-08')`."""
    if value is None:
        return is_workday(local_today())
    return is_workday(date.fromisoformat(str(value)[:10]))
