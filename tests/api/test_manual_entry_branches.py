"""二次录入 on a branch: what the clerk records becomes case variables that the main flow and the case record see.

The restaurant bundle's step warnings are non-interrupting boundary timers whose branch runs a
`supervision.warning` service task (二次录入 in the demo connector file: the window records the SMS receipt)
and ends. The branch has its own copy of the case data in SpiffWorkflow; the recorded values must reach the
main flow all the same, and two warnings recorded on parallel steps must not leave the case unable to end.
A branch that wrote its own value of a result field is still refused, as the join guard refuses it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import timesource
from orchestrator.db import transaction
from orchestrator.models import AuditEvent, HumanTask, Job, ProcessInstance
from orchestrator.scheduler import fire_due_timers
from orchestrator.services.seed import seed_bundles
from tests.conftest import ROOT
from tests.form_samples import form_of, manual_entry_sample, sample
from tests.helpers import complete, deploy, history_state, instance_variables, open_tasks, start, task_by_key

DEMO_CONNECTORS = ROOT / "connectors.demo.json"
DEPARTMENTS = ["dept-fire-rescue", "dept-market-regulation", "dept-urban-management"]
TOPIC = "supervision.warning"
RESULT_NAMES = ("warning_sms_receipt", "warning_sent_on")


@pytest.fixture()
def restaurant_case(client: FlaskClient, run_in_tx: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A restaurant case past intake: its parallel review steps are open, their warning timers waiting."""
    monkeypatch.setenv("LIANBAN_CONNECTORS", str(DEMO_CONNECTORS))
    run_in_tx(seed_bundles, ROOT / "bpmn")
    case_id: str = start(client, "restaurant_opening", {"inspection_departments": DEPARTMENTS})["id"]
    complete(client, task_by_key(client, case_id, "task_intake")["id"], sample("restaurant-intake"))
    return case_id


def _warnings_due(sessions: sessionmaker[Session], days: int) -> None:
    timesource.set_offset(timedelta(days=days, seconds=1))
    fire_due_timers(sessions)


def _entries(client: FlaskClient, case_id: str) -> list[dict[str, Any]]:
    return [t for t in open_tasks(client, case_id) if t["formKey"] == "lianban:manual-entry"]


def _submit(client: FlaskClient, task: dict[str, Any], values: dict[str, Any]) -> None:
    response = client.post(f"/api/tasks/{task['id']}/submit", json={"values": values})
    assert response.status_code == 200, response.get_json()


def _finish_main_flow(client: FlaskClient, case_id: str) -> list[str]:
    """Submit every open step with its form's sample until the case ends; returns the steps submitted."""
    submitted: list[str] = []
    for _ in range(30):
        tasks = [t for t in open_tasks(client, case_id) if t["formKey"] != "lianban:manual-entry"]
        if not tasks:
            break
        for task in tasks:
            served = client.get(f"/api/tasks/{task['id']}/form").get_json()
            name = form_of(task["formKey"])
            assert name is not None, task
            response = client.post(f"/api/tasks/{task['id']}/submit",
                                   json={"values": sample(name, served["data"])})
            assert response.status_code == 200, (task["taskDefinitionKey"], response.get_json())
            submitted.append(task["taskDefinitionKey"])
    return submitted


def _recorded(variables: dict[str, Any]) -> dict[str, Any]:
    return {name: variables.get(name) for name in RESULT_NAMES}


@pytest.mark.timeout(180)
def test_a_receipt_recorded_on_the_step_warning_branch_is_a_case_variable_the_main_flow_reads(
    client: FlaskClient, sessions: sessionmaker[Session], restaurant_case: str,
) -> None:
    case_id = restaurant_case
    _warnings_due(sessions, 1)  # the licence verification's one-day warning
    [entry] = _entries(client, case_id)
    assert entry["taskDefinitionKey"] == "service_license_verification_warning"
    values = manual_entry_sample(TOPIC, warning_sms_receipt="DX-LV-0001")
    _submit(client, entry, values)

    # The warning branch has ended; its values are the case's.
    assert not _entries(client, case_id)
    assert _recorded(instance_variables(client, case_id)) == values
    with transaction(sessions) as session:
        row = session.get(ProcessInstance, case_id)
        assert row is not None and _recorded(row.variables) == values  # the case record
    # The step the warning was about reads them in its own data (its form is served with them).
    step = task_by_key(client, case_id, "task_license_verification")
    served = client.get(f"/api/tasks/{step['id']}/form").get_json()
    assert _recorded(served["data"]) == values

    submitted = _finish_main_flow(client, case_id)
    assert "task_delivery" in submitted
    assert history_state(client, case_id) == "COMPLETED"
    with transaction(sessions) as session:
        row = session.get(ProcessInstance, case_id)
        assert row is not None and row.state == "COMPLETED" and _recorded(row.variables) == values


