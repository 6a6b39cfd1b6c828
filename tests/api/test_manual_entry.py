"""二次录入: a topic configured `"mode": "manual"` becomes a task for the department's clerks, over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import workcalendar
from orchestrator.db import transaction
from orchestrator.errors import NotFoundError
from orchestrator.models import AuditEvent, HumanTask, Job
from orchestrator.services import connector_jobs, external_tasks
from orchestrator.services.audit import verify_chain
from orchestrator.services.connectors import ConnectorConfigError, parse_connector_file
from tests.helpers import deploy_paths, history_state, instance_variables, start, typed

ROOT = Path(__file__).resolve().parents[2]
DIAGRAM = ROOT / "tests" / "bpmn" / "connectors" / "licence_connector.bpmn"
MANUAL_SAMR: dict[str, Any] = {
    "mode": "manual",
    "description": "市场监管局登记系统未对接，由窗口人员二次录入",
    "department": "samr",
    "system": "市场监管局企业登记注册系统",
    "instructions": "登录企业登记注册系统，按下列信息办理设立登记，核准后记录营业执照编号。",
    "variables_in": {"company_name": "企业名称", "credit_code": "统一社会信用代码"},
    "result_fields": {
        "licence_number": {"label": "营业执照编号", "pattern": "^SAMR-[0-9]{6}$"},
        "issued_on": {"label": "发照日期", "type": "date"},
        "capital_wan": {"label": "注册资本（万元）", "type": "integer", "required": False},
    },
    "due_workdays": 2,
}


@pytest.fixture()
def manual_connectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "connectors.json"
    path.write_text(json.dumps({"connectors": {"samr.issue_licence": MANUAL_SAMR}}, ensure_ascii=False),
                    encoding="utf-8")
    monkeypatch.setenv("LIANBAN_CONNECTORS", str(path))
    return path


def _start_case(client: FlaskClient) -> tuple[str, str]:
    deploy_paths(client, DIAGRAM)
    instance = start(client, "licence_connector", {"company_name": "西宁二次录入有限公司",
                                                   "credit_code": "91630100MA7XXXXX0Q"})
    tasks = client.get("/engine-rest/task", query_string={"candidateGroup": "samr"}).get_json()
    assert len(tasks) == 1, tasks
    return instance["id"], tasks[0]["id"]


def test_a_manual_topic_opens_a_task_for_the_departments_clerks_with_what_to_enter(
    client: FlaskClient, sessions: sessionmaker[Session], manual_connectors: Path,
) -> None:
    instance_id, task_id = _start_case(client)
    task = client.get(f"/engine-rest/task/{task_id}").get_json()
    assert task["name"] == "二次录入：市场监管核发营业执照"
    assert task["formKey"] == "lianban:manual-entry" and task["processInstanceId"] == instance_id

    entry = client.get(f"/api/manual-entries/{task_id}").get_json()
    assert entry["system"] == "市场监管局企业登记注册系统" and entry["department"] == "samr"
    assert entry["copy"] == [
        {"variable": "company_name", "label": "企业名称", "value": "西宁二次录入有限公司"},
        {"variable": "credit_code", "label": "统一社会信用代码", "value": "91630100MA7XXXXX0Q"},
    ]
    assert [(f["name"], f["label"], f["required"]) for f in entry["result_fields"]] == [
        ("licence_number", "营业执照编号", True), ("issued_on", "发照日期", True),
        ("capital_wan", "注册资本（万元）", False)]
    form_keys = [c.get("key") for c in entry["form"]["components"]]
    assert form_keys[-3:] == ["licence_number", "issued_on", "capital_wan"]
    assert "西宁二次录入有限公司" in entry["form"]["components"][1]["text"]
    # The same time limit as any step: two working days from today, 23:59:59 Beijing time.
    expected = workcalendar.end_of_day(workcalendar.add_workdays(workcalendar.local_today(), 2))
    assert entry["due"] == expected.isoformat()

    with transaction(sessions) as session:
        job = session.get(Job, task_id)
        assert job is not None and job.state == "MANUAL"
    # Nobody pulls or calls a manual topic: it is neither fetchable nor listed as an external task.
    fetched = client.post("/engine-rest/external-task/fetchAndLock", json={
        "workerId": "w", "maxTasks": 5, "topics": [{"topicName": "samr.issue_licence", "lockDuration": 1000}]})
    assert fetched.status_code == 200 and fetched.get_json() == []
    assert client.get("/engine-rest/external-task").get_json() == []
    assert connector_jobs.sweep(sessions) == 0


def test_an_incomplete_result_is_refused_naming_each_field_and_nothing_changes(
    client: FlaskClient, sessions: sessionmaker[Session], manual_connectors: Path,
) -> None:
    instance_id, task_id = _start_case(client)
    response = client.post(f"/engine-rest/task/{task_id}/complete", json={"variables": typed(
        {"licence_number": "12345", "capital_wan": "很多", "colour": "红"})})
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == "manual_entry.invalid"
    for text in ("营业执照编号：格式不正确", "发照日期：必填", "注册资本（万元）：应为整数",
                 "colour：不是本次二次录入要记录的结果"):
        assert text in problem["detail"]
    assert {e["field"] for e in problem["errors"]} == {"licence_number", "issued_on", "capital_wan", "colour"}
    assert history_state(client, instance_id) == "ACTIVE"
    assert client.get(f"/engine-rest/task/{task_id}").status_code == 200
    assert "licence_number" not in instance_variables(client, instance_id)


def test_the_recorded_result_completes_the_service_task_and_the_flow_goes_on(
    client: FlaskClient, sessions: sessionmaker[Session], manual_connectors: Path,
    client_as: Callable[..., FlaskClient],
) -> None:
    instance_id, task_id = _start_case(client)
    clerk = client_as("window_clerk", departments=["samr"], username="clerk")  # a clerk of the department
    response = clerk.post(f"/engine-rest/task/{task_id}/complete", json={"variables": typed(
        {"licence_number": "SAMR-000042", "issued_on": "2026-11-30", "capital_wan": "50"})})
    assert response.status_code == 204, response.get_json()
    assert history_state(client, instance_id) == "COMPLETED"
    variables = instance_variables(client, instance_id)
    assert (variables["licence_number"], variables["issued_on"], variables["capital_wan"]) == (
        "SAMR-000042", "2026-11-30", 50)
    activities = client.get("/engine-rest/history/activity-instance",
                            query_string={"processInstanceId": instance_id}).get_json()
    assert "end_issued" in {a["activityId"] for a in activities}
    with transaction(sessions) as session:
        task = session.get(HumanTask, task_id)
        job = session.get(Job, task_id)
        assert task is not None and task.state == "COMPLETED" and task.completed_by == "clerk"
        assert job is not None and job.state == "COMPLETED"
        events = [(e.event_type, e.actor) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.id))]
        assert ("task.created", "admin") in events and ("task.completed", "clerk") in events
        assert verify_chain(session, instance_id) is None
    again = client.post(f"/engine-rest/task/{task_id}/complete", json={"variables": typed(
        {"licence_number": "SAMR-000043", "issued_on": "2026-11-30"})})
    assert again.status_code in (404, 409)


def test_a_terminated_case_cancels_its_manual_entry_task(
    app: Flask, client: FlaskClient, sessions: sessionmaker[Session], manual_connectors: Path,
) -> None:
    instance_id, task_id = _start_case(client)
    assert client.delete(f"/engine-rest/process-instance/{instance_id}").status_code == 204
    with transaction(sessions) as session:
        job = session.get(Job, task_id)
        assert job is not None and job.state == "CANCELED"
    assert client.get("/engine-rest/task", query_string={"candidateGroup": "samr"}).get_json() == []


def test_a_manual_job_refuses_the_external_task_actions(
    client: FlaskClient, sessions: sessionmaker[Session], manual_connectors: Path,
) -> None:
    _, task_id = _start_case(client)
    response = client.post(f"/engine-rest/external-task/{task_id}/complete", json={"workerId": "w"})
    assert response.status_code == 404
    with transaction(sessions) as session, pytest.raises(NotFoundError):
        external_tasks.unlock(session, task_id, None)


@pytest.mark.parametrize(("change", "field"), [
    ({"department": ""}, "connectors.t.department"),
    ({"system": None}, "connectors.t.system"),
    ({"result_fields": {}}, "connectors.t.result_fields"),
    ({"result_fields": {"n": {"label": "编号", "type": "blob"}}}, "connectors.t.result_fields.n.type"),
    ({"result_fields": {"n": {"label": "编号", "pattern": "("}}}, "connectors.t.result_fields.n.pattern"),
    ({"result_fields": {"n": {"type": "string"}}}, "connectors.t.result_fields.n.label"),
    ({"due_workdays": 0}, "connectors.t.due_workdays"),
    ({"url": "http://x"}, "connectors.t.url"),
    ({"mode": "fax"}, "connectors.t.mode"),
])
def test_an_invalid_manual_topic_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    raw = {**MANUAL_SAMR, **change}
    with pytest.raises(ConnectorConfigError) as raised:
        parse_connector_file(Path("c.json"), json.dumps({"connectors": {"t": raw}}, ensure_ascii=False))
    assert raised.value.field == field and "c.json" in raised.value.message_zh


TIMED_ENTRY = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="timed_entry" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="issue" />
    <bpmn:serviceTask id="issue" name="核发营业执照" camunda:type="external" camunda:topic="samr.issue_licence" />
    <bpmn:boundaryEvent id="too_late" attachedToRef="issue">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="issue" targetRef="end" />
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f3" sourceRef="too_late" targetRef="escalate" />
    <bpmn:userTask id="escalate" name="督办" />
    <bpmn:sequenceFlow id="f4" sourceRef="escalate" targetRef="end_late" />
    <bpmn:endEvent id="end_late" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_boundary_event_that_interrupts_the_step_cancels_its_manual_entry_task(
    client: FlaskClient, sessions: sessionmaker[Session], manual_connectors: Path,
) -> None:
    from orchestrator.scheduler import fire_due_timers
    from tests.helpers import deploy

    deploy(client, {"timed.bpmn": TIMED_ENTRY.encode()})
    instance = start(client, "timed_entry", {"company_name": "西宁超时有限公司"})
    [entry] = client.get("/engine-rest/task", query_string={"candidateGroup": "samr"}).get_json()
    time.sleep(1.1)  # the boundary timer is due
    assert fire_due_timers(sessions, datetime.now(UTC)) == 1
    with transaction(sessions) as session:
        task = session.get(HumanTask, entry["id"])
        job = session.get(Job, entry["id"])
        assert task is not None and task.state == "CANCELED" and task.completed_by is None
        assert job is not None and job.state == "CANCELED"
    assert [t["taskDefinitionKey"] for t in client.get(
        "/engine-rest/task", query_string={"processInstanceId": instance["id"]}).get_json()] == ["escalate"]
    refused = client.post(f"/engine-rest/task/{entry['id']}/complete", json={"variables": typed(
        {"licence_number": "SAMR-000001", "issued_on": "2026-11-30"})})
    assert refused.status_code == 409
