"""Third-party BPMN files through POST /engine-rest/deployment/create: deployed, or refused with a clear problem.

A sample of ../shared/conformance (all of it is compiled by tests/test_conformance.py); here the point
is the HTTP contract: 200 with the definitions, or 400 problem+json naming the file and an element
or line, and nothing stored for a refused deployment.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.helpers import open_tasks, start

_BESIDE_REPO = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
CONFORMANCE = _BESIDE_REPO if _BESIDE_REPO.is_dir() else Path("/work/shared/conformance")
CAMUNDA = CONFORMANCE / "camunda-bpm-examples"
MODDLE = CONFORMANCE / "bpmn-moddle-fixtures" / "test" / "fixtures" / "bpmn"

INVOICE = CAMUNDA / "usertask/task-camunda-forms/src/main/resources/invoiceApproval.bpmn"
LOAN = CAMUNDA / "usertask/task-form-embedded/src/main/resources/loanApproval.bpmn"
MESSAGE_START = CAMUNDA / "startevent/message-start/src/main/resources/message_start_process.bpmn"
MALFORMED = MODDLE / "error/invalid-attributes.bpmn"  # `<process $a="b" … xx />`: not well-formed XML
XSD_INVALID = MODDLE / "error/unrecognized-child.bpmn"  # <bpmn2:unrecognized> under definitions
UNSUPPORTED = (CAMUNDA / "servicetask/service-invocation-synchronous/src/main/resources"
               / "synchronousServiceInvocation.bpmn")  # camunda:class: a Java delegate

PYTHON_LEAKS = re.compile(r"Traceback|File \"|\b(?:TypeError|KeyError|AttributeError|ValueError|XMLSyntaxError|"
                          r"DocumentInvalid|ValidationException|WorkflowException)\b")


def _post(client: FlaskClient, *paths: Path) -> Any:
    data: dict[str, Any] = {"deployment-name": "conformance", "deployment-source": "tests"}
    for path in paths:
        data[path.name] = (io.BytesIO(path.read_bytes()), path.name)
    return client.post("/engine-rest/deployment/create", data=data, content_type="multipart/form-data")


def _nothing_stored(client: FlaskClient) -> None:
    assert client.get("/engine-rest/process-definition").get_json() == []
    assert client.get("/engine-rest/process-definition/count").get_json() == {"count": 0}


@pytest.mark.parametrize(
    ("path", "key", "name"),
    [
        (INVOICE, "camundaFormsQuickstart", "Camunda Forms Quickstart"),
        (LOAN, "embeddedFormsQuickstart", "Embedded Forms Quickstart"),
        (MESSAGE_START, "Message_Start_Process", None),
    ],
    ids=["invoiceApproval", "loanApproval", "message_start_process"],
)
def test_a_camunda_example_that_uses_supported_elements_deploys_with_its_definition(
        client: FlaskClient, path: Path, key: str, name: str | None) -> None:
    response = _post(client, path)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["name"] == "conformance" and body["source"] == "tests"
    (definition,) = body["deployedProcessDefinitions"].values()
    assert definition["key"] == key and definition["name"] == name and definition["version"] == 1
    assert definition["resource"] == path.name and definition["deploymentId"] == body["id"]
    stored = client.get(f"/engine-rest/process-definition/key/{key}").get_json()
    assert stored["id"] == definition["id"]
    xml = client.get(f"/engine-rest/process-definition/{definition['id']}/xml").get_json()["bpmn20Xml"]
    assert f'id="{key}"' in xml


def test_the_invoice_example_runs_with_its_camunda_assignee_and_form_key(client: FlaskClient) -> None:
    assert _post(client, INVOICE).status_code == 200
    case = start(client, "camundaFormsQuickstart", business_key="INV-1")
    (task,) = open_tasks(client, case["id"])
    assert task["taskDefinitionKey"] == "UserTask_1"
    assert task["assignee"] == "demo" and task["formKey"] == "camunda-forms:app:task-form.form"


@pytest.mark.parametrize(
    ("path", "code", "where"),
    [
        (MALFORMED, "xml.malformed", "line"),
        (XSD_INVALID, "bpmn.schema", "line"),
        (UNSUPPORTED, "bpmn.unsupported", "element_id"),
    ],
    ids=["malformed-xml", "xsd-invalid", "java-delegate"],
)
def test_a_refused_file_is_a_400_problem_naming_the_file_and_where_and_nothing_is_stored(
        client: FlaskClient, path: Path, code: str, where: str) -> None:
    response = _post(client, path)
    text = response.get_data(as_text=True)
    assert response.status_code == 400, text[:500]
    assert response.mimetype == "application/problem+json"
    assert not PYTHON_LEAKS.search(text), text
    body = response.get_json()
    assert body["status"] == 400 and body["code"] == code
    assert body["filename"] == path.name
    assert body.get("element_id") or body.get("line"), body
    assert body.get(where), body
    assert re.search(r"[\u4e00-\u9fff]", body["message_zh"]) and body["message_en"]
    _nothing_stored(client)


def test_the_unsupported_example_names_the_service_task_and_its_line(client: FlaskClient) -> None:
    body = _post(client, UNSUPPORTED).get_json()
    assert body["element_id"] == "ServiceTask_1" and isinstance(body["line"], int) and body["line"] > 1
    assert "camunda:class" in body["message_en"]


def test_one_refused_file_refuses_the_whole_deployment(client: FlaskClient) -> None:
    response = _post(client, INVOICE, LOAN, UNSUPPORTED)
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert response.get_json()["filename"] == UNSUPPORTED.name
    _nothing_stored(client)
    # The good files alone still deploy afterwards.
    deployed = _post(client, INVOICE, LOAN).get_json()["deployedProcessDefinitions"]
    assert sorted(d["key"] for d in deployed.values()) == ["camundaFormsQuickstart", "embeddedFormsQuickstart"]
