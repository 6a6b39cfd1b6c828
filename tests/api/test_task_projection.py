"""The task list carries everything the diagram says about a user task, expressions evaluated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient

from orchestrator.workcalendar import SHANGHAI, add_workdays, local_today
from tests.helpers import deploy, open_tasks, start

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://lianban.dev/test">
  <bpmn:process id="dialect_task" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />
    <bpmn:userTask id="review" name="受理审查" camunda:assignee="${clerk}" camunda:candidateUsers="wang, li"
        camunda:candidateGroups="${district}-window,intake-window" camunda:dueDate="${workdays(5)}"
        camunda:followUpDate="P2D" camunda:priority="${urgent ? 90 : 40}" camunda:formKey="lianban:newborn-intake">
      <bpmn:documentation>核对出生医学证明与户口簿</bpmn:documentation>
      <bpmn:extensionElements>
        <camunda:properties><camunda:property name="department" value="dept-health" /></camunda:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
""".encode()


def test_a_user_task_projection_carries_candidates_due_follow_up_priority_and_form(client: FlaskClient) -> None:
    deploy(client, {"dialect.bpmn": DIAGRAM})
    pid = start(client, "dialect_task", {"clerk": "zhang", "district": "jiyuan", "urgent": True})["id"]
    (task,) = open_tasks(client, pid)
    assert task["name"] == "受理审查"
    assert task["assignee"] == "zhang"
    assert task["candidateUsers"] == ["wang", "li"]
    assert task["candidateGroups"] == ["jiyuan-window", "intake-window"]
    assert task["priority"] == 90
    assert task["formKey"] == "lianban:newborn-intake"
    assert task["description"] == "核对出生医学证明与户口簿"
    assert task["properties"] == {"department": "dept-health"}

    due = datetime.strptime(task["due"], "%Y-%m-%dT%H:%M:%S.%f%z")
    expected_day = add_workdays(local_today(), 5)
    assert due.astimezone(SHANGHAI).date() == expected_day and due.astimezone(SHANGHAI).hour == 23
    follow_up = datetime.strptime(task["followUp"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert abs(follow_up - (datetime.now(UTC) + timedelta(days=2))) < timedelta(minutes=1)

    by_group = client.get("/engine-rest/task", query_string={"candidateGroup": "jiyuan-window"}).get_json()
    assert [t["id"] for t in by_group] == [task["id"]]
    assert client.get("/engine-rest/task", query_string={"candidateUser": "li"}).get_json()[0]["id"] == task["id"]
    assert client.get("/engine-rest/task", query_string={"assignee": "zhang"}).get_json()[0]["id"] == task["id"]


def test_a_failing_assignment_expression_is_refused_and_no_case_is_left(client: FlaskClient) -> None:
    deploy(client, {"dialect.bpmn": DIAGRAM})
    response = client.post("/engine-rest/process-definition/key/dialect_task/start", json={"variables": {}})
    body = response.get_json()
    assert response.status_code in (400, 422) and response.mimetype == "application/problem+json"
    assert "review" in (body.get("element_id") or "") + body["message_en"]
    assert client.get("/engine-rest/process-instance").get_json() == []