@pytest.mark.timeout(180)
def test_warnings_recorded_on_two_parallel_steps_leave_the_latest_receipt_and_the_case_reaches_its_end(
    client: FlaskClient, sessions: sessionmaker[Session], restaurant_case: str,
) -> None:
    case_id = restaurant_case
    _warnings_due(sessions, 1)
    [first] = _entries(client, case_id)
    _submit(client, first, manual_entry_sample(TOPIC, warning_sms_receipt="DX-LV-0001"))
    # The verified step goes on to the join with the first receipt in its data and waits there ...
    verification = task_by_key(client, case_id, "task_license_verification")
    served = client.get(f"/api/tasks/{verification['id']}/form").get_json()
    _submit(client, verification, sample("restaurant-license-verification", served["data"]))

    # ... when a warning on a parallel step records another one.
    _warnings_due(sessions, 5)
    later = _entries(client, case_id)
    assert "service_signboard_warning" in {t["taskDefinitionKey"] for t in later}, later
    for n, entry in enumerate(later):
        _submit(client, entry, manual_entry_sample(TOPIC, warning_sms_receipt=f"DX-LATER-{n}"))
    latest = f"DX-LATER-{len(later) - 1}"
    assert instance_variables(client, case_id)["warning_sms_receipt"] == latest

    _finish_main_flow(client, case_id)
    assert history_state(client, case_id) == "COMPLETED"  # no branch conflict at the join or the end
    with transaction(sessions) as session:
        row = session.get(ProcessInstance, case_id)
        assert row is not None and row.variables["warning_sms_receipt"] == latest
        # Each recording is on the case's audit chain, with the task it was recorded for.
        completed = list(session.scalars(select(AuditEvent.payload).where(
            AuditEvent.instance_id == case_id, AuditEvent.event_type == "task.completed")))
    recorded_for = {p["task_id"] for p in completed if sorted(p.get("variables") or []) == sorted(RESULT_NAMES)}
    assert recorded_for == {first["id"], *(entry["id"] for entry in later)}


OWN_VALUE_DIAGRAM = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="own_receipt" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="split" />
    <bpmn:parallelGateway id="split" />
    <bpmn:sequenceFlow id="f1" sourceRef="split" targetRef="write_own" />
    <bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="send_warning" />
    <bpmn:userTask id="write_own" camunda:candidateGroups="intake-window" />
    <bpmn:serviceTask id="send_warning" camunda:type="external" camunda:topic="supervision.warning" />
    <bpmn:sequenceFlow id="f3" sourceRef="write_own" targetRef="join" />
    <bpmn:sequenceFlow id="f4" sourceRef="send_warning" targetRef="join" />
    <bpmn:parallelGateway id="join" />
    <bpmn:sequenceFlow id="f5" sourceRef="join" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_result_field_a_parallel_branch_wrote_itself_is_refused_and_nothing_changes(
    client: FlaskClient, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIANBAN_CONNECTORS", str(DEMO_CONNECTORS))
    deploy(client, {"own.bpmn": OWN_VALUE_DIAGRAM})
    case_id = start(client, "own_receipt")["id"]
    # One branch writes its own receipt and waits at the join ...
    complete(client, task_by_key(client, case_id, "write_own")["id"], {"warning_sms_receipt": "OWN-0001"})
    [entry] = _entries(client, case_id)
    before = instance_variables(client, case_id)
    # ... so the clerk's receipt on the other branch cannot be the case's: the join would lose one of them.
    response = client.post(f"/api/tasks/{entry['id']}/submit", json={"values": manual_entry_sample(TOPIC)})
    assert response.status_code == 409 and response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == "engine.branch_variable_conflict"
    assert problem["variables"] == ["warning_sms_receipt"] and problem["element_id"] == "send_warning"
    assert "warning_sms_receipt" in problem["message_zh"]
    assert history_state(client, case_id) == "ACTIVE"
    with transaction(sessions) as session:
        task = session.get(HumanTask, entry["id"])
        job = session.get(Job, entry["id"])
        assert task is not None and task.state == "CREATED" and job is not None and job.state == "MANUAL"
    assert instance_variables(client, case_id) == before
