"""Assignment from the diagram, claiming, delegation and who may complete, over the REST API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.models import AuditEvent, HumanTaskCandidate
from tests.helpers import deploy_paths, start, task_by_key, typed

DIAGRAM = Path(__file__).resolve().parents[1] / "bpmn" / "accounts" / "township_review.bpmn"


def _case(client: FlaskClient, township: str = "tiantan") -> tuple[str, dict[str, Any]]:
    client.post("/api/departments", json={"code": "dept-fire-rescue", "name": "消防救援支队", "level": "city"})
    deploy_paths(client, DIAGRAM)
    case = start(client, "township_review", {"applicant_township": township, "due_at": "2026-12-01T09:00:00+08:00"})
    return case["id"], task_by_key(client, case["id"], "task_township_review")


def test_an_expression_over_case_data_picks_the_township_office_and_the_lane_is_the_fallback(
        client: FlaskClient, client_as: Callable[..., FlaskClient]) -> None:
    case_id, task = _case(client)
    township = client_as("reviewer", departments=["township-tiantan"])
    other = client_as("reviewer", departments=["township-qinyuan"])
    assert [t["id"] for t in township.get("/engine-rest/task").get_json()] == [task["id"]]
    assert other.get("/engine-rest/task").get_json() == []
    assert other.get(f"/engine-rest/task/{task['id']}").get_json()["code"] == "auth.forbidden"
    assert township.post(f"/engine-rest/task/{task['id']}/complete", json={}).status_code == 204
    # The fire check names no candidates: its lane 消防救援支队 is the department of that name.
    fire = client_as("reviewer", departments=["dept-fire-rescue"])
    tasks = fire.get("/engine-rest/task").get_json()
    assert [t["taskDefinitionKey"] for t in tasks] == ["task_fire_check"] and tasks[0]["processInstanceId"] == case_id


def test_only_the_assignee_completes_and_a_second_claim_is_a_clean_conflict(
        client: FlaskClient, client_as: Callable[..., FlaskClient], sessions: sessionmaker[Session]) -> None:
    case_id, task = _case(client)
    first = client_as("reviewer", departments=["township-tiantan"], username="first")
    second = client_as("reviewer", departments=["township-tiantan"], username="second")
    assert first.post(f"/engine-rest/task/{task['id']}/claim", json={"userId": "first"}).status_code == 204
    conflict = second.post(f"/engine-rest/task/{task['id']}/claim", json={})
    assert conflict.status_code == 409 and conflict.get_json()["code"] == "task.already_claimed"
    assert "first" in conflict.get_json()["message_zh"]
    refused = second.post(f"/engine-rest/task/{task['id']}/complete", json={"variables": typed({"ok": True})})
    assert refused.status_code == 403 and refused.get_json()["code"] == "task.not_assignee"
    admin_refused = client.post(f"/engine-rest/task/{task['id']}/complete", json={})
    assert admin_refused.get_json()["code"] == "task.not_assignee"  # administrators claim first, like anyone
    with transaction(sessions) as session:
        rows = list(session.execute(select(HumanTaskCandidate.value, HumanTaskCandidate.assignee)
                                    .where(HumanTaskCandidate.task_id == task["id"])))
        assert rows == [("township-tiantan", "first")]  # the queue's copy follows the claim
    assert first.post(f"/engine-rest/task/{task['id']}/complete", json={}).status_code == 204
    with transaction(sessions) as session:
        assert session.scalar(select(HumanTaskCandidate.id).where(HumanTaskCandidate.task_id == task["id"])) is None
        events = [(e.event_type, e.actor) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.instance_id == case_id).order_by(AuditEvent.id))]
    assert ("task.claimed", "first") in events and ("task.completed", "first") in events


def test_completing_an_unclaimed_task_claims_it_for_the_candidate(
        client: FlaskClient, client_as: Callable[..., FlaskClient], sessions: sessionmaker[Session]) -> None:
    case_id, task = _case(client)
    outsider = client_as("reviewer", departments=["dept-fire-rescue"])
    assert outsider.post(f"/engine-rest/task/{task['id']}/complete", json={}).status_code == 403
    member = client_as("reviewer", departments=["township-tiantan"], username="member")
    assert member.post(f"/engine-rest/task/{task['id']}/complete", json={}).status_code == 204
    with transaction(sessions) as session:
        kinds = list(session.scalars(select(AuditEvent.event_type).where(AuditEvent.instance_id == case_id)
                                     .order_by(AuditEvent.id)))
    assert kinds.index("task.claimed") < kinds.index("task.completed")


def test_a_head_assigns_and_the_assignee_delegates_and_gets_it_back(
        client: FlaskClient, client_as: Callable[..., FlaskClient]) -> None:
    _, task = _case(client)
    url = f"/engine-rest/task/{task['id']}"
    head = client_as("department_head", departments=["township-tiantan"], username="head")
    staff = client_as("reviewer", departments=["township-tiantan"], username="staff")
    expert = client_as("reviewer", departments=["township-tiantan"], username="expert")
    outsider_name = client_as("reviewer", departments=["dept-fire-rescue"], username="outsider")
    assert outsider_name.get("/api/me").status_code == 200
    assert staff.post(f"{url}/assignee", json={"userId": "staff"}).get_json()["code"] == "auth.forbidden"
    not_candidate = head.post(f"{url}/assignee", json={"userId": "outsider"})
    assert not_candidate.status_code == 400 and not_candidate.get_json()["field"] == "userId"
    assert head.post(f"{url}/assignee", json={"userId": "staff"}).status_code == 204
    assert client.get(url).get_json()["assignee"] == "staff"
    assert staff.post(f"{url}/delegate", json={"userId": "expert"}).status_code == 204
    delegated = client.get(url).get_json()
    assert (delegated["assignee"], delegated["owner"], delegated["delegationState"]) == ("expert", "staff", "PENDING")
    assert expert.post(f"{url}/complete", json={}).get_json()["code"] == "task.delegated"
    assert expert.post(f"{url}/resolve", json={"variables": typed({"expert_opinion": "同意"})}).status_code == 204
    resolved = client.get(url).get_json()
    assert (resolved["assignee"], resolved["delegationState"]) == ("staff", "RESOLVED")
    assert staff.post(f"{url}/unclaim").status_code == 204
    assert client.get(url).get_json()["assignee"] is None
