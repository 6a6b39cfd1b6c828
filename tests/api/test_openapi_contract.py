"""The OpenAPI document says what the server accepts: every route is in it, every required body field is enforced
with a 400 naming it, and the server is as strict as the document where the document is the sensible one."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

FLASK_PARAM = re.compile(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-zA-Z_]+)>")
METHODS = {"get", "put", "post", "delete", "patch"}
# A value for each path parameter that names nothing (a 404 is an acceptable answer), in the converter's format.
MISSING = {"date": "2030-01-02", "year": "2030", "name": "missing"}


@pytest.fixture()
def document(client: FlaskClient) -> dict[str, Any]:
    return client.get("/api/openapi.json").get_json()  # type: ignore[no-any-return]


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, path): operation for path, item in document["paths"].items()
            for method, operation in item.items() if method in METHODS}


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _missing_path(path: str, operation: dict[str, Any]) -> str:
    for parameter in operation["parameters"]:
        if parameter["in"] == "path":
            integer = parameter["schema"].get("type") == "integer"
            value = MISSING.get(parameter["name"], "999999999" if integer else "no-such-id")
            path = path.replace("{" + parameter["name"] + "}", value)
    return path


def test_every_api_route_of_the_app_is_documented_and_nothing_else(app: Flask, document: dict[str, Any]) -> None:
    served = set()
    for rule in app.url_map.iter_rules():
        path = FLASK_PARAM.sub(r"{\1}", rule.rule)
        if path.startswith(("/api/", "/engine-rest/")) and not path.startswith("/api/docs") or path == "/healthz":
            served |= {(method.lower(), path) for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    assert ("post", "/api/users") in served and ("get", "/api/tasks") in served
    assert served == set(_operations(document))


def test_integer_path_segments_are_documented_as_integers(document: dict[str, Any]) -> None:
    user = _operations(document)[("get", "/api/users/{user_id}")]
    assert [p["schema"] for p in user["parameters"] if p["in"] == "path"] == [
        {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}]


def test_an_id_beyond_what_the_database_holds_names_nothing(client: FlaskClient) -> None:
    for url in ["/api/cc/682751162516849688576/read", "/api/users/2147483648"]:
        response = client.open(url, method="POST" if url.endswith("read") else "GET")
        assert response.status_code == 404, url
    assert client.get("/api/users/2147483647").status_code == 404


def test_every_required_json_field_is_enforced_with_a_400_naming_one(client: FlaskClient,
                                                                       document: dict[str, Any]) -> None:
    checked = []
    for (method, path), operation in _operations(document).items():
        media = operation.get("requestBody", {}).get("content", {}).get("application/json")
        required = _resolve(document, media["schema"]).get("required", []) if media else []
        if not required:
            continue
        response = client.open(_missing_path(path, operation), method=method.upper(), json={})
        checked.append((method, path))
        if response.status_code == 404:  # the resource does not exist: an acceptable answer before the body
            continue
        problem = response.get_json()
        assert response.status_code == 400, (method, path, response.status_code, problem)
        assert response.mimetype == "application/problem+json"
        assert problem["field"] in required, (method, path, problem["field"], required)
    assert {("post", "/api/users"), ("post", "/engine-rest/message"), ("post", "/api/proxies"),
            ("post", "/api/me/password"), ("post", "/engine-rest/external-task/fetchAndLock")} <= set(checked)


def test_a_body_the_document_calls_required_is_refused_when_missing(client: FlaskClient,
                                                                       document: dict[str, Any]) -> None:
    operations = _operations(document)
    for key in [("post", "/api/users"), ("post", "/api/departments"), ("post", "/api/tokens"),
                ("post", "/engine-rest/message")]:
        assert operations[key]["requestBody"]["required"] is True
        response = client.open(key[1], method=key[0].upper())
        assert response.status_code == 400 and response.get_json()["field"] == "body", key


def test_every_pattern_in_the_document_compiles(document: dict[str, Any]) -> None:
    patterns: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                patterns.append(node["pattern"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)
    assert len(patterns) > 50
    for pattern in set(patterns):
        re.compile(pattern)


def test_no_request_string_or_field_name_may_hold_a_nul_and_the_server_agrees(client: FlaskClient,
                                                                                document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "NUL" in document["info"]["description"] or "空字符" in document["info"]["description"]
    proxy = _operations(document)[("post", "/api/proxies")]["requestBody"]["content"]["application/json"]["schema"]
    assert re.fullmatch(proxy["properties"]["proxy"]["pattern"], "张三")
    assert not re.fullmatch(proxy["properties"]["proxy"]["pattern"], "张\x00三")
    assert proxy["propertyNames"] == {"pattern": "^[^\\u0000]*$"}
    assert schemas["PlainJson"]["anyOf"]
    response = client.post("/api/proxies", json={"proxy": "张\x00三"})
    assert response.status_code == 400 and response.get_json()["code"] == "request.nul_character"


def test_a_required_text_is_documented_as_not_blank_and_blank_is_refused(client: FlaskClient,
                                                                          document: dict[str, Any]) -> None:
    body = _operations(document)[("post", "/api/tasks/{task_id}/transfer")]["requestBody"]["content"]
    reason = body["application/json"]["schema"]["properties"]["reason"]
    assert reason["maxLength"] == 2000 and not re.search(reason["pattern"], "   ")
    assert re.search(reason["pattern"], " 出差 ")
    response = client.post("/api/proxies", json={"proxy": "   ", "starts_on": "2030-01-01", "ends_on": "2030-01-02",
                                                 "reason": "出差"})
    assert response.status_code == 400 and response.get_json()["field"] == "proxy"


def test_a_query_parameter_given_twice_is_a_400_naming_it(client: FlaskClient) -> None:
    for url, name in [("/api/supervision/warnings?maxResults=1&maxResults=2", "maxResults"),
                      ("/engine-rest/task?dueBefore=2030-01-01&dueBefore=2030-01-02", "dueBefore"),
                      ("/api/tasks?due_before=2030-01-01&due_before=2030-01-02", "due_before"),
                      ("/engine-rest/task?unassigned=true&unassigned=false", "unassigned")]:
        response = client.get(url)
        assert response.status_code == 400, url
        assert response.get_json()["field"] == name


def test_an_empty_optional_query_value_is_documented_and_means_absent(client: FlaskClient,
                                                                      document: dict[str, Any]) -> None:
    tasks = _operations(document)[("get", "/api/tasks")]
    due_before = next(p for p in tasks["parameters"] if p["name"] == "due_before")
    assert due_before["allowEmptyValue"] is True
    assert client.get("/api/tasks?due_before=").get_json() == client.get("/api/tasks").get_json()
    assert client.get("/engine-rest/task/count?dueBefore=&maxResults=").status_code == 200


def test_a_year_one_moment_is_the_start_of_time_not_a_server_error(client: FlaskClient) -> None:
    for url in ["/api/supervision/step-times?to=0001-01-01", "/api/supervision/clocks?due_before=0001-01-01",
                "/api/supervision/on-time-rate?from=0001-01-01&to=9999-12-31T23:00:00-05:00"]:
        assert client.get(url).status_code == 200, url


def test_an_integer_written_with_a_fraction_of_zero_is_an_integer(client: FlaskClient) -> None:
    """JSON Schema's integer (and what Camunda's Jackson reads): 1.0 is 1, 1.5 is refused naming the field."""
    assert client.post("/engine-rest/external-task/fetchAndLock",
                       json={"workerId": "w", "maxTasks": 1.0, "topics": []}).get_json() == []
    refused = client.post("/engine-rest/external-task/fetchAndLock", json={"workerId": "w", "maxTasks": 1.5})
    assert refused.status_code == 400 and refused.get_json()["field"] == "maxTasks"


def test_camunda_typed_values_and_flags_are_as_strict_as_documented(client: FlaskClient,
                                                                     document: dict[str, Any]) -> None:
    variables = document["components"]["schemas"]["Variables"]
    assert variables["propertyNames"]["pattern"] == r"^[^\W_]\w*$"
    start = client.post("/engine-rest/process-definition/key/no-such-bundle/start",
                        json={"variables": {"amount": {"type": {}, "value": 1}}})
    assert start.status_code == 400 and start.get_json()["field"] == "variables.amount"
    deletions = client.post("/engine-rest/process-instance/no-such-id/variables", json={"deletions": {}})
    assert deletions.status_code == 400 and deletions.get_json()["field"] == "deletions"
    message = client.post("/engine-rest/message", json={"messageName": "m", "resultEnabled": "yes"})
    assert message.status_code == 400 and message.get_json()["field"] == "resultEnabled"
    unknown = client.put("/engine-rest/process-instance/no-such-id/variables/amount",
                         json={"type": "AAA", "value": None})
    assert unknown.status_code == 400 and unknown.get_json()["field"] == "variables.amount"
    complete = client.post("/engine-rest/task/no-such-id/complete", json={"withVariablesInReturn": 1})
    assert complete.status_code == 400 and complete.get_json()["field"] == "withVariablesInReturn"
