"""Schemas and per-operation details of the OpenAPI document."""

from __future__ import annotations

from typing import Any

_VARIABLES = {"$ref": "#/components/schemas/Variables"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


COMPONENTS: dict[str, Any] = {
    "schemas": {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details, with Chinese and English messages",
            "properties": {
                "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                "code": {"type": "string"}, "detail": {"type": "string"}, "message_zh": {"type": "string"},
                "message_en": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"},
                "filename": {"type": "string"}, "element_id": {"type": "string"}, "line": {"type": "integer"},
            },
            "required": ["type", "title", "status", "code"],
        },
        "TypedValue": {
            "type": "object",
            "properties": {"value": {}, "type": {"type": "string", "examples": ["String", "Integer", "Boolean",
                                                                            "Double", "Json", "Null"]},
                           "valueInfo": {"type": "object"}},
        },
        "Variables": {"type": "object", "additionalProperties": _ref("TypedValue")},
        "Deployment": {"type": "object", "properties": {
            "id": {"type": "string"}, "name": {"type": ["string", "null"]}, "source": {"type": ["string", "null"]},
            "deploymentTime": {"type": "string"},
            "deployedProcessDefinitions": {"type": ["object", "null"], "additionalProperties": _ref("ProcessDefinition")},
        }},
        "ProcessDefinition": {"type": "object", "properties": {
            "id": {"type": "string"}, "key": {"type": "string"}, "name": {"type": ["string", "null"]},
            "version": {"type": "integer"}, "resource": {"type": "string"}, "deploymentId": {"type": "string"},
            "suspended": {"type": "boolean"}, "versionTag": {"type": ["string", "null"]},
        }},
        "ProcessInstance": {"type": "object", "properties": {
            "id": {"type": "string"}, "definitionId": {"type": "string"}, "businessKey": {"type": ["string", "null"]},
            "ended": {"type": "boolean"}, "suspended": {"type": "boolean"},
        }},
        "Task": {"type": "object", "properties": {
            "id": {"type": "string"}, "name": {"type": ["string", "null"]}, "assignee": {"type": ["string", "null"]},
            "created": {"type": "string"}, "due": {"type": ["string", "null"]}, "followUp": {"type": ["string", "null"]},
            "priority": {"type": "integer"}, "processInstanceId": {"type": "string"},
            "processDefinitionId": {"type": "string"}, "taskDefinitionKey": {"type": "string"},
            "formKey": {"type": ["string", "null"]}, "candidateGroups": {"type": "array", "items": {"type": "string"}},
            "candidateUsers": {"type": "array", "items": {"type": "string"}},
        }},
        "HistoricProcessInstance": {"type": "object", "properties": {
            "id": {"type": "string"}, "startTime": {"type": "string"}, "endTime": {"type": ["string", "null"]},
            "state": {"type": "string"}, "durationInMillis": {"type": ["integer", "null"]},
        }},
        "HistoricActivityInstance": {"type": "object", "properties": {
            "id": {"type": "string"}, "activityId": {"type": "string"}, "activityType": {"type": "string"},
            "startTime": {"type": "string"}, "endTime": {"type": ["string", "null"]}, "canceled": {"type": "boolean"},
        }},
        "Incident": {"type": "object", "properties": {
            "id": {"type": "string"}, "incidentType": {"type": "string"}, "activityId": {"type": ["string", "null"]},
            "incidentMessage": {"type": "string"},
        }},
        "Count": {"type": "object", "properties": {"count": {"type": "integer"}}},
        "StartRequest": {"type": "object", "properties": {"variables": _VARIABLES, "businessKey": {"type": "string"}}},
        "CompleteRequest": {"type": "object", "properties": {"variables": _VARIABLES,
                                                              "withVariablesInReturn": {"type": "boolean"}}},
        "MessageRequest": {"type": "object", "required": ["messageName"], "properties": {
            "messageName": {"type": "string"}, "businessKey": {"type": "string"}, "correlationKeys": _VARIABLES,
            "processVariables": _VARIABLES, "all": {"type": "boolean"}, "resultEnabled": {"type": "boolean"},
        }},
    }
}

OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/engine-rest/deployment/create"): {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "properties": {"deployment-name": {"type": "string"},
                                             "deployment-source": {"type": "string"},
                                             "data": {"type": "string", "format": "binary"}}}}}},
        "responses": {"200": _json(_ref("Deployment"))},
    },
    ("GET", "/engine-rest/process-definition"): {"responses": {"200": _json(_list("ProcessDefinition"))}},
    ("GET", "/engine-rest/process-definition/{definition_id}"): {"responses": {"200": _json(_ref("ProcessDefinition"))}},
    ("GET", "/engine-rest/process-definition/key/{key}"): {"responses": {"200": _json(_ref("ProcessDefinition"))}},
    ("POST", "/engine-rest/process-definition/key/{key}/start"): {
        "requestBody": _body(_ref("StartRequest")), "responses": {"200": _json(_ref("ProcessInstance"))}},
    ("POST", "/engine-rest/process-definition/{definition_id}/start"): {
        "requestBody": _body(_ref("StartRequest")), "responses": {"200": _json(_ref("ProcessInstance"))}},
    ("GET", "/engine-rest/process-instance"): {"responses": {"200": _json(_list("ProcessInstance"))}},
    ("GET", "/engine-rest/process-instance/{instance_id}"): {"responses": {"200": _json(_ref("ProcessInstance"))}},
    ("DELETE", "/engine-rest/process-instance/{instance_id}"): {"responses": {"204": {"description": "终止"}}},
    ("GET", "/engine-rest/task"): {"responses": {"200": _json(_list("Task"))}},
    ("GET", "/engine-rest/task/count"): {"responses": {"200": _json(_ref("Count"))}},
    ("GET", "/engine-rest/task/{task_id}"): {"responses": {"200": _json(_ref("Task"))}},
    ("POST", "/engine-rest/task/{task_id}/complete"): {
        "requestBody": _body(_ref("CompleteRequest")),
        "responses": {"204": {"description": "已办结"}, "200": _json(_VARIABLES)}},
    ("POST", "/engine-rest/message"): {
        "requestBody": _body(_ref("MessageRequest")), "responses": {"204": {"description": "已关联"}}},
    ("GET", "/engine-rest/incident"): {"responses": {"200": _json(_list("Incident"))}},
    ("GET", "/engine-rest/history/process-instance"): {"responses": {"200": _json(_list("HistoricProcessInstance"))}},
    ("GET", "/engine-rest/history/activity-instance"): {
        "responses": {"200": _json(_list("HistoricActivityInstance"))}},
}
