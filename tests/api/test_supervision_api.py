"""The supervision board over HTTP, on the controllable clock set through the test-only hook /api/test/clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.scheduler import run_round
from orchestrator.services import accounts
from tests.helpers import complete, deploy_paths, open_tasks, start

DIAGRAM = Path(__file__).resolve().parents[1] / "bpmn" / "timelimits" / "step-limits.bpmn"


def set_clock(client: FlaskClient, moment: str) -> None:
    response = client.put("/api/test/clock", json={"now": moment})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["frozen"] is True


def problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_json()
    assert response.content_type.startswith("application/problem+json")
    body: dict[str, Any] = response.get_json()
    if field is not None:
        assert body.get("field") == field, body
    return body


def overdue_case(client: FlaskClient, sessions: sessionmaker[Session]) -> tuple[str, str]:
    """A case accepted on Friday 2026-10-09 whose review step (2 working days) is overdue on Tuesday 10-13."""
    set_clock(client, "2026-10-09T10:00:00+08:00")
    deploy_paths(client, DIAGRAM)
    instance_id = start(client, "step_limits", business_key="TL-1")["id"]
    set_clock(client, "2026-10-12T09:00:00+08:00")
    run_round(sessions)
    set_clock(client, "2026-10-13T09:00:00+08:00")
    run_round(sessions)
    [task] = open_tasks(client, instance_id)
    return instance_id, task["id"]


def test_warning_and_overdue_lists_filter_by_department_bundle_and_date(client: FlaskClient,
                                                                      sessions: sessionmaker[Session]) -> None:
    set_clock(client, "2026-10-09T10:00:00+08:00")
    deploy_paths(client, DIAGRAM)
    instance_id = start(client, "step_limits")["id"]
    set_clock(client, "2026-10-12T09:00:00+08:00")
    run_round(sessions)

    warnings = client.get("/api/supervision/warnings", query_string={"department": "dept-a"}).get_json()
    assert [(s["instance_id"], s["activity_id"], s["limit_state"]) for s in warnings["steps"]] == [
        (instance_id, "review", "WARNING")]
    assert warnings["steps"][0]["due"] == "2026-10-12T23:59:59+08:00"
    assert client.get("/api/supervision/warnings", query_string={"department": "dept-b"}).get_json()["steps"] == []
    assert client.get("/api/supervision/warnings", query_string={"bundle": "other"}).get_json()["steps"] == []
    assert len(client.get("/api/supervision/warnings", query_string={"to": "2026-10-13"}).get_json()["steps"]) == 1
    assert client.get("/api/supervision/warnings", query_string={"from": "2026-10-13"}).get_json()["steps"] == []
    assert client.get("/api/supervision/overdue").get_json()["steps"] == []

    set_clock(client, "2026-10-16T09:00:00+08:00")  # the case's 5 working days ended with Thursday 10-15
    run_round(sessions)
    overdue = client.get("/api/supervision/overdue", query_string={"department": "dept-lead"}).get_json()
    assert [c["instance_id"] for c in overdue["cases"]] == [instance_id]
    assert overdue["cases"][0]["department"] == "dept-lead"
    assert [s["activity_id"] for s in client.get("/api/supervision/overdue").get_json()["steps"]] == ["review"]


def test_supervisor_actions_remind_note_and_reassign_notify_and_are_recorded(client: FlaskClient,
                                                                           sessions: sessionmaker[Session]) -> None:
    instance_id, task_id = overdue_case(client, sessions)

    items = client.get("/api/supervision/items", query_string={"status": "OPEN"}).get_json()["items"]
    assert [(i["scope"], i["task_id"], i["department"]) for i in items] == [("step", task_id, "dept-a")]
    assert items[0]["deadline"] == "2026-10-16T23:59:59+08:00" and items[0]["item_overdue"] is False

    reminded = client.post(f"/api/cases/{instance_id}/remind", json={"text": "今日务必办结"})
    assert reminded.status_code == 200 and reminded.get_json()["details"]["recipients"] == ["group:dept-a"]
    noted = client.post(f"/api/cases/{instance_id}/notes", json={"text": "已电话督促", "item_id": items[0]["id"]})
    assert noted.status_code == 200
    moved = client.post(f"/api/tasks/{task_id}/reassign", json={"assignee": "王五", "reason": "原经办人休假"})
    assert moved.status_code == 200 and moved.get_json()["details"] == {"from": None, "to": "王五"}
    assert open_tasks(client, instance_id)[0]["assignee"] == "王五"

    actions = client.get(f"/api/cases/{instance_id}/notes").get_json()["actions"]
    assert [a["action"] for a in actions] == ["remind", "note", "reassign"]
    inbox = client.get("/api/notifications", query_string={"recipient": "group:dept-a"}).get_json()
    assert [n["kind"] for n in inbox["items"]] == ["remind", "step.overdue", "step.warning"]
    assert inbox["unread"] == 3
    first = inbox["items"][0]["id"]
    read = client.post(f"/api/notifications/{first}/read", query_string={"recipient": "group:dept-a"})
    assert read.status_code == 200 and read.get_json()["read_at"] is not None
    assert client.get("/api/notifications", query_string={"recipient": "group:dept-a"}).get_json()["unread"] == 2
    assert [n["kind"] for n in client.get("/api/notifications", query_string={"recipient": "user:王五"})
            .get_json()["items"]] == ["reassign"]

    closed = client.post(f"/api/supervision/items/{items[0]['id']}/close", json={"reason": "已办结"})
    assert closed.status_code == 200 and closed.get_json()["status"] == "CLOSED"
    problem(client.post(f"/api/supervision/items/{items[0]['id']}/close", json={"reason": "再次"}), 409)


def test_statistics_on_time_rate_handling_and_step_times(client: FlaskClient, sessions: sessionmaker[Session]) -> None:
    instance_id, task_id = overdue_case(client, sessions)
    complete(client, task_id)
    set_clock(client, "2026-10-14T09:00:00+08:00")
    [sign] = open_tasks(client, instance_id)
    complete(client, sign["id"])

    rate = client.get("/api/supervision/on-time-rate", query_string={"from": "2026-10-01"}).get_json()
    assert rate["cases"]["by_bundle"] == [{"bundle": "step_limits", "on_time": 1, "total": 1, "rate": 1.0}]
    assert {r["department"]: r["rate"] for r in rate["steps"]["by_department"]} == {"dept-a": 0.0, "dept-lead": 1.0}
    assert client.get("/api/supervision/on-time-rate", query_string={"to": "2026-10-01"}).get_json()[
        "cases"]["by_bundle"] == []

    handling = client.get("/api/supervision/handling-times", query_string={"bundle": "step_limits"}).get_json()
    [handled] = handling["items"]
    # accepted Friday 10-09, finished Wednesday 10-14: 10-10 (make-up Saturday), 10-12, 10-13, 10-14
    assert (handled["used_workdays"], handled["limit_workdays"], handled["within_limit"]) == (4, 5, True)

    steps = {s["activity_id"]: s for s in client.get("/api/supervision/step-times").get_json()["items"]}
    assert steps["review"]["count"] == 1 and steps["review"]["on_time_rate"] == 0.0
    assert steps["review"]["mean_hours"] == 4 * 24 - 1  # Friday 10:00 → Tuesday 09:00
    assert steps["sign"]["limit_days"] == 1 and steps["sign"]["on_time_rate"] == 1.0


def test_bad_input_is_refused_naming_the_field(client: FlaskClient, sessions: sessionmaker[Session]) -> None:
    instance_id, task_id = overdue_case(client, sessions)
    problem(client.get("/api/supervision/overdue", query_string={"from": "tomorrow"}), 400, "from")
    problem(client.get("/api/supervision/items", query_string={"status": "DONE"}), 400, "status")
    problem(client.get("/api/supervision/on-time-rate", query_string={"kind": "weekly"}), 400, "kind")
    problem(client.get("/api/supervision/warnings", query_string={"maxResults": "0"}), 400, "maxResults")
    problem(client.post(f"/api/tasks/{task_id}/reassign", json={"assignee": "王五"}), 400, "reason")
    problem(client.post(f"/api/tasks/{task_id}/reassign", json={"assignee": 5, "reason": "x"}), 400, "assignee")
    problem(client.post("/api/tasks/no-such-task/reassign", json={"assignee": "王五", "reason": "x"}), 404)
    problem(client.post("/api/cases/no-such-case/remind", json={}), 404)
    problem(client.post(f"/api/cases/{instance_id}/notes", json={"text": "  "}), 400, "text")
    problem(client.post(f"/api/cases/{instance_id}/notes", json={"text": "x", "item_id": "one"}), 400, "item_id")
    problem(client.get("/api/notifications", query_string={"recipient": "everyone"}), 400, "recipient")
    problem(client.put("/api/test/clock", json={"now": "soon"}), 400, "now")
    # nothing stored was lost
    assert open_tasks(client, instance_id)[0]["id"] == task_id


def test_the_clock_hook_exists_only_in_tests(app: Flask, client: FlaskClient) -> None:
    assert client.get("/api/test/clock").status_code == 200
    app.config["TESTING"] = False
    try:
        problem(client.put("/api/test/clock", json={"now": "2030-01-01T00:00:00Z"}), 404)
    finally:
        app.config["TESTING"] = True
    assert client.get("/api/test/clock").get_json()["frozen"] is False


def test_each_user_reads_the_notifications_addressed_to_them(client: FlaskClient, sessions: sessionmaker[Session],
                                                              client_as: Callable[..., FlaskClient]) -> None:
    overdue_case(client, sessions)
    reviewer = client_as("reviewer", departments=["dept-a"])
    assert [n["kind"] for n in reviewer.get("/api/notifications").get_json()["items"]] == ["step.overdue",
                                                                                           "step.warning"]
    head = client_as("department_head", departments=["dept-a"])
    assert {(n["recipient"], n["kind"]) for n in head.get("/api/notifications").get_json()["items"]} >= {
        ("head:dept-a", "step.overdue")}
    supervisor = client_as("supervisor")
    assert [n["recipient"] for n in supervisor.get("/api/notifications").get_json()["items"]] == ["role:supervisor"]
    problem(reviewer.get("/api/notifications", query_string={"recipient": "role:supervisor"}), 403)
    problem(client_as("reviewer", departments=["dept-b"]).get("/api/supervision/overdue"), 403)


def test_heads_and_district_supervisors_read_only_their_departments_lists_and_city_supervisors_read_all(
        client: FlaskClient, sessions: sessionmaker[Session], client_as: Callable[..., FlaskClient],
        run_in_tx: Any) -> None:
    for code, level, parent in (("city-root", "city", None), ("district-n", "district", "city-root"),
                                ("district-m", "district", "city-root"), ("dept-a", "township", "district-n")):
        run_in_tx(accounts.create_department, code, code, level, parent, "test")
    instance_id, task_id = overdue_case(client, sessions)  # the review step of dept-a is red, with a 督办 item

    def overdue_steps(reader: FlaskClient, **query: str) -> list[str]:
        response = reader.get("/api/supervision/overdue", query_string=query)
        assert response.status_code == 200, response.get_json()
        return [s["activity_id"] for s in response.get_json()["steps"]]

    def item_departments(reader: FlaskClient) -> list[str]:
        return [i["department"] for i in reader.get("/api/supervision/items").get_json()["items"]]

    readers = {"head of dept-a": client_as("department_head", departments=["dept-a"]),
               "supervisor of district-n (above dept-a)": client_as("supervisor", departments=["district-n"]),
               "city-level supervisor": client_as("supervisor", departments=["city-root"]),
               "administrator": client}
    for name, reader in readers.items():
        assert overdue_steps(reader) == ["review"], name
        assert item_departments(reader) == ["dept-a"], name
    others = {"head of dept-lead": client_as("department_head", departments=["dept-lead"]),
              "supervisor of district-m": client_as("supervisor", departments=["district-m"])}
    for name, reader in others.items():
        assert overdue_steps(reader) == [], name
        assert item_departments(reader) == [], name
        problem(reader.get("/api/supervision/overdue", query_string={"department": "dept-a"}), 403, "department")
        problem(reader.get("/api/supervision/items", query_string={"department": "dept-a"}), 403, "department")

    complete(client, task_id)
    set_clock(client, "2026-10-14T09:00:00+08:00")
    [sign] = open_tasks(client, instance_id)
    complete(client, sign["id"])  # the sign step belongs to dept-lead, the bundle's lead department

    def rated_departments(reader: FlaskClient) -> tuple[list[str], list[str]]:
        rate = reader.get("/api/supervision/on-time-rate").get_json()
        return ([r["department"] for r in rate["cases"]["by_department"]],
                [r["department"] for r in rate["steps"]["by_department"]])

    assert rated_departments(readers["head of dept-a"]) == ([], ["dept-a"])
    assert rated_departments(others["head of dept-lead"]) == (["dept-lead"], ["dept-lead"])
    assert rated_departments(readers["city-level supervisor"]) == (["dept-lead"], ["dept-a", "dept-lead"])
    assert [s["activity_id"] for s in readers["head of dept-a"].get("/api/supervision/step-times")
            .get_json()["items"]] == ["review"]
    assert [h["instance_id"] for h in others["head of dept-lead"].get("/api/supervision/handling-times")
            .get_json()["items"]] == [instance_id]
    assert readers["head of dept-a"].get("/api/supervision/handling-times").get_json()["items"] == []
