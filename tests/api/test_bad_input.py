"""Bad input gets a clear problem+json naming the field, never a 500, and changes nothing stored."""

from __future__ import annotations

import io

import pytest
from flask.testing import FlaskClient

from benchmarks.diagrams import parallel_diagram
from tests.helpers import deploy, instance_variables, open_tasks, start


def _problem(response) -> dict:  # type: ignore[no-untyped-def]
    assert response.mimetype == "application/problem+json", response.data[:200]
    body = response.get_json()
    assert body["status"] == response.status_code
    assert body["message_zh"] and body["message_en"] and body["code"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body  # type: ignore[no-any-return]


def test_unknown_definition_key_is_a_404_problem(client: FlaskClient) -> None:
    body = _problem(client.post("/engine-rest/process-definition/key/nope/start", json={}))
    assert body["status"] == 404 and body["field"] == "key"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"variables": {"a": {"value": "x", "type": "Integer"}}}, "variables.a"),
        ({"variables": {"a": 1}}, "variables.a"),
        ({"variables": {"__class__": {"value": 1, "type": "Integer"}}}, "variables.__class__"),
        ({"variables": {"a": {"value": 1, "type": "Object"}}}, None),
        ({"variables": []}, "variables"),
        ({"businessKey": 7}, "businessKey"),
        ({"businessKey": "B-1\x00'); DROP TABLE audit_event; --"}, "businessKey"),  # no database text holds NUL
        ({"variables": {"a": {"value": ["ok", {"x\x00": 1}], "type": "Json"}}}, "variables.a.value[1].x\x00"),
    ],
)
def test_bad_start_payloads_name_the_field(client: FlaskClient, payload: dict, field: str | None) -> None:
    deploy(client, {"p.bpmn": parallel_diagram(1, key="bad")})
    response = client.post("/engine-rest/process-definition/key/bad/start", json=payload)
    if field is None:  # an Object typed value that is plain JSON is accepted, as Camunda's JSON serialisation
        assert response.status_code == 200
        return
    body = _problem(response)
    assert response.status_code == 400 and body["field"] == field


def test_body_that_is_not_json_is_refused(client: FlaskClient) -> None:
    deploy(client, {"p.bpmn": parallel_diagram(1, key="bad")})
    response = client.post("/engine-rest/process-definition/key/bad/start", data="{nope",
                           content_type="application/json")
    assert _problem(response)["field"] == "body"


def test_completing_with_bad_variables_changes_nothing(client: FlaskClient) -> None:
    deploy(client, {"p.bpmn": parallel_diagram(1, key="bad")})
    pid = start(client, "bad", {"kept": "yes"})["id"]
    task = open_tasks(client, pid)[0]
    response = client.post(f"/engine-rest/task/{task['id']}/complete",
                           json={"variables": {"x": {"value": "abc", "type": "Long"}}})
    assert _problem(response)["field"] == "variables.x"
    assert open_tasks(client, pid)[0]["id"] == task["id"]
    assert instance_variables(client, pid) == {"kept": "yes"}
    nul = client.post(f"/engine-rest/task/{task['id']}/complete",
                      json={"variables": {"comment": {"value": "同意\x00", "type": "String"}}})
    assert _problem(nul)["code"] == "request.nul_character" and nul.get_json()["field"] == "variables.comment.value"
    assert open_tasks(client, pid)[0]["id"] == task["id"]
    assert instance_variables(client, pid) == {"kept": "yes"}


def test_a_malformed_diagram_is_refused_naming_file_and_line(client: FlaskClient) -> None:
    data = {"broken.bpmn": (io.BytesIO(b"<bpmn:definitions xmlns:bpmn='x'>\n<oops></bpmn:definitions>"), "broken.bpmn")}
    response = client.post("/engine-rest/deployment/create", data=data, content_type="multipart/form-data")
    body = _problem(response)
    assert response.status_code == 400 and body["filename"] == "broken.bpmn" and body["line"] >= 1
    assert client.get("/engine-rest/process-definition").get_json() == []


def test_deployment_without_files_or_not_multipart_is_refused(client: FlaskClient) -> None:
    assert _problem(client.post("/engine-rest/deployment/create", json={}))["field"] == "Content-Type"
    empty = client.post("/engine-rest/deployment/create", data={"deployment-name": "x"},
                        content_type="multipart/form-data")
    assert _problem(empty)["status"] == 400


