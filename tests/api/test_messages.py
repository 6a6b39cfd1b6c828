"""POST /engine-rest/message: Camunda 7 message correlation to waiting cases and message start events."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient

from tests.conftest import COVERAGE_DIR
from tests.helpers import complete, deploy_paths, history_state, open_tasks, start, typed

CATCH = COVERAGE_DIR / "intermediate_message_catch.bpmn"  # catch_documents waits for documents_supplied
MESSAGE_START = COVERAGE_DIR / "message_start_event.bpmn"  # started by application_submitted
RECEIVE = COVERAGE_DIR / "receive_task.bpmn"  # receive_payment waits for payment_confirmed


def _message(client: FlaskClient, body: dict[str, Any]) -> Any:
    return client.post("/engine-rest/message", json=body)


def _variables(client: FlaskClient, instance_id: str) -> dict[str, Any]:
    """Process variables as plain values (Json-typed ones decoded)."""
    response = client.get(f"/engine-rest/process-instance/{instance_id}/variables")
    assert response.status_code == 200, response.get_json()
    return {name: json.loads(v["value"]) if v["type"] == "Json" else v["value"]
            for name, v in response.get_json().items()}


def _ready(client: FlaskClient, instance_id: str) -> list[str]:
    return sorted(t["taskDefinitionKey"] for t in open_tasks(client, instance_id))


def _problem(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 400 and body["message_zh"] and body["message_en"]
    return body  # type: ignore[no-any-return]


def test_a_message_with_a_business_key_reaches_only_the_case_with_that_key(client: FlaskClient) -> None:
    deploy_paths(client, CATCH)
    wanted = start(client, "intermediate_message_catch", {"case_no": "A"}, business_key="BK-A")
    other = start(client, "intermediate_message_catch", {"case_no": "B"}, business_key="BK-B")
    assert _ready(client, wanted["id"]) == [] and _ready(client, other["id"]) == []

    response = _message(client, {"messageName": "documents_supplied", "businessKey": "BK-A"})
    assert response.status_code == 204 and response.data == b""

    assert _ready(client, wanted["id"]) == ["task_after"]
    assert _ready(client, other["id"]) == []
    # The other case still waits: the same message with its key reaches it.
    assert _message(client, {"messageName": "documents_supplied", "businessKey": "BK-B"}).status_code == 204
    assert _ready(client, other["id"]) == ["task_after"]


def test_correlation_keys_select_the_case_by_its_process_variables(client: FlaskClient) -> None:
    deploy_paths(client, CATCH)
    first = start(client, "intermediate_message_catch", {"case_no": "甲-001", "district": "城中区"})
    second = start(client, "intermediate_message_catch", {"case_no": "甲-002", "district": "城中区"})

    response = _message(client, {"messageName": "documents_supplied",
                                 "correlationKeys": typed({"case_no": "甲-002", "district": "城中区"})})
    assert response.status_code == 204
    assert _ready(client, first["id"]) == []
    assert _ready(client, second["id"]) == ["task_after"]

    # Keys that match no case's variables correlate nothing.
    unmatched = _message(client, {"messageName": "documents_supplied", "correlationKeys": typed({"case_no": "乙-999"})})
    assert _problem(unmatched)["code"] == "message.no_match"
    assert _ready(client, first["id"]) == []


def test_process_variables_of_the_message_land_in_the_case(client: FlaskClient) -> None:
    deploy_paths(client, CATCH)
    case = start(client, "intermediate_message_catch", {"case_no": "A"}, business_key="BK-V")
    response = _message(client, {"messageName": "documents_supplied", "businessKey": "BK-V",
                                 "processVariables": typed({"documents": ["身份证"], "supplied_by": "申请人"})})
    assert response.status_code == 204
    values = _variables(client, case["id"])
    assert values["documents"] == ["身份证"] and values["supplied_by"] == "申请人" and values["case_no"] == "A"
    assert "catch_documents_Response" not in values  # Camunda's flat process variables, not Spiff's nesting

    (task,) = open_tasks(client, case["id"])
    complete(client, task["id"])
    assert history_state(client, case["id"]) == "COMPLETED"


def test_all_true_correlates_every_waiting_case(client: FlaskClient) -> None:
    deploy_paths(client, CATCH)
    cases = [start(client, "intermediate_message_catch", {"n": n}, business_key=f"BK-{n}") for n in range(3)]
    response = _message(client, {"messageName": "documents_supplied", "all": True, "resultEnabled": True,
                                 "processVariables": typed({"batch": "2026-11"})})
    assert response.status_code == 200
    results = response.get_json()
    assert sorted(r["execution"]["processInstanceId"] for r in results) == sorted(c["id"] for c in cases)
    for case in cases:
        assert _ready(client, case["id"]) == ["task_after"]
        assert _variables(client, case["id"])["batch"] == "2026-11"
    # Nobody waits any more.
    assert _problem(_message(client, {"messageName": "documents_supplied", "all": True}))["code"] == "message.no_match"


def test_result_enabled_returns_camundas_result_shape_for_a_waiting_case(client: FlaskClient) -> None:
    deploy_paths(client, CATCH)
    case = start(client, "intermediate_message_catch", business_key="BK-R")
    response = _message(client, {"messageName": "documents_supplied", "businessKey": "BK-R", "resultEnabled": True})
    assert response.status_code == 200 and response.mimetype == "application/json"
    (result,) = response.get_json()
    # Camunda: a catch event in a running instance is an "Execution" result; processInstance is null.
    assert result["resultType"] == "Execution"
    assert result["processInstance"] is None
    assert result["execution"]["processInstanceId"] == case["id"]
    assert result["execution"]["ended"] is False
    assert {"id", "processInstanceId", "ended", "tenantId"} <= set(result["execution"])


def test_a_message_start_event_starts_a_new_case_per_message(client: FlaskClient) -> None:
    deploy_paths(client, MESSAGE_START)
    response = _message(client, {"messageName": "application_submitted", "businessKey": "SQ-1", "resultEnabled": True,
                                 "processVariables": typed({"applicant": "张三"})})
    assert response.status_code == 200
    (result,) = response.get_json()
    assert result["resultType"] == "ProcessDefinition" and result["execution"] is None
    instance = result["processInstance"]
    assert instance["definitionId"].startswith("message_start_event:") and instance["businessKey"] == "SQ-1"
    assert _ready(client, instance["id"]) == ["task_review"]
    assert _variables(client, instance["id"])["applicant"] == "张三"

    second = _message(client, {"messageName": "application_submitted", "resultEnabled": True,
                               "processVariables": typed({"applicant": "李四"})}).get_json()[0]["processInstance"]
    assert second["id"] != instance["id"]
    assert _variables(client, second["id"])["applicant"] == "李四"
    listed = client.get("/engine-rest/process-instance", query_string={"processDefinitionKey": "message_start_event"})
    assert sorted(i["id"] for i in listed.get_json()) == sorted([instance["id"], second["id"]])

    (task,) = open_tasks(client, instance["id"])
    complete(client, task["id"])
    assert history_state(client, instance["id"]) == "COMPLETED"


def test_a_message_nobody_waits_for_is_a_400_naming_message_name(client: FlaskClient) -> None:
    deploy_paths(client, CATCH)
    case = start(client, "intermediate_message_catch", business_key="BK-N")
    body = _problem(_message(client, {"messageName": "no_such_message", "businessKey": "BK-N"}))
    assert body["code"] == "message.no_match" and body["field"] == "messageName"
    # A known message with a business key no case has is no match either, and changes nothing.
    body = _problem(_message(client, {"messageName": "documents_supplied", "businessKey": "BK-OTHER"}))
    assert body["code"] == "message.no_match" and body["field"] == "messageName"
    assert _ready(client, case["id"]) == []


def test_a_message_without_a_name_is_a_400_naming_message_name(client: FlaskClient) -> None:
    for body in ({}, {"businessKey": "BK"}, {"messageName": ""}, {"messageName": 7}):
        problem = _problem(_message(client, body))
        assert problem["field"] == "messageName", body


def test_a_receive_task_is_correlated_like_a_catch_event(client: FlaskClient) -> None:
    deploy_paths(client, RECEIVE)
    case = start(client, "receive_task", business_key="JF-1")
    waiting = start(client, "receive_task", business_key="JF-2")
    assert _ready(client, case["id"]) == []
    response = _message(client, {"messageName": "payment_confirmed", "businessKey": "JF-1",
                                 "processVariables": typed({"amount": 380})})
    assert response.status_code == 204
    assert _ready(client, case["id"]) == ["task_after"]
    assert _variables(client, case["id"])["amount"] == 380
    assert _ready(client, waiting["id"]) == []
    (task,) = open_tasks(client, case["id"])
    complete(client, task["id"])
    assert history_state(client, case["id"]) == "COMPLETED"
