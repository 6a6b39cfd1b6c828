"""The calendar running out reaches people: once a day, while `calendar.data_horizon()` warns, every active
administrator gets an in-app notification (and the configured e-mail / SMS connectors a message).

Run by the scheduler's periodic work (the embedded loop and the Celery leader, `workers/scheduler_leader.py`)
on the controllable clock `orchestrator.timesource`. "Once a day" is per horizon (the last year with data):
the day's warning is an audit event `calendar.horizon_warned`, written under a lock (an advisory lock on
PostgreSQL, the write lock on SQLite) so that two schedulers never warn twice; a process remembers what it
has checked, so the steady cost is one in-memory horizon computation per round.
"""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import timesource
from orchestrator.auth.roles import ADMINISTRATOR
from orchestrator.db import transaction
from orchestrator.models import AuditEvent, User
from orchestrator.services import notifications
from orchestrator.services.audit import record_event
from orchestrator.services.calendar import data_horizon, reload_overrides
from orchestrator.workcalendar import SHANGHAI, local_today

log = logging.getLogger(__name__)

KIND = "calendar.horizon"
EVENT = "calendar.horizon_warned"
ACTOR = "scheduler"
_ADVISORY_KEY = 0x4C42_4341  # "LBCA": serialises the day's check between schedulers on PostgreSQL

_memo_lock = threading.Lock()
_checked: set[tuple[date, int | None]] = set()


def forget() -> None:
    """Forget what this process has checked (tests that switch databases)."""
    with _memo_lock:
        _checked.clear()


def _local_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=SHANGHAI)
    return start, start + timedelta(days=1)


def _already_warned(session: Session, day: date, last_year: int | None) -> bool:
    start, end = _local_day_bounds(day)
    payloads = session.scalars(select(AuditEvent.payload).where(
        AuditEvent.instance_id.is_(None), AuditEvent.event_type == EVENT, AuditEvent.at >= start,
        AuditEvent.at < end))
    return any(payload.get("last_year") == last_year for payload in payloads)


def active_administrators(session: Session) -> list[str]:
    users = session.execute(select(User.username, User.roles).where(User.active.is_(True)).order_by(User.username))
    return [name for name, roles in users if ADMINISTRATOR in (roles or [])]


def _title(horizon: dict[str, Any]) -> str:
    if horizon["last_year"] is None:
        return "节假日日历数据缺失：今年的工作日期限无法计算"
    return f"节假日日历数据将于 {horizon['last_year']} 年底用尽（剩 {horizon['days_left']} 天）"


def warn_administrators(session: Session, now: datetime | None = None) -> int:
    """Notify every active administrator of the calendar horizon, unless already done today for this horizon.

    Returns the number of notifications written (0 when there is nothing to warn about or it was done).
    """
    moment = now or timesource.now()
    horizon = data_horizon(local_today(moment))
    if not horizon["warning"]:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})
    day = date.fromisoformat(horizon["today"])
    if _already_warned(session, day, horizon["last_year"]):
        return 0
    administrators = active_administrators(session)
    body = f"{horizon['message']}。{_how_to_import(horizon)}"
    messages = notifications.notify(session, [f"user:{name}" for name in administrators], KIND,
                                    _title(horizon), body)
    record_event(session, None, EVENT, ACTOR, {
        "day": horizon["today"], "last_year": horizon["last_year"], "days_left": horizon["days_left"],
        "recipients": [m.recipient for m in messages]})
    if not messages:
        log.warning("calendar data runs out (%s) and there is no active administrator to tell", horizon["message"])
    return len(messages)


def banner(now: datetime | None = None) -> str | None:
    """The administrator's 工作台 banner while the horizon warns (None otherwise)."""
    horizon = data_horizon(local_today(now or timesource.now()))
    if not horizon["warning"]:
        return None
    return f"{horizon['message']}。{_how_to_import(horizon)}"


def _how_to_import(horizon: dict[str, Any]) -> str:
    next_year = (horizon["last_year"] or date.fromisoformat(horizon["today"]).year - 1) + 1
    return (f"请用 POST /api/calendar/import 或命令 python -m orchestrator calendar import 导入 {next_year} 年的"
            f"节假日安排；届满日落在无数据年份的期限将被拒绝计算。")


def check(factory: sessionmaker[Session], now: datetime | None = None) -> int:
    """The scheduler's daily check: cheap when there is nothing new to say (no query at all)."""
    moment = now or timesource.now()
    today = local_today(moment)
    horizon = data_horizon(today)
    if not horizon["warning"] or (today, horizon["last_year"]) in _checked:
        return 0
    reload_overrides(factory)  # another process may have imported the next year meanwhile
    horizon = data_horizon(today)
    if not horizon["warning"]:
        return 0
    with transaction(factory) as session:
        written = warn_administrators(session, moment)
    with _memo_lock:
        _checked.add((today, horizon["last_year"]))
    return written


__all__ = ["EVENT", "KIND", "active_administrators", "banner", "check", "forget", "warn_administrators"]
