"""An administrator's 工作台 shows a Chinese banner while the holiday calendar runs out; nobody else sees it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import timesource, workcalendar
from orchestrator.db import transaction
from orchestrator.services import calendar
from orchestrator.workcalendar import SHANGHAI

LAST = workcalendar.LIBRARY_YEARS.stop - 1


def _page(client: FlaskClient) -> str:
    response = client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_banner_shows_inside_the_window_to_administrators_only_and_goes_with_the_import(
        sessions: sessionmaker[Session], client_as: Callable[..., FlaskClient]) -> None:
    admin, reviewer = client_as("administrator"), client_as("reviewer", departments=["dept-a"])
    timesource.set_now(datetime(LAST, 6, 1, 9, tzinfo=SHANGHAI))
    assert 'id="calendar-warning"' not in _page(admin)

    timesource.set_now(datetime(LAST, 12, 1, 9, tzinfo=SHANGHAI))
    page = _page(admin)
    assert 'id="calendar-warning"' in page and f"日历数据截至 {LAST} 年底，仅剩 30 天" in page
    assert f"导入 {LAST + 1} 年的节假日安排" in page
    assert 'id="calendar-warning"' not in _page(reviewer)

    with transaction(sessions) as session:
        calendar.import_schedule(session, f"{LAST + 1}-01-01 休 元旦", "admin")
    assert 'id="calendar-warning"' not in _page(admin)


def test_a_year_imported_by_another_process_ends_the_warning_in_this_one(
        sessions: sessionmaker[Session], client_as: Callable[..., FlaskClient]) -> None:
    admin = client_as("administrator")
    timesource.set_now(datetime(LAST, 12, 1, 9, tzinfo=SHANGHAI))
    with transaction(sessions) as session:
        calendar.import_schedule(session, f"{LAST + 1}-01-01 休 元旦", "admin")
    workcalendar.set_overrides({}, set())  # this process has not seen the import: the CLI or a worker made it
    assert 'id="calendar-warning"' not in _page(admin)
    workcalendar.set_overrides({}, set())
    status = admin.get("/api/calendar/status").get_json()
    assert status["warning"] is False and status["last_year"] == LAST + 1
