"""Hostile scripts and conditions are refused over HTTP: a clear problem naming the element, no case left."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.helpers import deploy

PYTHON_LEAKS = re.compile(
    r"Traceback|File \"|\b(?:TypeError|KeyError|AttributeError|ValueError|NameError|ImportError|"
    r"ModuleNotFoundError|RuntimeError|RecursionError|MemoryError|TimeoutError|SyntaxError|PermissionError|"
    r"FileNotFoundError|OSError|WorkflowException|WorkflowTaskException|SpiffWorkflowException|"
    r"ExpressionError|SandboxViolationError|LianbanError)\b"
)
HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_{key}" targetNamespace="http://lianban.dev/test">"""


def _script_diagram(key: str, script: str) -> bytes:
    return (HEADER.format(key=key) + f"""
  <bpmn:process id="{key}" name="脚本沙箱" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="Flow_to_script" sourceRef="start" targetRef="script_hostile" />
    <bpmn:scriptTask id="script_hostile" name="可疑脚本" scriptFormat="python">
      <bpmn:script><![CDATA[{script}]]></bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="Flow_to_task" sourceRef="script_hostile" targetRef="task_after" />
    <bpmn:userTask id="task_after" name="后续审查" camunda:candidateGroups="reviewers" />
    <bpmn:sequenceFlow id="Flow_to_end" sourceRef="task_after" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
""").encode()


def _condition_diagram(key: str, condition: str) -> bytes:
    return (HEADER.format(key=key) + f"""
  <bpmn:process id="{key}" name="条件沙箱" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="Flow_to_gateway" sourceRef="start" targetRef="gw_route" />
    <bpmn:exclusiveGateway id="gw_route" name="分流" default="Flow_normal" />
    <bpmn:sequenceFlow id="Flow_hostile" sourceRef="gw_route" targetRef="task_special">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"><![CDATA[{condition}]]></bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="Flow_normal" sourceRef="gw_route" targetRef="task_normal" />
    <bpmn:userTask id="task_special" camunda:candidateGroups="reviewers" />
    <bpmn:userTask id="task_normal" camunda:candidateGroups="reviewers" />
    <bpmn:sequenceFlow id="Flow_special_end" sourceRef="task_special" targetRef="end" />
    <bpmn:sequenceFlow id="Flow_normal_end" sourceRef="task_normal" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
""").encode()


def _refused(client: FlaskClient, key: str) -> dict[str, Any]:
    response = client.post(f"/engine-rest/process-definition/key/{key}/start", json={"businessKey": "EVIL-1"})
    text = response.get_data(as_text=True)
    assert 400 <= response.status_code < 500, (response.status_code, text[:500])
    assert response.mimetype == "application/problem+json"
    assert not PYTHON_LEAKS.search(text), text
    assert "/etc/passwd" not in text or "root:" not in text
    body = response.get_json()
    assert body["status"] == response.status_code and body["code"] and body["message_zh"] and body["message_en"]
    assert re.search(r"[\u4e00-\u9fff]", body["message_zh"])
    # Nothing was left behind: no running case, no history of a half-started one.
    assert client.get("/engine-rest/process-instance").get_json() == []
    assert client.get("/engine-rest/history/process-instance").get_json() == []
    assert client.get("/engine-rest/task").get_json() == []
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "script",
    [
        "import os\nresult = os.listdir('/')",
        "secret = open('/etc/passwd').read()",
        "classes = ().__class__.__base__.__subclasses__()",
        "while True:\n    pass",
    ],
    ids=["import", "open-file", "dunder-escape", "endless-loop"],
)
def test_a_hostile_script_task_is_refused_naming_the_script_task_and_leaves_no_case(
        client: FlaskClient, script: str) -> None:
    deploy(client, {"hostile.bpmn": _script_diagram("hostile_script", script)})
    body = _refused(client, "hostile_script")
    assert body.get("element_id") == "script_hostile", body


def test_a_harmless_script_in_the_same_diagram_runs(client: FlaskClient) -> None:
    deploy(client, {"harmless.bpmn": _script_diagram("harmless_script", "total = price * quantity")})
    response = client.post("/engine-rest/process-definition/key/harmless_script/start",
                           json={"variables": {"price": {"value": 12.5, "type": "Double"},
                                               "quantity": {"value": 4, "type": "Integer"}}})
    assert response.status_code == 200
    values = client.get(f"/engine-rest/process-instance/{response.get_json()['id']}/variables").get_json()
    assert values["total"]["value"] == 50.0


def test_a_condition_that_imports_a_module_is_refused_naming_the_gateway_or_its_flow(client: FlaskClient) -> None:
    deploy(client, {"hostile.bpmn": _condition_diagram("hostile_condition", "${__import__('os').system('id')}")})
    body = _refused(client, "hostile_condition")
    assert body.get("element_id") in ("gw_route", "Flow_hostile"), body
