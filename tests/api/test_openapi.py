"""/api/openapi.json is a valid OpenAPI 3.1 document of every route, and /api/docs serves a page that can show it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

CJK = re.compile(r"[\u4e00-\u9fff]")
FLASK_PARAM = re.compile(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-zA-Z_]+)>")
METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture()
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()  # type: ignore[no-any-return]


def _engine_rest_routes(app: Flask) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/engine-rest/"):
            path = FLASK_PARAM.sub(r"{\1}", rule.rule)
            routes |= {(method.lower(), path) for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    return routes


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, path): operation for path, item in document["paths"].items()
            for method, operation in item.items() if method in METHODS}


def _query_names(operation: dict[str, Any], document: dict[str, Any]) -> set[str]:
    names = set()
    for parameter in operation.get("parameters", []):
        if "$ref" in parameter:
            parameter = document["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[-1]]
        if parameter["in"] == "query":
            names.add(parameter["name"])
    return names


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document)  # raises on any violation, duplicate operationIds included
    ids = [op["operationId"] for op in _operations(document).values()]
    assert len(ids) == len(set(ids))


def test_every_engine_rest_route_of_the_app_is_in_the_document(app: Flask, document: dict[str, Any]) -> None:
    routes = _engine_rest_routes(app)
    assert {("post", "/engine-rest/message"), ("get", "/engine-rest/task"),
            ("post", "/engine-rest/deployment/create")} <= routes
    documented = set(_operations(document))
    assert routes - documented == set()
    # Nothing documented that the app does not serve.
    assert {(m, p) for m, p in documented if p.startswith("/engine-rest/")} == routes


def test_every_operation_has_a_chinese_summary_a_tag_and_a_problem_response(document: dict[str, Any]) -> None:
    for (method, path), operation in _operations(document).items():
        assert CJK.search(operation.get("summary", "")), (method, path, operation.get("summary"))
        assert operation.get("tags"), (method, path)
        problem = operation["responses"]["default"]["content"]["application/problem+json"]["schema"]
        assert problem == {"$ref": "#/components/schemas/Problem"}
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert success, (method, path)
        for name in re.findall(r"{(\w+)}", path):
            assert any(p.get("in") == "path" and p.get("name") == name for p in operation["parameters"]), (path, name)


def test_list_endpoints_document_their_query_parameters(document: dict[str, Any]) -> None:
    operations = _operations(document)
    expected = {
        "/engine-rest/task": {"processInstanceId", "processDefinitionKey", "taskDefinitionKey", "assignee",
                              "candidateGroup", "candidateUser", "unassigned", "dueBefore", "dueAfter",
                              "firstResult", "maxResults"},
        "/engine-rest/task/count": {"processInstanceId", "candidateGroup", "assignee", "unassigned"},
        "/engine-rest/process-instance": {"processDefinitionKey", "businessKey", "firstResult", "maxResults"},
        "/engine-rest/process-definition": {"key", "latestVersion", "firstResult", "maxResults"},
        "/engine-rest/history/process-instance": {"processInstanceId", "processDefinitionKey", "businessKey",
                                                  "finished", "unfinished"},
        "/engine-rest/history/activity-instance": {"processInstanceId", "activityId"},
        "/engine-rest/incident": {"processInstanceId"},
    }
    for path, names in expected.items():
        assert names <= _query_names(operations[("get", path)], document), path


def test_bodies_and_responses_are_described_where_requests_carry_json(document: dict[str, Any]) -> None:
    operations = _operations(document)
    schemas = document["components"]["schemas"]

    def body(method: str, path: str, media: str = "application/json") -> dict[str, Any]:
        return operations[(method, path)]["requestBody"]["content"][media]["schema"]  # type: ignore[no-any-return]

    assert body("post", "/engine-rest/message") == {"$ref": "#/components/schemas/MessageRequest"}
    assert schemas["MessageRequest"]["required"] == ["messageName"]
    assert {"messageName", "businessKey", "correlationKeys", "processVariables", "all", "resultEnabled"} <= set(
        schemas["MessageRequest"]["properties"])
    message_responses = operations[("post", "/engine-rest/message")]["responses"]
    assert {"200", "204"} <= set(message_responses)
    assert body("post", "/engine-rest/process-definition/key/{key}/start")["$ref"].endswith("/StartRequest")
    assert body("post", "/engine-rest/task/{task_id}/complete")["$ref"].endswith("/CompleteRequest")
    assert body("post", "/engine-rest/task/{task_id}/submit-form")["$ref"].endswith("/CompleteRequest")
    assert body("put", "/engine-rest/process-instance/{instance_id}/suspended")["$ref"].endswith("/SuspendedRequest")
    assert body("post", "/engine-rest/process-instance/{instance_id}/variables")["$ref"].endswith(
        "/VariableModifications")
    assert "deployment-name" in body("post", "/engine-rest/deployment/create", "multipart/form-data")["properties"]
    assert "204" in operations[("delete", "/engine-rest/process-instance/{instance_id}")]["responses"]
    count = operations[("get", "/engine-rest/task/count")]["responses"]["200"]["content"]["application/json"]
    assert count["schema"] == {"$ref": "#/components/schemas/Count"}


def test_the_documented_task_list_answers_with_what_the_document_says(client: FlaskClient,
                                                                      document: dict[str, Any]) -> None:
    task_schema = document["components"]["schemas"]["Task"]
    assert {"id", "taskDefinitionKey", "candidateGroups", "formKey"} <= set(task_schema["properties"])
    response = client.get("/engine-rest/task", query_string={"candidateGroup": "dept-health", "unassigned": "true",
                                                             "firstResult": 0, "maxResults": 10})
    assert response.status_code == 200 and response.get_json() == []


def test_the_docs_page_and_its_assets_are_served(client: FlaskClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "/api/openapi.json" in html
    assets = re.findall(r'(?:href|src)="(/api/docs/assets/[^"]+)"', html)
    assert any(a.endswith(".css") for a in assets) and any(a.endswith(".js") for a in assets)
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        expected = "text/css" if asset.endswith(".css") else ("text/javascript", "application/javascript")
        assert response.mimetype in ((expected,) if isinstance(expected, str) else expected), (asset, response.mimetype)
        assert len(response.data) > 10_000
    assert client.get("/api/docs/assets/no-such-file.js").status_code == 404
    assert client.get("/api/docs/assets/../../../../etc/passwd").status_code == 404


def test_the_docs_page_uses_a_swagger_ui_that_renders_openapi_3_1(client: FlaskClient) -> None:
    # Swagger UI before 5.0 refuses any `openapi: 3.1.x` document ("Unable to render this definition").
    html = client.get("/api/docs").get_data(as_text=True)
    bundle = next(a for a in re.findall(r'src="(/api/docs/assets/[^"]+\.js)"', html) if "bundle" in a)
    version = re.search(r'PACKAGE_VERSION:"(\d+)\.(\d+)\.(\d+)"', client.get(bundle).get_data(as_text=True))
    assert version is not None
    assert int(version.group(1)) >= 5, f"Swagger UI {'.'.join(version.groups())} cannot render OpenAPI 3.1"
