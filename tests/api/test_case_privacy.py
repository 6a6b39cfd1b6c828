"""Applicants see only their own cases; personal ID numbers are masked unless someone with a need asks.

Cases of tests/bpmn/accounts/township_review.bpmn, started by two applicants through /engine-rest; the
township review goes to `township-{applicant_township}`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.models import AuditEvent
from orchestrator.services.audit import verify_all
from tests.helpers import deploy_paths, start, task_by_key

TOWNSHIP = Path(__file__).resolve().parents[1] / "bpmn" / "accounts" / "township_review.bpmn"
ID_NUMBER = "630102198801011234"
MASKED = "6301**********1234"


def _start_as(applicant: FlaskClient, number: str) -> str:
    return str(start(applicant, "township_review", {"applicant_township": "tiantan", "due_at": "",
                                                    "applicant_id_number": ID_NUMBER, "applicant_name": "王五"},
                     business_key=number)["id"])


def _viewed(sessions: sessionmaker[Session]) -> list[tuple[str | None, str, list[str], str]]:
    with transaction(sessions) as session:
        return [(e.actor, e.payload["instance_id"], e.payload["variables"], e.payload["via"])
                for e in session.scalars(select(AuditEvent).where(AuditEvent.event_type == "pii.viewed")
                                         .order_by(AuditEvent.id))]


def test_an_applicant_lists_counts_and_reads_only_its_own_cases(
        client: FlaskClient, client_as: Callable[..., FlaskClient]) -> None:
    deploy_paths(client, TOWNSHIP)
    alice, bob = client_as("applicant", username="alice"), client_as("applicant", username="bob")
    mine, theirs = _start_as(alice, "A-1"), _start_as(bob, "B-1")
    assert [c["id"] for c in alice.get("/engine-rest/process-instance").get_json()] == [mine]
    assert alice.get("/engine-rest/process-instance/count").get_json() == {"count": 1}
    assert alice.get("/engine-rest/process-instance", query_string={"businessKey": "B-1"}).get_json() == []
    for path in (f"/engine-rest/process-instance/{theirs}", f"/engine-rest/process-instance/{theirs}/variables",
                 f"/engine-rest/history/process-instance/{theirs}", f"/api/cases/{theirs}/clock"):
        refused = alice.get(path)
        assert refused.status_code == 403 and refused.get_json()["code"] == "auth.forbidden", path
    assert alice.get(f"/engine-rest/process-instance/{mine}").status_code == 200
    assert alice.get("/engine-rest/task").status_code == 403  # task lists are for staff
    # Administrators (and top supervisors) list every case.
    assert {c["id"] for c in client.get("/engine-rest/process-instance").get_json()} == {mine, theirs}
    assert client.get("/engine-rest/process-instance/count").get_json() == {"count": 2}


def test_a_supervisor_lists_the_cases_of_its_departments_only(
        client: FlaskClient, client_as: Callable[..., FlaskClient]) -> None:
    deploy_paths(client, TOWNSHIP)
    for code, level, parent in (("district-jiyuan", "district", None),
                                ("township-tiantan", "township", "district-jiyuan"),
                                ("township-qinyuan", "township", "district-jiyuan")):
        assert client.post("/api/departments", json={"code": code, "name": code, "level": level,
                                                     "parent": parent}).status_code == 201
    applicant = client_as("applicant")
    tiantan = _start_as(applicant, "T-1")
    qinyuan = str(start(applicant, "township_review", {"applicant_township": "qinyuan", "due_at": ""})["id"])
    township = client_as("supervisor", departments=["township-qinyuan"])
    assert [c["id"] for c in township.get("/engine-rest/process-instance").get_json()] == [qinyuan]
    district = client_as("supervisor", departments=["district-jiyuan"])  # top level: every case
    assert {c["id"] for c in district.get("/engine-rest/process-instance").get_json()} == {tiantan, qinyuan}
    history = township.get("/engine-rest/history/process-instance").get_json()
    assert [c["id"] for c in history] == [qinyuan]


def test_id_numbers_are_masked_until_someone_with_a_need_asks_and_each_view_in_clear_is_audited(
        client: FlaskClient, client_as: Callable[..., FlaskClient], sessions: sessionmaker[Session]) -> None:
    deploy_paths(client, TOWNSHIP)
    alice = client_as("applicant", username="alice")
    case_id = _start_as(alice, "A-1")
    task = task_by_key(client, case_id, "task_township_review")
    reviewer = client_as("reviewer", departments=["township-tiantan"], username="tt-reviewer")
    supervisor = client_as("supervisor", departments=["township-tiantan"], username="tt-supervisor")

    routes = (f"/engine-rest/process-instance/{case_id}/variables",
              f"/engine-rest/task/{task['id']}/variables", f"/engine-rest/task/{task['id']}/form-variables")
    for who in (alice, reviewer, supervisor, client):
        for route in routes[:1] if who is alice else routes:
            assert who.get(route).get_json()["applicant_id_number"]["value"] == MASKED, route
    single = f"/engine-rest/process-instance/{case_id}/variables/applicant_id_number"
    assert reviewer.get(single).get_json()["value"] == MASKED
    assert reviewer.get(f"/engine-rest/process-instance/{case_id}/variables/applicant_name").get_json()["value"] == \
        "王五"
    assert _viewed(sessions) == []

    for who in (supervisor,):  # no need: refused, not silently masked
        refused = who.get(routes[0], query_string={"unmask": "true"})
        assert refused.status_code == 403 and refused.get_json()["code"] == "pii.unmask_denied"
        assert refused.get_json()["field"] == "unmask"
    assert reviewer.get(routes[1], query_string={"unmask": "true"}).get_json()["applicant_id_number"]["value"] == \
        ID_NUMBER
    assert reviewer.get(single, query_string={"unmask": "true"}).get_json()["value"] == ID_NUMBER
    assert alice.get(routes[0], query_string={"unmask": "true"}).get_json()["applicant_id_number"]["value"] == \
        ID_NUMBER
    # Administrators answer for the data (corrections, requests from the applicant): they may ask too.
    assert client.get(routes[0], query_string={"unmask": "true"}).get_json()["applicant_id_number"]["value"] == \
        ID_NUMBER
    assert _viewed(sessions) == [("tt-reviewer", case_id, ["applicant_id_number"], "task variables"),
                                 ("tt-reviewer", case_id, ["applicant_id_number"], "process variable"),
                                 ("alice", case_id, ["applicant_id_number"], "process variables"),
                                 ("admin", case_id, ["applicant_id_number"], "process variables")]
    with transaction(sessions) as session:
        assert verify_all(session, None) is None  # the views are on the global chain, which stays intact


def test_the_variables_a_completion_returns_are_masked_as_well(
        client: FlaskClient, client_as: Callable[..., FlaskClient], sessions: sessionmaker[Session]) -> None:
    deploy_paths(client, TOWNSHIP)
    case_id = _start_as(client_as("applicant"), "A-2")
    task = task_by_key(client, case_id, "task_township_review")
    reviewer = client_as("reviewer", departments=["township-tiantan"], username="tt-reviewer")
    done = reviewer.post(f"/engine-rest/task/{task['id']}/complete",
                         json={"variables": {"township_opinion": {"value": "同意", "type": "String"}},
                               "withVariablesInReturn": True})
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert body["applicant_id_number"]["value"] == MASKED and body["township_opinion"]["value"] == "同意"
    assert _viewed(sessions) == []
