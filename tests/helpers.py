"""Small helpers that speak the Camunda 7 REST API to the test client, as department systems do."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient


def typed(values: dict[str, Any]) -> dict[str, Any]:
    from orchestrator.web.camunda_json import typed_variables

    return typed_variables(values)


def deploy(client: FlaskClient, files: dict[str, bytes], name: str = "test") -> Any:
    data: dict[str, Any] = {"deployment-name": name}
    for filename, content in files.items():
        data[filename] = (io.BytesIO(content), filename)
    response = client.post("/engine-rest/deployment/create", data=data, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def deploy_paths(client: FlaskClient, *paths: Path) -> Any:
    return deploy(client, {p.name: p.read_bytes() for p in paths})


def start(client: FlaskClient, key: str, variables: dict[str, Any] | None = None,
          business_key: str | None = None) -> Any:
    body: dict[str, Any] = {"variables": typed(variables or {})}
    if business_key:
        body["businessKey"] = business_key
    response = client.post(f"/engine-rest/process-definition/key/{key}/start", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def open_tasks(client: FlaskClient, instance_id: str) -> list[dict[str, Any]]:
    response = client.get("/engine-rest/task", query_string={"processInstanceId": instance_id})
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


def task_by_key(client: FlaskClient, instance_id: str, key: str) -> dict[str, Any]:
    matches = [t for t in open_tasks(client, instance_id) if t["taskDefinitionKey"] == key]
    assert len(matches) == 1, [t["taskDefinitionKey"] for t in open_tasks(client, instance_id)]
    return matches[0]


def as_assignee(client: FlaskClient, task_id: str) -> FlaskClient:
    """Only the assignee completes: a task the diagram assigned (`camunda:assignee`) is completed as that
    user (a reviewer created on first use); an unassigned one by `client`, which claims it on completing."""
    response = client.get(f"/engine-rest/task/{task_id}")
    assignee = response.get_json().get("assignee") if response.status_code == 200 else None
    if not assignee:
        return client
    from tests.conftest import client_with_token

    return client_with_token(client.application, token_for(client, assignee))


def token_for(client: FlaskClient, username: str, roles: tuple[str, ...] = ("reviewer",)) -> str:
    """A bearer token of a named user of the test's app, created with `roles` on first use."""
    from tests.conftest import make_user

    tokens: dict[str, str] = client.application.extensions.setdefault("tests.user_tokens", {})
    if username not in tokens:
        tokens[username] = make_user(client.application, username, list(roles))
    return tokens[username]


def complete(client: FlaskClient, task_id: str, variables: dict[str, Any] | None = None) -> None:
    response = as_assignee(client, task_id).post(f"/engine-rest/task/{task_id}/complete",
                                                 json={"variables": typed(variables or {})})
    assert response.status_code == 204, response.get_json()


def instance_variables(client: FlaskClient, instance_id: str) -> dict[str, Any]:
    response = client.get(f"/engine-rest/process-instance/{instance_id}/variables")
    assert response.status_code == 200, response.get_json()
    return {name: v["value"] for name, v in response.get_json().items()}


def history_state(client: FlaskClient, instance_id: str) -> str:
    response = client.get(f"/engine-rest/history/process-instance/{instance_id}")
    assert response.status_code == 200
    return response.get_json()["state"]  # type: ignore[no-any-return]


def activities(client: FlaskClient, instance_id: str) -> list[dict[str, Any]]:
    response = client.get("/engine-rest/history/activity-instance", query_string={"processInstanceId": instance_id})
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]
