"""The working-day calendar an administrator keeps: day overrides, year imports, the data horizon.

`chinese_calendar` knows the years it was released with; later years (the State Council publishes
next year's schedule around November) are entered here as overrides. A year marked complete holds
its whole schedule: days without a row follow the weekend rule. Every change writes an audit event
and is pushed into `orchestrator.workcalendar` with `load_overrides`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import chinese_calendar
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import workcalendar
from orchestrator.db import transaction
from orchestrator.errors import InvalidRequestError, NotFoundError
from orchestrator.models import CalendarDay, CalendarYear
from orchestrator.services.audit import record_event

WARNING_DAYS = 60
MAX_IMPORT_LINES = 1000
PINNED_RULE_ZH = ("受理当日不计入期限，期限自受理次日起算：第 1 个工作日是受理日之后的第一个工作日"
                  "（受理日是否为工作日均如此）；法定节假日不计，调休上班日计入；"
                  "期限至最后一个工作日 24 时（北京时间）届满。")
PINNED_RULE_EN = ("The day of acceptance never counts: day 1 is the first working day after it, whether or not "
                  "it is a working day; statutory holidays are skipped, official make-up days count; the limit "
                  "ends at midnight (Asia/Shanghai) of its last working day.")
WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_LINE = re.compile(r"^(\S+)\s+(\S+)(?:\s+(.*))?$")
_KINDS = {"休": False, "班": True}


def load_overrides(session: Session) -> None:
    """Push the override table into the calculator (at start-up and after every change)."""
    days = {row.date: row.is_workday for row in session.scalars(select(CalendarDay))}
    years = set(session.scalars(select(CalendarYear.year).where(CalendarYear.complete.is_(True))))
    workcalendar.set_overrides(days, years)


def reload_overrides(sessions: sessionmaker[Session]) -> None:
    """Reload from committed data (entry points call this after their transaction ends, committed or not)."""
    with transaction(sessions) as session:
        load_overrides(session)


def _library_detail(day: date) -> tuple[bool, str | None]:
    is_holiday, holiday = chinese_calendar.get_holiday_detail(day)
    known = {h.value: h.chinese for h in chinese_calendar.Holiday}
    name = known.get(holiday) if isinstance(holiday, str) else None
    if name is None:
        return not is_holiday, None
    return not is_holiday, name if is_holiday else f"{name}调休上班"


def _no_data(year: int) -> workcalendar.CalendarDataMissingError:
    return workcalendar.CalendarDataMissingError(
        f"{year} 年的节假日安排尚未录入，无法计算工作日", f"No holiday calendar data for {year}",
        extra={"year": year})


def list_year(session: Session, year: int) -> dict[str, Any]:
    """Every day of `year` with its working-day flag and where the flag comes from."""
    if not 1900 <= year <= 2999:
        raise InvalidRequestError("年份应在 1900 到 2999 之间", "Year must be 1900..2999", field="year")
    record = session.get(CalendarYear, year)
    complete = bool(record and record.complete)
    if year not in workcalendar.LIBRARY_YEARS and not complete:
        raise _no_data(year)
    rows = {row.date: row for row in session.scalars(
        select(CalendarDay).where(CalendarDay.date >= date(year, 1, 1), CalendarDay.date <= date(year, 12, 31)))}
    days: list[dict[str, Any]] = []
    day = date(year, 1, 1)
    while day.year == year:
        row = rows.get(day)
        if row is not None:
            entry = {"is_workday": row.is_workday, "source": "override", "name": row.name, "note": row.note}
        elif complete:
            entry = {"is_workday": day.weekday() < 5, "source": "weekend_rule", "name": None, "note": None}
        else:
            workday, name = _library_detail(day)
            entry = {"is_workday": workday, "source": "library", "name": name, "note": None}
        days.append({"date": day.isoformat(), "weekday": WEEKDAYS_ZH[day.weekday()], **entry})
        day += timedelta(days=1)
    return {"year": year, "complete": complete, "in_library": year in workcalendar.LIBRARY_YEARS,
            "source": record.source if record else None,
            "published_at": record.published_at.isoformat() if record and record.published_at else None,
            "workdays": sum(1 for d in days if d["is_workday"]), "days": days}


def _day_json(row: CalendarDay) -> dict[str, Any]:
    return {"date": row.date.isoformat(), "is_workday": row.is_workday, "name": row.name, "note": row.note,
            "updated_by": row.updated_by, "updated_at": row.updated_at.isoformat()}


def set_day(session: Session, day: date, is_workday: bool, name: str | None, note: str | None,
            actor: str | None) -> dict[str, Any]:
    row = session.get(CalendarDay, day)
    before = _day_json(row) if row else None
    if row is None:
        row = CalendarDay(date=day)
        session.add(row)
    row.is_workday, row.name, row.note = is_workday, name, note
    row.updated_by, row.updated_at = actor, datetime.now(UTC)
    session.flush()
    after = _day_json(row)
    record_event(session, None, "calendar.day_set", actor, {"before": before, "after": after})
    load_overrides(session)
    return after


def delete_day(session: Session, day: date, actor: str | None) -> None:
    row = session.get(CalendarDay, day)
    if row is None:
        raise NotFoundError(f"{day.isoformat()} 没有人工设置的日历记录", f"No calendar override for {day}",
                            field="date")
    record_event(session, None, "calendar.day_deleted", actor, {"before": _day_json(row)})
    session.delete(row)
    session.flush()
    load_overrides(session)


@dataclass(frozen=True)
class ScheduleLine:
    line: int
    day: date
    is_workday: bool
    name: str | None


def _line_error(number: int, zh: str, en: str) -> InvalidRequestError:
    return InvalidRequestError(f"第 {number} 行：{zh}", f"line {number}: {en}", field=f"line {number}",
                               line=number, code="calendar.bad_import")


def parse_schedule(text: str) -> list[ScheduleLine]:
    """`2027-01-01 休 元旦` / `2027-02-07 班 春节调休`, one date a line; `#` starts a comment."""
    lines = text.splitlines()
    if len(lines) > MAX_IMPORT_LINES:
        raise InvalidRequestError(f"文件不能超过 {MAX_IMPORT_LINES} 行", f"At most {MAX_IMPORT_LINES} lines",
                                  field="file", code="calendar.bad_import")
    parsed: list[ScheduleLine] = []
    seen: dict[date, int] = {}
    for number, raw in enumerate(lines, start=1):
        content = raw.split("#", 1)[0].strip().lstrip("\ufeff")
        if not content:
            continue
        match = _LINE.match(content)
        if match is None:
            raise _line_error(number, "格式应为“日期 休/班 名称”，例如 2027-01-01 休 元旦",
                              "expected 'YYYY-MM-DD 休|班 name'")
        text_day, kind, name = match.groups()
        try:
            day = date.fromisoformat(text_day)
        except ValueError:
            raise _line_error(number, f"“{text_day}”不是有效日期（YYYY-MM-DD）",
                              f"'{text_day}' is not a date (YYYY-MM-DD)") from None
        if kind not in _KINDS:
            raise _line_error(number, f"“{kind}”应为“休”或“班”", f"'{kind}' must be 休 (holiday) or 班 (working day)")
        if day in seen:
            raise _line_error(number, f"{text_day} 与第 {seen[day]} 行重复", f"{text_day} repeats line {seen[day]}")
        if name is not None and len(name.strip()) > 64:
            raise _line_error(number, "名称不能超过 64 个字符", "name longer than 64 characters")
        seen[day] = number
        parsed.append(ScheduleLine(number, day, _KINDS[kind], (name or "").strip() or None))
    if not parsed:
        raise InvalidRequestError("文件中没有任何日期", "The file holds no dates", field="file",
                                  code="calendar.bad_import")
    return parsed


def import_schedule(session: Session, text: str, actor: str | None, *, complete: bool = True,
                    source: str | None = None, published_at: date | None = None) -> dict[str, Any]:
    """Import a schedule file. With `complete`, each year in the file is replaced by the file and marked complete."""
    lines = parse_schedule(text)
    years = sorted({entry.day.year for entry in lines})
    if complete:
        for year in years:
            session.execute(delete(CalendarDay).where(CalendarDay.date >= date(year, 1, 1),
                                                      CalendarDay.date <= date(year, 12, 31)))
    now = datetime.now(UTC)
    for entry in lines:
        row = session.get(CalendarDay, entry.day) if not complete else None
        if row is None:
            row = CalendarDay(date=entry.day)
            session.add(row)
        row.is_workday, row.name, row.note = entry.is_workday, entry.name, None
        row.updated_by, row.updated_at = actor, now
    session.flush()
    if complete:
        for year in years:
            _mark_year(session, year, True, source, published_at)
    summary = {"years": years, "days": len(lines), "holidays": sum(1 for e in lines if not e.is_workday),
               "makeup_workdays": sum(1 for e in lines if e.is_workday), "complete": complete,
               "source": source, "published_at": published_at.isoformat() if published_at else None}
    record_event(session, None, "calendar.imported", actor, summary)
    load_overrides(session)
    return summary


def _mark_year(session: Session, year: int, complete: bool, source: str | None,
               published_at: date | None) -> CalendarYear:
    record = session.get(CalendarYear, year)
    if record is None:
        record = CalendarYear(year=year)
        session.add(record)
    record.complete = complete
    if source is not None:
        record.source = source
    if published_at is not None:
        record.published_at = published_at
    session.flush()
    return record


def mark_year(session: Session, year: int, complete: bool, actor: str | None, *, source: str | None = None,
              published_at: date | None = None) -> dict[str, Any]:
    record = _mark_year(session, year, complete, source, published_at)
    result = {"year": year, "complete": record.complete, "source": record.source,
              "published_at": record.published_at.isoformat() if record.published_at else None}
    record_event(session, None, "calendar.year_marked", actor, result)
    load_overrides(session)
    return result


def data_horizon(today: date | None = None) -> dict[str, Any]:
    """The last year with data, reached without a gap from today's year, and whether to warn the administrator."""
    today = today or workcalendar.local_today()
    year = today.year
    if not workcalendar.has_data(year):
        return {"today": today.isoformat(), "last_year": None, "last_day": None, "days_left": 0, "warning": True,
                "message": f"{year} 年（今年）的节假日安排尚未录入，所有工作日期限都无法计算，请立即导入"}
    while workcalendar.has_data(year + 1):
        year += 1
    last_day = date(year, 12, 31)
    days_left = (last_day - today).days
    warning = days_left <= WARNING_DAYS
    message = (f"日历数据截至 {year} 年底，仅剩 {days_left} 天；国务院通常在 11 月前后公布 {year + 1} 年节假日安排，"
               f"请及时导入" if warning else f"日历数据截至 {year} 年底")
    return {"today": today.isoformat(), "last_year": year, "last_day": last_day.isoformat(),
            "days_left": days_left, "warning": warning, "message": message,
            "library_years": [workcalendar.LIBRARY_YEARS.start, workcalendar.LIBRARY_YEARS.stop - 1],
            "complete_override_years": sorted(workcalendar.complete_override_years())}


def deadline(start: date, days: int) -> dict[str, Any]:
    """The `days`-th working day after acceptance on `start`, under the pinned rule."""
    last = workcalendar.add_workdays(start, days)
    first = workcalendar.add_workdays(start, 1) if days > 0 else None
    return {"start": start.isoformat(), "start_is_workday": workcalendar.is_workday(start), "days": days,
            "first_day": first.isoformat() if first else None, "deadline": last.isoformat(),
            "deadline_weekday": WEEKDAYS_ZH[last.weekday()], "due": workcalendar.end_of_day(last).isoformat(),
            "rule": PINNED_RULE_ZH, "rule_en": PINNED_RULE_EN}
