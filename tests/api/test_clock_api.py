"""/api/cases/{id}/clock and /api/supervision/clocks over HTTP, with a bundle from bpmn/."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.models import CaseClock
from orchestrator.services import cases, clock
from orchestrator.services.seed import seed_bundles
from orchestrator.workcalendar import SHANGHAI
from tests.helpers import start

BUNDLES = Path(__file__).resolve().parents[2] / "bpmn"
KEY = "company_deregistration"


def _case(client: FlaskClient, sessions: sessionmaker[Session], accepted: datetime | None = None) -> str:
    """Start a case over the Camunda API; with `accepted`, restart its clocks as if accepted then."""
    with transaction(sessions) as session:
        seed_bundles(session, BUNDLES)
    instance_id: str = start(client, KEY)["id"]
    if accepted is not None:
        with transaction(sessions) as session:
            session.execute(delete(CaseClock).where(CaseClock.instance_id == instance_id))
            clock.start_clocks(session, cases.lock_case(session, instance_id), "窗口", now=accepted,
                               policy=clock.WarnPolicy())
    return instance_id


def _problem(response: Any, status: int, field: str | None = None, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    if field is not None:
        assert body["field"] == field
    if code is not None:
        assert body["code"] == code
    return body


def test_get_the_clocks_of_a_case_in_shanghai_time_and_utc(client: FlaskClient,
                                                           sessions: sessionmaker[Session]) -> None:
    instance_id = _case(client, sessions, datetime(2026, 9, 25, 10, tzinfo=SHANGHAI))
    response = client.get(f"/api/cases/{instance_id}/clock")
    assert response.status_code == 200
    found = {c["kind"]: c for c in response.get_json()["clocks"]}
    assert found["statutory"]["deadline"] == "2026-10-29T23:59:59+08:00"
    assert found["statutory"]["deadline_utc"] == "2026-10-29T15:59:59+00:00"
    assert found["statutory"]["kind_name"] == "法定时限" and found["statutory"]["pauses"] == []
    assert found["committed"]["deadline_day"] == "2026-10-16"


def test_a_case_started_over_rest_gets_its_clocks(client: FlaskClient, sessions: sessionmaker[Session]) -> None:
    instance_id = _case(client, sessions)
    body = client.get(f"/api/cases/{instance_id}/clock").get_json()
    assert sorted(c["kind"] for c in body["clocks"]) == ["committed", "statutory"]
    assert all(c["status"] in ("NORMAL", "WARNING") for c in body["clocks"])


def test_pause_resume_and_extend_over_http(client: FlaskClient, sessions: sessionmaker[Session]) -> None:
    instance_id = _case(client, sessions, datetime(2026, 9, 25, 10, tzinfo=SHANGHAI))
    base = f"/api/cases/{instance_id}/clock"
    _problem(client.post(f"{base}/pause", json={"kind": "nap"}), 400, "kind")
    _problem(client.post(f"{base}/pause", json={}), 400, "kind")
    _problem(client.post(f"{base}/pause", data="not json", content_type="application/json"), 400, "body")
    _problem(client.post(f"{base}/resume"), 409, code="clock.not_paused")
    paused = client.post(f"{base}/pause", json={"kind": "hearing", "note": "申请人要求听证"})
    assert paused.status_code == 200, paused.get_json()
    assert {c["status"] for c in paused.get_json()["clocks"]} == {"PAUSED"}
    assert paused.get_json()["clocks"][0]["pauses"][0]["note"] == "申请人要求听证"
    twice = _problem(client.post(f"{base}/pause", json={"kind": "testing"}), 409, code="clock.already_paused")
    assert "已暂停" in twice["title"]
    resumed = client.post(f"{base}/resume")
    assert resumed.status_code == 200
    assert {c["status"] for c in resumed.get_json()["clocks"]} != {"PAUSED"}
    _problem(client.post(f"{base}/extend", json={"days": "5", "approved_by": "张局长", "reason": "核查"}), 400, "days")
    _problem(client.post(f"{base}/extend", json={"days": 5, "reason": "核查"}), 400, "approved_by")
    _problem(client.post(f"{base}/extend", json={"days": 5, "approved_by": "张局长"}), 400, "reason")
    _problem(client.post(f"{base}/extend", json={"days": 5, "approved_by": "张局长", "reason": "核查",
                                                 "kind": "bogus"}), 400, "kind")
    too_long = _problem(client.post(f"{base}/extend", json={"days": 16, "approved_by": "张局长", "reason": "核查"}),
                        400, "days", "clock.extension_too_long")
    assert "第四十二条" in too_long["title"] and too_long["max_days"] == 15
    extended = client.post(f"{base}/extend", json={"days": 5, "approved_by": "张局长", "reason": "需实地核查"})
    assert extended.status_code == 200
    statutory = next(c for c in extended.get_json()["clocks"] if c["kind"] == "statutory")
    assert statutory["extended_days"] == 5 and statutory["extensions"][0]["approved_by"] == "张局长"


def test_unknown_case_is_404_and_a_year_without_data_is_422(client: FlaskClient,
                                                            sessions: sessionmaker[Session]) -> None:
    _problem(client.get("/api/cases/no-such-case/clock"), 404, "id")
    _problem(client.post("/api/cases/no-such-case/clock/pause", json={"kind": "hearing"}), 404)
    _problem(client.post("/api/cases/no-such-case/clock/extend",
                         json={"days": 1, "approved_by": "张局长", "reason": "x"}), 404)
    instance_id = _case(client, sessions, datetime(2026, 12, 10, 10, tzinfo=SHANGHAI))  # runs into 2027
    statutory = next(c for c in client.get(f"/api/cases/{instance_id}/clock").get_json()["clocks"]
                     if c["kind"] == "statutory")
    assert statutory["deadline"] is None
    refused = _problem(client.post(f"/api/cases/{instance_id}/clock/extend",
                                   json={"days": 1, "approved_by": "张局长", "reason": "延期"}), 422,
                       code="calendar.no_data")
    assert refused["year"] == 2027 and "2027" in refused["title"]


def test_supervision_list_of_warning_and_overdue_cases(client: FlaskClient, sessions: sessionmaker[Session]) -> None:
    late = _case(client, sessions, datetime(2026, 9, 25, 10, tzinfo=SHANGHAI))
    _case(client, sessions, datetime(2026, 10, 20, 10, tzinfo=SHANGHAI))  # not yet due on 10-30
    clock.scan(sessions, datetime(2026, 10, 30, 9, tzinfo=SHANGHAI), clock.WarnPolicy())
    overdue = client.get("/api/supervision/clocks", query_string={"status": "OVERDUE", "bundle": KEY})
    assert overdue.status_code == 200
    items = overdue.get_json()["items"]
    assert [(i["instance_id"], i["kind"]) for i in items] == [(late, "committed"), (late, "statutory")]
    assert items[1]["overdue_at"] == "2026-10-30T09:00:00+08:00"
    assert client.get("/api/supervision/clocks", query_string={"status": "WARNING"}).get_json()["items"] == []
    both = client.get("/api/supervision/clocks", query_string={"kind": "statutory"}).get_json()["items"]
    assert [i["instance_id"] for i in both] == [late]
    early = client.get("/api/supervision/clocks", query_string={"due_before": "2026-10-17"}).get_json()["items"]
    assert [i["kind"] for i in early] == ["committed"]
    assert client.get("/api/supervision/clocks", query_string={"bundle": "newborn"}).get_json()["items"] == []
    _problem(client.get("/api/supervision/clocks", query_string={"status": "LATE"}), 400, "status")
    _problem(client.get("/api/supervision/clocks", query_string={"due_before": "tomorrow"}), 400, "due_before")
    _problem(client.get("/api/supervision/clocks", query_string={"kind": "x"}), 400, "kind")
    _problem(client.get("/api/supervision/clocks", query_string={"maxResults": "0"}), 400, "maxResults")
