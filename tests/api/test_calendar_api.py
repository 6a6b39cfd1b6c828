"""/api/calendar: year listing, day overrides, imports (errors name the line), status, deadlines, audit."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.models import AuditEvent
from orchestrator.services.audit import verify_chain

SCHEDULE_2027 = """# 2027 年节假日安排（测试用，非国务院正式通知）
2027-01-01 休 元旦
2027-02-06 休 春节
2027-02-07 休 春节
2027-02-13 班 春节调休
"""


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.data[:300]
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["message_zh"] and body["message_en"] and "Traceback" not in response.get_data(as_text=True)
    return body


def _events(sessions: sessionmaker[Session]) -> list[AuditEvent]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.event_type.like("calendar.%"))
                                    .order_by(AuditEvent.id)))


def test_a_library_year_lists_every_day_with_its_source(client: FlaskClient) -> None:
    body = client.get("/api/calendar/2026").get_json()
    assert body["year"] == 2026 and body["in_library"] and len(body["days"]) == 365
    days = {d["date"]: d for d in body["days"]}
    assert days["2026-10-10"] == {"date": "2026-10-10", "weekday": "周六", "is_workday": True, "source": "library",
                                  "name": "国庆节调休上班", "note": None}
    assert days["2026-10-01"]["name"] == "国庆节" and not days["2026-10-01"]["is_workday"]
    assert days["2026-09-25"]["name"] == "中秋" and not days["2026-09-25"]["is_workday"]  # the library says 中秋


def test_a_year_without_data_is_422(client: FlaskClient) -> None:
    body = _problem(client.get("/api/calendar/2027"), 422)
    assert body["code"] == "calendar.no_data" and body["year"] == 2027
    body = _problem(client.get("/api/calendar/deadline", query_string={"start": "2026-12-20", "days": 20}), 422)
    assert body["code"] == "calendar.no_data"


def test_deadline_states_the_date_and_the_pinned_rule(client: FlaskClient) -> None:
    body = client.get("/api/calendar/deadline", query_string={"start": "2026-09-25", "days": 20}).get_json()
    assert body["deadline"] == "2026-10-29" and body["first_day"] == "2026-09-28"
    assert body["start_is_workday"] is False and body["due"] == "2026-10-29T23:59:59+08:00"
    assert "受理当日不计入期限" in body["rule"]


@pytest.mark.parametrize(("query", "field"), [
    ({"start": "2026-09-31", "days": 20}, "start"),
    ({"days": 20}, "start"),
    ({"start": "2026-09-25", "days": "twenty"}, "days"),
    ({"start": "2026-09-25", "days": -1}, "days"),
    ({"start": "2026-09-25"}, "days"),
])
def test_bad_deadline_queries_name_the_field(client: FlaskClient, query: dict[str, Any], field: str) -> None:
    assert _problem(client.get("/api/calendar/deadline", query_string=query), 400)["field"] == field


def test_a_day_override_moves_deadlines_and_is_audited(client: FlaskClient,
                                                       sessions: sessionmaker[Session]) -> None:
    # A local extra holiday on 2026-10-29 pushes the 20th working day to 10-30.
    response = client.put("/api/calendar/days/2026-10-29", json={"is_workday": False, "name": "地方临时休假",
                                                                 "note": "测试"})
    assert response.status_code == 200 and response.get_json()["updated_by"] == "admin"
    query = {"start": "2026-09-25", "days": 20}
    assert client.get("/api/calendar/deadline", query_string=query).get_json()["deadline"] == "2026-10-30"
    day = next(d for d in client.get("/api/calendar/2026").get_json()["days"] if d["date"] == "2026-10-29")
    assert day["source"] == "override" and day["name"] == "地方临时休假"
    assert client.delete("/api/calendar/days/2026-10-29").status_code == 204
    assert client.get("/api/calendar/deadline", query_string=query).get_json()["deadline"] == "2026-10-29"
    assert _problem(client.delete("/api/calendar/days/2026-10-29"), 404)["field"] == "date"
    events = _events(sessions)
    assert [e.event_type for e in events] == ["calendar.day_set", "calendar.day_deleted"]
    assert events[0].actor == "admin" and events[0].payload["after"]["is_workday"] is False
    with sessions() as session:
        assert verify_chain(session, None) is None


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/calendar/days/2026-13-01", {"is_workday": True}, "date"),
    ("/api/calendar/days/2026-10-29", {"is_workday": "yes"}, "is_workday"),
    ("/api/calendar/days/2026-10-29", {"is_workday": True, "name": "x" * 65}, "name"),
])
def test_bad_day_overrides_name_the_field(client: FlaskClient, path: str, body: dict[str, Any], field: str) -> None:
    assert _problem(client.put(path, json=body), 400)["field"] == field


def test_importing_a_year_makes_it_computable(client: FlaskClient, sessions: sessionmaker[Session]) -> None:
    response = client.post("/api/calendar/import", data=SCHEDULE_2027.encode(), content_type="text/plain",
                           query_string={"source": "测试通知", "published_at": "2026-11-10"})
    assert response.status_code == 200, response.data
    assert response.get_json()["years"] == [2027]
    year = client.get("/api/calendar/2027").get_json()
    assert year["complete"] and year["source"] == "测试通知" and year["published_at"] == "2026-11-10"
    days = {d["date"]: d for d in year["days"]}
    assert days["2027-02-13"]["is_workday"] and days["2027-02-13"]["source"] == "override"
    assert days["2027-03-01"] == {"date": "2027-03-01", "weekday": "周一", "is_workday": True,
                                  "source": "weekend_rule", "name": None, "note": None}
    body = client.get("/api/calendar/deadline", query_string={"start": "2026-12-28", "days": 5}).get_json()
    assert body["deadline"] == "2027-01-05"  # 12-29, 12-30, 12-31, (01-01 元旦), 01-04, 01-05
    status = client.get("/api/calendar/status").get_json()
    assert status["last_year"] >= 2027 and 2027 in status["complete_override_years"]
    [event] = _events(sessions)
    assert event.event_type == "calendar.imported" and event.actor == "admin" and event.payload["days"] == 4


def test_import_by_multipart_file(client: FlaskClient) -> None:
    data = {"file": (io.BytesIO(SCHEDULE_2027.encode("utf-8-sig")), "2027.txt")}
    response = client.post("/api/calendar/import", data=data, content_type="multipart/form-data")
    assert response.status_code == 200 and response.get_json()["holidays"] == 3


@pytest.mark.parametrize(("text", "line"), [
    ("2027-01-01 休 元旦\n# 注释\n2027-02-30 休 春节\n", 3),
    ("2027-01-01 放假\n", 1),
    ("2027-01-01 休 元旦\n2027-01-01 班\n", 2),
    ("2027-01-01\n", 1),
])
def test_import_errors_name_the_line_and_change_nothing(client: FlaskClient, sessions: sessionmaker[Session],
                                                        text: str, line: int) -> None:
    body = _problem(client.post("/api/calendar/import", data=text.encode(), content_type="text/plain"), 400)
    assert body["field"] == f"line {line}" and body["line"] == line and f"第 {line} 行" in body["message_zh"]
    assert body["code"] == "calendar.bad_import"
    _problem(client.get("/api/calendar/2027"), 422)
    assert _events(sessions) == []


def test_import_refuses_non_utf8_and_empty_files(client: FlaskClient) -> None:
    assert _problem(client.post("/api/calendar/import", data="2027-01-01 休".encode("gbk"),
                                content_type="text/plain"), 400)["field"] == "file"
    assert _problem(client.post("/api/calendar/import", data=b"# nothing\n", content_type="text/plain"),
                    400)["field"] == "file"


def test_marking_a_year_complete(client: FlaskClient, sessions: sessionmaker[Session]) -> None:
    assert client.put("/api/calendar/years/2028", json={"complete": True, "source": "手工"}).status_code == 200
    assert client.get("/api/calendar/2028").get_json()["complete"] is True
    assert _problem(client.put("/api/calendar/years/2028", json={"complete": "1"}), 400)["field"] == "complete"
    assert [e.event_type for e in _events(sessions)] == ["calendar.year_marked"]


def test_status_reports_the_horizon(client: FlaskClient) -> None:
    body = client.get("/api/calendar/status").get_json()
    assert {"last_year", "last_day", "days_left", "warning", "message"} <= set(body)
    assert body["library_years"] == [2004, 2026]