def test_unknown_task_and_instance_are_404_problems(client: FlaskClient) -> None:
    assert _problem(client.post("/engine-rest/task/nope/complete", json={}))["status"] == 404
    assert _problem(client.get("/engine-rest/task/nope"))["status"] == 404
    assert _problem(client.get("/engine-rest/process-instance/nope"))["status"] == 404
    assert _problem(client.delete("/engine-rest/process-instance/nope"))["status"] == 404
    assert _problem(client.get("/engine-rest/nothing-here"))["status"] == 404


def test_bad_query_parameters_name_the_parameter(client: FlaskClient) -> None:
    assert _problem(client.get("/engine-rest/process-definition?latestVersion=maybe"))["field"] == "latestVersion"
    assert client.get("/engine-rest/process-definition?latestVersion=false").status_code == 200
    assert _problem(client.get("/engine-rest/task?maxResults=lots"))["field"] == "maxResults"
    assert _problem(client.get("/engine-rest/task?dueBefore=yesterday"))["field"] == "dueBefore"


# Found by schemathesis against /api/openapi.json: each of these was a 500 from the database.
@pytest.mark.parametrize("path", ["/engine-rest/process-definition", "/engine-rest/process-instance",
                                  "/engine-rest/task", "/engine-rest/external-task",
                                  "/engine-rest/history/process-instance",
                                  "/engine-rest/history/activity-instance", "/api/jobs", "/api/users", "/api/cc"])
@pytest.mark.parametrize(("query", "field"), [("maxResults=-1", "maxResults"), ("firstResult=-1", "firstResult"),
                                              ("firstResult=99999999999999999999", "firstResult"),
                                              ("maxResults=1000001", "maxResults")])
def test_paging_out_of_range_is_a_400_naming_the_parameter(client: FlaskClient, path: str, query: str,
                                                           field: str) -> None:
    response = client.get(f"{path}?{query}")
    assert response.status_code == 400 and _problem(response)["field"] == field


def test_camunda_lists_take_max_results_zero_as_an_empty_page(client: FlaskClient) -> None:
    deploy(client, {"p.bpmn": parallel_diagram(2)})
    assert client.get("/engine-rest/process-definition?maxResults=0").get_json() == []
    assert len(client.get("/engine-rest/process-definition?maxResults=1").get_json()) == 1


@pytest.mark.parametrize("url", ["/engine-rest/task?assignee=a%00b", "/engine-rest/task?candidateUser=%00",
                                 "/api/tasks?caseNumber=x%00", "/engine-rest/process-definition?key%00=1"])
def test_a_nul_character_in_a_query_parameter_is_a_400_naming_it(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    body = _problem(response)
    assert response.status_code == 400 and body["code"] == "request.nul_character"
    assert body["field"] in url.split("?", 1)[1].replace("%00", "\\0")


def test_a_nul_character_in_a_form_field_of_a_deployment_is_a_400(client: FlaskClient) -> None:
    data = {"deployment-name": "bad\x00name",
            "diagram.bpmn": (io.BytesIO(parallel_diagram(2)), "diagram.bpmn")}
    response = client.post("/engine-rest/deployment/create", data=data, content_type="multipart/form-data")
    assert response.status_code == 400 and _problem(response)["field"] == "deployment-name"
    assert client.get("/engine-rest/process-definition/count").get_json()["count"] == 0


@pytest.mark.parametrize(("url", "field"), [("/engine-rest/task/%00", "task_id"),
                                            ("/engine-rest/process-instance/a%00b", "instance_id"),
                                            ("/engine-rest/process-definition/key/%00/xml", "key"),
                                            ("/api/tasks/%00/draft", "task_id")])
def test_a_nul_character_in_a_path_segment_is_a_400_naming_it(client: FlaskClient, url: str, field: str) -> None:
    response = client.get(url)
    assert response.status_code == 400 and _problem(response)["field"] == field


def test_a_method_not_allowed_names_the_allowed_ones(client: FlaskClient) -> None:
    response = client.open("/engine-rest/task", method="TRACE")
    assert response.status_code == 405 and _problem(response)["code"] == "http.405"
    assert "GET" in response.headers["Allow"]


def test_an_empty_answer_carries_no_content_type(client: FlaskClient) -> None:
    deploy(client, {"p.bpmn": parallel_diagram(2)})
    task = open_tasks(client, start(client, "parallel5")["id"])[0]
    response = client.post(f"/engine-rest/task/{task['id']}/claim", json={"userId": "admin"})
    assert response.status_code == 204 and "Content-Type" not in response.headers
