"""GET /api/tasks: my tasks, my departments' unclaimed tasks, every open task in my scope; filters, order, pages.

Cases of tests/bpmn/accounts/township_review.bpmn: 乡镇初审 goes to `township-{applicant_township}` with the
due time of `due_at`; step limits come from tests/bpmn/timelimits/step-limits.bpmn on the controllable clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import timesource
from orchestrator.db import transaction
from orchestrator.models import AuditEvent
from orchestrator.services import step_limits
from orchestrator.workcalendar import SHANGHAI
from tests.helpers import deploy_paths, start, task_by_key

BPMN = Path(__file__).resolve().parents[1] / "bpmn"
TOWNSHIP = BPMN / "accounts" / "township_review.bpmn"
STEP_LIMITS = BPMN / "timelimits" / "step-limits.bpmn"


def _case(client: FlaskClient, township: str, due: str | None, number: str, applicant: str = "张三") -> str:
    variables: dict[str, Any] = {"applicant_township": township, "applicant_name": applicant}
    variables["due_at"] = due or ""
    case = start(client, "township_review", variables, business_key=number)
    return str(task_by_key(client, case["id"], "task_township_review")["id"])


def _ids(client: FlaskClient, **query: Any) -> list[str]:
    response = client.get("/api/tasks", query_string=query)
    assert response.status_code == 200, response.get_json()
    return [t["id"] for t in response.get_json()["items"]]


def _queue(client: FlaskClient) -> dict[str, str]:
    """Four cases in 天坛 (due 12-03, 12-01, none, 12-02) and one in 沁园 (due 11-30)."""
    deploy_paths(client, TOWNSHIP)
    return {
        "d3": _case(client, "tiantan", "2026-12-03T09:00:00+08:00", "TT-3"),
        "d1": _case(client, "tiantan", "2026-12-01T09:00:00+08:00", "TT-1", applicant="李四"),
        "none": _case(client, "tiantan", None, "TT-0"),
        "d2": _case(client, "tiantan", "2026-12-02T09:00:00+08:00", "TT-2"),
        "other": _case(client, "qinyuan", "2026-11-30T09:00:00+08:00", "QY-1"),
    }


def test_the_department_queue_is_due_first_with_no_due_date_last_and_never_another_township(
        client: FlaskClient, client_as: Callable[..., FlaskClient]) -> None:
    tasks = _queue(client)
    reviewer = client_as("reviewer", departments=["township-tiantan"], username="tt-reviewer")
    body = reviewer.get("/api/tasks?view=unclaimed").get_json()
    assert [t["id"] for t in body["items"]] == [tasks["d1"], tasks["d2"], tasks["d3"], tasks["none"]]
    assert body["total"] == 4 and body["view"] == "unclaimed" and body["page"] == 1
    first = body["items"][0]
    assert first["due"] == "2026-12-01T09:00:00+08:00" and first["due_utc"].startswith("2026-12-01T01:00:00")
    assert first["case_number"] == "TT-1" and first["bundle"] == "township_review" and first["applicant"] == "李四"
    assert first["candidate_groups"] == ["township-tiantan"] and first["assignee"] is None
    assert _ids(reviewer) == []  # mine is the default view, and nothing is mine yet


def test_claiming_moves_a_task_from_the_queue_to_mine_and_a_colleague_gets_a_clean_409(
        client: FlaskClient, client_as: Callable[..., FlaskClient]) -> None:
    tasks = _queue(client)
    me = client_as("reviewer", departments=["township-tiantan"], username="me")
    colleague = client_as("reviewer", departments=["township-tiantan"], username="colleague")
    claimed = me.post(f"/api/tasks/{tasks['d2']}/claim", json={})
    assert claimed.status_code == 200 and claimed.get_json()["assignee"] == "me"
    conflict = colleague.post(f"/api/tasks/{tasks['d2']}/claim")
    assert conflict.status_code == 409 and conflict.get_json()["code"] == "task.already_claimed"
    assert _ids(me, view="mine") == [tasks["d2"]]
    assert _ids(colleague, view="unclaimed") == [tasks["d1"], tasks["d3"], tasks["none"]]
    assert _ids(colleague, view="all") == [tasks["d1"], tasks["d2"], tasks["d3"], tasks["none"]]
    assert me.post(f"/api/tasks/{tasks['d2']}/unclaim").get_json()["assignee"] is None
    assert _ids(me, view="mine") == []


def test_a_head_assigns_and_the_assignee_delegates_and_resolves_through_the_json_routes(
        client: FlaskClient, client_as: Callable[..., FlaskClient], sessions: sessionmaker[Session]) -> None:
    tasks = _queue(client)
    staff_a = client_as("reviewer", departments=["township-tiantan"], username="staff-a")
    staff_b = client_as("reviewer", departments=["township-tiantan"], username="staff-b")
    head = client_as("department_head", departments=["township-tiantan"], username="tt-head")
    assigned = head.post(f"/api/tasks/{tasks['d1']}/assignee", json={"userId": "staff-a"})
    assert assigned.status_code == 200 and assigned.get_json()["assignee"] == "staff-a"
    reviewer = client_as("reviewer", departments=["township-tiantan"], username="tt-reviewer")
    refused = reviewer.post(f"/api/tasks/{tasks['d1']}/assignee", json={"userId": "tt-reviewer"})
    assert refused.status_code == 403
    delegated = staff_a.post(f"/api/tasks/{tasks['d1']}/delegate",
                             json={"userId": "staff-b", "reason": "请核对营业面积"}).get_json()
    assert (delegated["assignee"], delegated["owner"], delegated["delegation_state"]) == ("staff-b", "staff-a",
                                                                                         "PENDING")
    assert _ids(staff_b, view="mine") == [tasks["d1"]]
    resolved = staff_b.post(f"/api/tasks/{tasks['d1']}/resolve", json={"reason": "面积无误"}).get_json()
    assert (resolved["assignee"], resolved["delegation_state"]) == ("staff-a", "RESOLVED")
    with transaction(sessions) as session:
        reasons = [(e.event_type, e.payload["reason"]) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.event_type.in_(("task.delegated", "task.resolved")))
            .order_by(AuditEvent.id))]
    assert reasons == [("task.delegated", "请核对营业面积"), ("task.resolved", "面积无误")]
    bad = staff_a.post(f"/api/tasks/{tasks['d1']}/delegate", json={"userId": 7})
    assert bad.status_code == 400 and bad.get_json()["field"] == "userId"


def test_filters_by_bundle_case_number_applicant_and_due_dates(
        client: FlaskClient, client_as: Callable[..., FlaskClient]) -> None:
    tasks = _queue(client)
    reviewer = client_as("reviewer", departments=["township-tiantan"])
    assert _ids(reviewer, view="unclaimed", case_number="TT-3") == [tasks["d3"]]
    assert _ids(reviewer, view="unclaimed", applicant="李四") == [tasks["d1"]]
    assert _ids(reviewer, view="unclaimed", bundle="no_such_bundle") == []
    assert _ids(reviewer, view="unclaimed", bundle="township_review") == [tasks["d1"], tasks["d2"], tasks["d3"],
                                                                           tasks["none"]]
    # Dates are Shanghai days: before 12-03 00:00, after 12-01 09:00 (exclusive).
    assert _ids(reviewer, view="unclaimed", due_before="2026-12-03") == [tasks["d1"], tasks["d2"]]
    assert _ids(reviewer, view="unclaimed", due_after="2026-12-01T09:00:00+08:00") == [tasks["d2"], tasks["d3"]]
    assert _ids(reviewer, view="all", due_before="2026-12-03", due_after="2026-12-01") == [tasks["d1"], tasks["d2"]]


def test_pages_count_the_whole_list_with_page_and_per_page_or_first_result_and_max_results(
        client: FlaskClient, client_as: Callable[..., FlaskClient]) -> None:
    tasks = _queue(client)
    # A head of two townships sees both queues merged in one due order, each task once.
    head = client_as("department_head", departments=["township-tiantan", "township-qinyuan"])
    everything = [tasks["other"], tasks["d1"], tasks["d2"], tasks["d3"], tasks["none"]]
    assert _ids(head, view="unclaimed") == everything
    second = head.get("/api/tasks", query_string={"view": "unclaimed", "page": 2, "per_page": 2}).get_json()
    assert [t["id"] for t in second["items"]] == everything[2:4] and second["total"] == 5
    assert (second["page"], second["per_page"], second["first"]) == (2, 2, 2)
    camunda = head.get("/api/tasks", query_string={"view": "all", "firstResult": 3, "maxResults": 5}).get_json()
    assert [t["id"] for t in camunda["items"]] == everything[3:] and camunda["total"] == 5
    admin_all = client.get("/api/tasks", query_string={"view": "all", "per_page": 100}).get_json()
    assert [t["id"] for t in admin_all["items"]] == everything and admin_all["total"] == 5


def test_bad_parameters_are_400_naming_the_parameter(client: FlaskClient,
                                                     client_as: Callable[..., FlaskClient]) -> None:
    reviewer = client_as("reviewer", departments=["township-tiantan"])
    for query, field in (({"view": "everything"}, "view"), ({"per_page": 101}, "per_page"),
                         ({"page": 0}, "page"), ({"maxResults": 0}, "maxResults"), ({"firstResult": -1}, "firstResult"),
                         ({"page": "x"}, "page"), ({"warning_state": "RED"}, "warning_state"),
                         ({"due_before": "tomorrow"}, "due_before"), ({"case_number": "x" * 300}, "case_number")):
        response = reviewer.get("/api/tasks", query_string=query)
        assert response.status_code == 400, query
        problem = response.get_json()
        assert problem["field"] == field and problem["message_zh"], query


def test_a_supervisor_reads_all_in_scope_and_an_applicant_is_refused(
        client: FlaskClient, client_as: Callable[..., FlaskClient]) -> None:
    tasks = _queue(client)
    for code, level, parent in (("district-jiyuan", "district", None), ("township-qinyuan", "township",
                                                                        "district-jiyuan")):
        created = client.post("/api/departments", json={"code": code, "name": code, "level": level, "parent": parent})
        assert created.status_code == 201, created.get_json()
    supervisor = client_as("supervisor", departments=["township-qinyuan"])
    assert _ids(supervisor, view="all") == [tasks["other"]]
    assert _ids(supervisor, view="unclaimed") == []  # supervisors read; they claim nothing
    applicant = client_as("applicant")
    assert applicant.get("/api/tasks").status_code == 403


def test_the_warning_state_filter_reads_the_step_limit_on_the_task_row(
        client: FlaskClient, client_as: Callable[..., FlaskClient], sessions: sessionmaker[Session]) -> None:
    deploy_paths(client, STEP_LIMITS)
    timesource.set_now(datetime(2026, 10, 9, 10, 0, tzinfo=SHANGHAI))  # Friday; the step has 2 working days
    late = start(client, "step_limits")["id"]
    timesource.set_now(datetime(2026, 10, 13, 9, 0, tzinfo=SHANGHAI))
    fresh = start(client, "step_limits")["id"]
    step_limits.scan(sessions)
    reviewer = client_as("reviewer", departments=["dept-a"])
    items = reviewer.get("/api/tasks?view=unclaimed").get_json()["items"]
    states = {t["instance_id"]: t["warning_state"] for t in items}
    assert states[late] == "OVERDUE" and states[fresh] in ("NORMAL", "WARNING")
    overdue = reviewer.get("/api/tasks?view=unclaimed&warning_state=OVERDUE").get_json()
    assert [t["instance_id"] for t in overdue["items"]] == [late] and overdue["total"] == 1
    others = reviewer.get("/api/tasks?view=unclaimed&warning_state=NORMAL,WARNING").get_json()["items"]
    assert [t["instance_id"] for t in others] == [fresh]
