"""/engine-rest/external-task: Camunda 7's external-task contract, spoken by a department system."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.models import AuditEvent
from orchestrator.services.audit import verify_chain
from tests.conftest import COVERAGE_DIR, ROOT
from tests.form_samples import sample
from tests.helpers import complete, deploy_paths, history_state, open_tasks, start, typed

DEMO = COVERAGE_DIR / "external_service_task.bpmn"  # service_call on demo.topic, then task_after
DEREGISTRATION = ROOT / "bpmn" / "company-deregistration.bpmn"  # service_tax_deregistration on tax.deregistration

INTAKE = sample("deregistration-intake")


def _fetch(client: FlaskClient, worker: str, topic: str = "demo.topic", lock_ms: int = 60_000,
           max_tasks: int = 10, **extra: Any) -> list[dict[str, Any]]:
    topic_body: dict[str, Any] = {"topicName": topic, "lockDuration": lock_ms}
    topic_body.update(extra.pop("topic_extra", {}))
    body = {"workerId": worker, "maxTasks": max_tasks, "topics": [topic_body], **extra}
    response = client.post("/engine-rest/external-task/fetchAndLock", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def _post(client: FlaskClient, task_id: str, action: str, body: dict[str, Any]) -> Any:
    return client.post(f"/engine-rest/external-task/{task_id}/{action}", json=body)


def _problem(response: Any, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["message_zh"] and body["message_en"] and body["message"]
    return body  # type: ignore[no-any-return]


def _ready(client: FlaskClient, instance_id: str) -> list[str]:
    return sorted(t["taskDefinitionKey"] for t in open_tasks(client, instance_id))


def _incidents(client: FlaskClient, instance_id: str) -> list[dict[str, Any]]:
    response = client.get("/engine-rest/incident", query_string={"processInstanceId": instance_id})
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


def _demo_case(client: FlaskClient, variables: dict[str, Any] | None = None) -> str:
    deploy_paths(client, DEMO)
    return start(client, "external_service_task", variables or {"applicant": "李娜", "amount": 1200},
                 business_key="BK-1")["id"]  # type: ignore[no-any-return]


def test_fetch_and_lock_returns_the_task_with_the_requested_variables_to_one_worker_only(client: FlaskClient) -> None:
    case_id = _demo_case(client)
    tasks = _fetch(client, "worker-a", topic_extra={"variables": ["applicant"]}, usePriority=True)
    assert len(tasks) == 1
    task = tasks[0]
    assert task["topicName"] == "demo.topic" and task["workerId"] == "worker-a"
    assert task["processInstanceId"] == case_id and task["activityId"] == "service_call"
    assert task["processDefinitionKey"] == "external_service_task" and task["businessKey"] == "BK-1"
    assert task["variables"] == {"applicant": {"type": "String", "value": "李娜", "valueInfo": {}}}
    assert task["lockExpirationTime"].endswith("+0000") and task["retries"] is None
    # Without a variables list every variable comes; but the task is locked, so nobody else gets it now.
    assert _fetch(client, "worker-b") == []
    assert _fetch(client, "worker-a") == []

    listed = client.get("/engine-rest/external-task", query_string={"topicName": "demo.topic", "locked": "true"})
    assert [t["id"] for t in listed.get_json()] == [task["id"]]
    assert listed.get_json()[0]["workerId"] == "worker-a"
    assert client.get("/engine-rest/external-task/count", query_string={"notLocked": "true"}).get_json() == {
        "count": 0}
    one = client.get(f"/engine-rest/external-task/{task['id']}").get_json()
    assert one["processInstanceId"] == case_id and one["topicName"] == "demo.topic"


def test_only_the_lock_owner_completes_and_the_case_moves_on(client: FlaskClient) -> None:
    case_id = _demo_case(client)
    task = _fetch(client, "worker-a")[0]
    wrong = _problem(_post(client, task["id"], "complete", {"workerId": "worker-b"}))
    assert wrong["field"] == "workerId" and "worker-a" in wrong["message"]
    assert _ready(client, case_id) == []

    response = _post(client, task["id"], "complete",
                     {"workerId": "worker-a", "variables": typed({"licence_no": "JY16301000012345"})})
    assert response.status_code == 204 and response.data == b""
    assert _ready(client, case_id) == ["task_after"]
    variables = client.get(f"/engine-rest/process-instance/{case_id}/variables").get_json()
    assert variables["licence_no"]["value"] == "JY16301000012345"
    # A completed task is gone, as in Camunda: 404 for a second completion, for a get and for an unknown id.
    _problem(_post(client, task["id"], "complete", {"workerId": "worker-a"}), 404)
    assert client.get(f"/engine-rest/external-task/{task['id']}").status_code == 404
    _problem(_post(client, "no-such-task", "complete", {"workerId": "worker-a"}), 404)
    assert _fetch(client, "worker-a") == []


def test_a_failure_with_retries_makes_the_task_fetchable_again_after_the_retry_timeout(client: FlaskClient) -> None:
    _demo_case(client)
    task = _fetch(client, "worker-a")[0]
    _problem(_post(client, task["id"], "failure", {"workerId": "worker-b", "retries": 2}))
    response = _post(client, task["id"], "failure", {"workerId": "worker-a", "errorMessage": "税务系统超时",
                                                     "errorDetails": "timeout after 30s", "retries": 2,
                                                     "retryTimeout": 400})
    assert response.status_code == 204
    assert _fetch(client, "worker-b") == []  # waiting out the retry timeout
    time.sleep(0.5)
    again = _fetch(client, "worker-b")
    assert [t["id"] for t in again] == [task["id"]]
    assert again[0]["retries"] == 2 and again[0]["errorMessage"] == "税务系统超时"
    assert _incidents(client, task["processInstanceId"]) == []


def test_a_failure_without_retries_raises_an_incident_until_retries_are_set_again(client: FlaskClient) -> None:
    case_id = _demo_case(client)
    task = _fetch(client, "worker-a")[0]
    assert _post(client, task["id"], "failure",
                 {"workerId": "worker-a", "errorMessage": "接口返回 500", "retries": 0}).status_code == 204

    incidents = _incidents(client, case_id)
    assert [(i["incidentType"], i["configuration"], i["activityId"]) for i in incidents] == [
        ("failedExternalTask", task["id"], "service_call")]
    assert "接口返回 500" in incidents[0]["incidentMessage"]
    assert _fetch(client, "worker-a") == []
    assert client.get("/engine-rest/external-task/count", query_string={"noRetriesLeft": "true"}).get_json() == {
        "count": 1}

    _problem(client.put(f"/engine-rest/external-task/{task['id']}/retries", json={"retries": -1}))
    assert client.put(f"/engine-rest/external-task/{task['id']}/retries", json={"retries": 3}).status_code == 204
    assert _incidents(client, case_id) == []
    again = _fetch(client, "worker-b")
    assert [(t["id"], t["retries"]) for t in again] == [(task["id"], 3)]
    assert _post(client, task["id"], "complete", {"workerId": "worker-b"}).status_code == 204
    assert _ready(client, case_id) == ["task_after"]


def test_a_bpmn_error_routes_the_deregistration_case_to_its_tax_arrears_correction(client: FlaskClient) -> None:
    deploy_paths(client, DEREGISTRATION)
    case_id = start(client, "company_deregistration", business_key="ZX-2026-0101")["id"]
    intake = [t for t in open_tasks(client, case_id) if t["taskDefinitionKey"] == "task_intake"][0]
    complete(client, intake["id"], INTAKE)
    assert "task_tax_arrears_correction" not in _ready(client, case_id)

    tasks = _fetch(client, "tax-system", topic="tax.deregistration",
                   topic_extra={"processDefinitionKey": "company_deregistration", "businessKey": "ZX-2026-0101",
                                "variables": ["enterprise_credit_code"]})
    assert len(tasks) == 1
    assert tasks[0]["variables"]["enterprise_credit_code"]["value"] == "91630100MA7XXXXX1X"
    _problem(_post(client, tasks[0]["id"], "bpmnError", {"workerId": "tax-system"}))  # errorCode missing
    response = _post(client, tasks[0]["id"], "bpmnError", {
        "workerId": "tax-system", "errorCode": "TAX_ARREARS", "errorMessage": "存在欠税 1200 元",
        "variables": typed({"arrears_amount": 1200})})
    assert response.status_code == 204
    assert "task_tax_arrears_correction" in _ready(client, case_id)
    assert client.get(f"/engine-rest/external-task/{tasks[0]['id']}").status_code == 404
    variables = client.get(f"/engine-rest/process-instance/{case_id}/variables").get_json()
    assert variables["arrears_amount"]["value"] == 1200
    assert _incidents(client, case_id) == []


def test_a_bpmn_error_that_nothing_catches_raises_an_incident(client: FlaskClient) -> None:
    case_id = _demo_case(client)
    task = _fetch(client, "worker-a")[0]
    assert _post(client, task["id"], "bpmnError",
                 {"workerId": "worker-a", "errorCode": "NO_SUCH_CODE"}).status_code == 204
    assert [i["incidentType"] for i in _incidents(client, case_id)] == ["failedExternalTask"]
    assert _ready(client, case_id) == [] and _fetch(client, "worker-a") == []
    assert history_state(client, case_id) == "ACTIVE"


def test_an_expired_lock_lets_another_worker_fetch_and_the_old_owner_is_refused(client: FlaskClient) -> None:
    case_id = _demo_case(client)
    task = _fetch(client, "worker-a", lock_ms=200)[0]
    time.sleep(0.3)
    assert client.get("/engine-rest/external-task/count", query_string={"locked": "true"}).get_json() == {"count": 0}
    taken = _fetch(client, "worker-b")
    assert [(t["id"], t["workerId"]) for t in taken] == [(task["id"], "worker-b")]
    _problem(_post(client, task["id"], "complete", {"workerId": "worker-a"}))
    assert _post(client, task["id"], "complete", {"workerId": "worker-b"}).status_code == 204
    assert _ready(client, case_id) == ["task_after"]


def test_extend_lock_keeps_the_task_and_unlock_releases_it(client: FlaskClient) -> None:
    _demo_case(client)
    task = _fetch(client, "worker-a", lock_ms=300)[0]
    _problem(_post(client, task["id"], "extendLock", {"workerId": "worker-b", "newDuration": 60_000}))
    assert _post(client, task["id"], "extendLock", {"workerId": "worker-a", "newDuration": 60_000}).status_code == 204
    time.sleep(0.4)
    assert _fetch(client, "worker-b") == []  # the extended lock still holds
    listed = client.get("/engine-rest/external-task", query_string={"workerId": "worker-a"}).get_json()
    assert listed[0]["lockExpirationTime"] > task["lockExpirationTime"]

    assert client.post(f"/engine-rest/external-task/{task['id']}/unlock").status_code == 204
    assert client.get(f"/engine-rest/external-task/{task['id']}").get_json()["workerId"] is None
    assert [t["workerId"] for t in _fetch(client, "worker-b")] == ["worker-b"]
    _problem(client.post("/engine-rest/external-task/no-such-task/unlock"), 404)


@pytest.mark.timeout(30)
def test_long_polling_waits_for_a_task_and_returns_empty_when_none_comes(client: FlaskClient) -> None:
    _demo_case(client)
    first = _fetch(client, "worker-a")
    assert len(first) == 1
    began = time.monotonic()
    assert _fetch(client, "worker-b", asyncResponseTimeout=500) == []
    assert time.monotonic() - began >= 0.3  # it held the request instead of answering at once


def test_max_tasks_and_priority_order(client: FlaskClient) -> None:
    deploy_paths(client, DEMO)
    ids = [start(client, "external_service_task", {"n": n})["id"] for n in range(3)]
    first = _fetch(client, "worker-a", max_tasks=2)
    assert len(first) == 2 and {t["processInstanceId"] for t in first} <= set(ids)
    rest = _fetch(client, "worker-b", max_tasks=2)
    assert len(rest) == 1
    assert {t["processInstanceId"] for t in first + rest} == set(ids)
    assert _fetch(client, "worker-c", max_tasks=0) == []


def test_bad_payloads_are_refused_naming_the_field(client: FlaskClient) -> None:
    url = "/engine-rest/external-task/fetchAndLock"
    cases: list[tuple[Any, str]] = [
        ({"maxTasks": 1, "topics": []}, "workerId"),
        ({"workerId": "w", "maxTasks": "many", "topics": []}, "maxTasks"),
        ({"workerId": "w", "maxTasks": 1, "topics": "demo.topic"}, "topics"),
        ({"workerId": "w", "maxTasks": 1, "topics": [{"lockDuration": 1000}]}, "topics[0].topicName"),
        ({"workerId": "w", "maxTasks": 1, "topics": [{"topicName": "t"}]}, "topics[0].lockDuration"),
        ({"workerId": "w", "maxTasks": 1, "topics": [{"topicName": "t", "lockDuration": -5}]},
         "topics[0].lockDuration"),
        ({"workerId": "w", "maxTasks": 1, "topics": [{"topicName": "t", "lockDuration": 5, "variables": "x"}]},
         "topics[0].variables"),
        ({"workerId": "w", "maxTasks": 1, "usePriority": "yes", "topics": []}, "usePriority"),
        ({"workerId": "w", "maxTasks": 1, "asyncResponseTimeout": "soon", "topics": []}, "asyncResponseTimeout"),
        ([1, 2], "body"),
    ]
    for body, field in cases:
        problem = _problem(client.post(url, json=body))
        assert problem["field"] == field, (body, problem)
    assert _problem(client.post(url, data=b"{not json", content_type="application/json"))["field"] == "body"

    _demo_case(client)
    task = _fetch(client, "worker-a")[0]
    checks: list[tuple[str, dict[str, Any], str]] = [
        ("complete", {}, "workerId"),
        ("complete", {"workerId": "worker-a", "variables": {"x": {"value": "a", "type": "Integer"}}}, "variables.x"),
        ("complete", {"workerId": "worker-a", "localVariables": []}, "localVariables"),
        ("failure", {"workerId": "worker-a", "retries": "2"}, "retries"),
        ("failure", {"workerId": "worker-a", "retries": 1, "retryTimeout": -1}, "retryTimeout"),
        ("bpmnError", {"workerId": "worker-a", "errorCode": 7}, "errorCode"),
        ("extendLock", {"workerId": "worker-a"}, "newDuration"),
        ("extendLock", {"workerId": "worker-a", "newDuration": 0}, "newDuration"),
    ]
    for action, body, field in checks:
        problem = _problem(_post(client, task["id"], action, body))
        assert problem["field"] == field, (action, body, problem)
    assert _problem(client.put(f"/engine-rest/external-task/{task['id']}/retries", json={}))["field"] == "retries"
    # Nothing of that changed the task.
    assert client.get(f"/engine-rest/external-task/{task['id']}").get_json()["workerId"] == "worker-a"


def test_every_state_change_writes_an_audit_event_on_the_case_chain(client: FlaskClient,
                                                                     sessions: sessionmaker[Session]) -> None:
    case_id = _demo_case(client)
    task = _fetch(client, "worker-a", lock_ms=60_000)[0]
    _post(client, task["id"], "extendLock", {"workerId": "worker-a", "newDuration": 60_000})
    _post(client, task["id"], "failure", {"workerId": "worker-a", "retries": 0, "errorMessage": "失败"})
    client.put(f"/engine-rest/external-task/{task['id']}/retries", json={"retries": 1})
    _fetch(client, "worker-b")
    client.post(f"/engine-rest/external-task/{task['id']}/unlock")
    _fetch(client, "worker-c")
    _post(client, task["id"], "complete", {"workerId": "worker-c"})
    with transaction(sessions) as session:
        events = [(e.event_type, e.actor) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.instance_id == case_id, AuditEvent.event_type.like("job.%"))
            .order_by(AuditEvent.id))]
        assert verify_chain(session, case_id) is None
    assert events == [("job.locked", "worker-a"), ("job.lock_extended", "worker-a"), ("job.failed", "worker-a"),
                      ("job.retries_set", "admin"), ("job.locked", "worker-b"), ("job.unlocked", "admin"),
                      ("job.locked", "worker-c"), ("job.completed", "worker-c")]


def test_locks_and_retry_timeouts_expire_on_the_controllable_clock(client: FlaskClient) -> None:
    def set_clock(moment: str) -> None:
        assert client.put("/api/test/clock", json={"now": moment}).status_code == 200

    set_clock("2026-10-12T09:00:00+08:00")
    _demo_case(client)
    task = _fetch(client, "worker-a", lock_ms=600_000)[0]
    assert task["lockExpirationTime"].startswith("2026-10-12T01:10:00")
    set_clock("2026-10-12T09:09:59+08:00")
    assert _fetch(client, "worker-b") == []  # ten minutes on the case's clock, not the wall's
    set_clock("2026-10-12T09:10:01+08:00")
    assert [t["id"] for t in _fetch(client, "worker-b")] == [task["id"]]

    response = _post(client, task["id"], "failure", {"workerId": "worker-b", "errorMessage": "超时", "retries": 1,
                                                     "retryTimeout": 3_600_000})
    assert response.status_code == 204
    set_clock("2026-10-12T10:10:00+08:00")
    assert _fetch(client, "worker-c") == []  # the retry waits an hour on the same clock
    set_clock("2026-10-12T10:10:02+08:00")
    assert [t["id"] for t in _fetch(client, "worker-c")] == [task["id"]]
