"""The calendar running out warns administrators, once a day, through the scheduler's periodic work.

Everything runs on the controllable clock: the library's data (chinese_calendar) ends with 2026, so the
warning window (60 days) opens on 2026-11-01 (Asia/Shanghai).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import scheduler, timesource, workcalendar
from orchestrator.db import transaction
from orchestrator.models import AuditEvent, Notification
from orchestrator.services import calendar, calendar_alerts, notifications
from orchestrator.services.audit import verify_chain
from orchestrator.workcalendar import SHANGHAI
from tests.conftest import make_user

LAST_LIBRARY_YEAR = workcalendar.LIBRARY_YEARS.stop - 1
NEXT_YEAR_SCHEDULE = "\n".join([f"{LAST_LIBRARY_YEAR + 1}-01-01 休 元旦", f"{LAST_LIBRARY_YEAR + 1}-10-01 休 国庆节"])


def shanghai(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(LAST_LIBRARY_YEAR, month, day, hour, tzinfo=SHANGHAI)


class Recorder:
    """A connector (e-mail / SMS gateway stand-in) that keeps what it was told."""

    def __init__(self) -> None:
        self.sent: list[notifications.Message] = []

    def send(self, message: notifications.Message) -> None:
        self.sent.append(message)


@pytest.fixture()
def gateway(app: Flask) -> Iterator[Recorder]:
    calendar_alerts.forget()
    recorder = Recorder()
    notifications.register_notifier(recorder)
    yield recorder
    notifications.notifiers().remove(recorder)
    calendar_alerts.forget()


@pytest.fixture()
def administrators(app: Flask) -> list[str]:
    make_user(app, "admin_a", ["administrator"])
    make_user(app, "admin_b", ["administrator", "supervisor"])
    make_user(app, "admin_gone", ["administrator"], active=False)
    make_user(app, "supervisor", ["supervisor"])
    return ["user:admin_a", "user:admin_b"]


def round_at(sessions: sessionmaker[Session], moment: datetime) -> None:
    """One scheduler round with the clock at `moment`."""
    timesource.set_now(moment)
    scheduler.run_round(sessions)


def horizon_notifications(sessions: sessionmaker[Session]) -> list[Notification]:
    with transaction(sessions) as session:
        return list(session.scalars(select(Notification).where(Notification.kind == calendar_alerts.KIND)
                                    .order_by(Notification.id)))


def warned_events(sessions: sessionmaker[Session]) -> list[AuditEvent]:
    with transaction(sessions) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.event_type == calendar_alerts.EVENT)))


def test_no_administrator_is_warned_while_the_data_runs_far_beyond_today(
    sessions: sessionmaker[Session], administrators: list[str], gateway: Recorder,
) -> None:
    round_at(sessions, shanghai(6, 1))
    round_at(sessions, shanghai(10, 31, 23))  # 61 days left: still outside the window
    assert horizon_notifications(sessions) == [] and warned_events(sessions) == [] and gateway.sent == []


def test_every_active_administrator_is_warned_on_the_first_day_inside_the_window_once(
    sessions: sessionmaker[Session], administrators: list[str], gateway: Recorder,
) -> None:
    round_at(sessions, shanghai(11, 1, 0) + timedelta(minutes=1))  # 00:01 in Shanghai, 60 days left

    found = horizon_notifications(sessions)
    assert sorted(n.recipient for n in found) == administrators  # not the inactive one, not the supervisor
    assert all(f"{LAST_LIBRARY_YEAR} 年底" in n.title and "剩 60 天" in n.title for n in found)
    assert all(f"导入 {LAST_LIBRARY_YEAR + 1} 年" in n.body for n in found)
    assert sorted(m.recipient for m in gateway.sent) == administrators  # the connectors were told after commit
    (event,) = warned_events(sessions)
    assert event.actor == "scheduler" and event.payload["days_left"] == 60
    assert event.payload["last_year"] == LAST_LIBRARY_YEAR and sorted(event.payload["recipients"]) == administrators

    round_at(sessions, shanghai(11, 1, 23))  # later the same day
    calendar_alerts.forget()  # as another scheduler process, or this one restarted, would: the database decides
    round_at(sessions, shanghai(11, 1, 23) + timedelta(minutes=30))
    assert len(horizon_notifications(sessions)) == 2 and len(warned_events(sessions)) == 1 and len(gateway.sent) == 2

    round_at(sessions, shanghai(11, 2))  # the next day: warned again
    assert len(horizon_notifications(sessions)) == 4 and len(warned_events(sessions)) == 2
    assert [n.title for n in horizon_notifications(sessions)][-1].endswith("剩 59 天）")
    with transaction(sessions) as session:
        assert verify_chain(session, None) is None


def test_no_warning_once_the_next_year_is_imported(
    sessions: sessionmaker[Session], administrators: list[str], gateway: Recorder,
) -> None:
    round_at(sessions, shanghai(11, 20))
    assert len(horizon_notifications(sessions)) == 2
    with transaction(sessions) as session:
        calendar.import_schedule(session, NEXT_YEAR_SCHEDULE, "admin_a", source="国办发明电")
    round_at(sessions, shanghai(11, 21))
    round_at(sessions, shanghai(12, 30))
    assert len(horizon_notifications(sessions)) == 2 and len(warned_events(sessions)) == 1


def test_a_year_already_running_without_data_is_an_urgent_warning(
    sessions: sessionmaker[Session], administrators: list[str], gateway: Recorder,
) -> None:
    round_at(sessions, datetime(LAST_LIBRARY_YEAR + 1, 1, 5, 9, tzinfo=SHANGHAI))
    found = horizon_notifications(sessions)
    assert len(found) == 2 and all("今年的工作日期限无法计算" in n.title for n in found)
    assert warned_events(sessions)[0].payload["last_year"] is None


def test_the_warning_reaches_the_administrators_notification_list(
    app: Flask, sessions: sessionmaker[Session], gateway: Recorder,
) -> None:
    token = make_user(app, "admin_a", ["administrator"])
    round_at(sessions, shanghai(12, 1))
    client = app.test_client()
    listed = client.get("/api/notifications", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert listed["unread"] == 1 and listed["items"][0]["kind"] == "calendar.horizon"


def test_calendar_status_exits_non_zero_inside_the_window_and_zero_after_the_import(
    app: Flask, sessions: sessionmaker[Session],
) -> None:
    runner = app.test_cli_runner()
    timesource.set_now(shanghai(6, 1))
    assert runner.invoke(args=["lianban", "calendar", "status"]).exit_code == 0
    timesource.set_now(shanghai(11, 15))
    result = runner.invoke(args=["lianban", "calendar", "status"])
    assert result.exit_code == 1 and "仅剩 46 天" in result.output
    with transaction(sessions) as session:
        calendar.import_schedule(session, NEXT_YEAR_SCHEDULE, "admin", source="国办发明电")
    assert runner.invoke(args=["lianban", "calendar", "status"]).exit_code == 0
