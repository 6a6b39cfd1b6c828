"""Camunda 7 REST shapes: typed variables in and out, and entity serialisers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator.errors import InvalidRequestError
from orchestrator.models import (
    ActivityInstance,
    Deployment,
    HumanTask,
    Incident,
    ProcessDefinition,
    ProcessInstance,
)
from orchestrator.services.case_store import CaseRecord

MAX_VARIABLES = 500


def camunda_time(value: datetime | None) -> str | None:
    """Camunda's date format: 2026-11-28T12:00:00.000+0000."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}" + value.strftime("%z")


def parse_variables(raw: Any, field: str = "variables") -> dict[str, Any]:
    """`{"name": {"value": 1, "type": "Integer"}}` → `{"name": 1}`, refusing what we cannot hold."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidRequestError(f"{field} 必须是对象", f"{field} must be an object", field=field)
    if len(raw) > MAX_VARIABLES:
        raise InvalidRequestError(f"变量过多（上限 {MAX_VARIABLES}）", f"Too many variables (max {MAX_VARIABLES})",
                                  field=field)
    result: dict[str, Any] = {}
    for name, typed in raw.items():
        where = f"{field}.{name}"
        if not isinstance(name, str) or not name or name.startswith("_") or not name.replace("_", "a").isalnum():
            raise InvalidRequestError(f"变量名不合法：{name}", f"Invalid variable name: {name!r}", field=where)
        if (not isinstance(typed, Mapping) or "value" not in typed and typed.get("type") not in ("Null", "null")
                or not isinstance(typed.get("type"), str | None)):
            raise InvalidRequestError(f"变量 {name} 应为 {{\"value\": …, \"type\": …}}",
                                      f"Variable {name} must be {{\"value\": ..., \"type\": ...}}", field=where)
        result[name] = _typed_value(typed.get("value"), str(typed.get("type") or ""), where)
    return result


# The Camunda value types this server holds (lower case; "" is Object).
_KINDS = {"", "object", "null", "string", "integer", "long", "short", "double", "boolean", "json", "date"}


def _typed_value(value: Any, kind: str, where: str) -> Any:
    kind_l = kind.lower()
    if kind_l not in _KINDS:
        raise InvalidRequestError(f"不支持的变量类型：{kind}", f"Unsupported variable type: {kind}", field=where)
    try:
        if kind_l in ("", "object") and not isinstance(value, str | int | float | bool | list | dict | None):
            raise ValueError
        if kind_l == "null" or value is None:
            return None
        if kind_l == "string":
            return str(value)
        if kind_l in ("integer", "long", "short"):
            if isinstance(value, bool) or int(value) != float(value):
                raise ValueError
            return int(value)
        if kind_l == "double":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind_l == "boolean":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "false"):
                return str(value).lower() == "true"
            raise ValueError
        if kind_l == "json":
            return json.loads(value) if isinstance(value, str) else value
        if kind_l == "date":
            datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            return str(value)
        if kind_l in ("", "object"):
            return value
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"变量值与类型 {kind} 不符", f"Value does not match type {kind}",
                                  field=where) from exc
    raise InvalidRequestError(f"不支持的变量类型：{kind}", f"Unsupported variable type: {kind}", field=where)


def typed_variable(value: Any) -> dict[str, Any]:
    if value is None:
        return {"type": "Null", "value": None, "valueInfo": {}}
    if isinstance(value, bool):
        return {"type": "Boolean", "value": value, "valueInfo": {}}
    if isinstance(value, int):
        return {"type": "Integer" if -2**31 <= value < 2**31 else "Long", "value": value, "valueInfo": {}}
    if isinstance(value, float):
        return {"type": "Double", "value": value, "valueInfo": {}}
    if isinstance(value, str):
        return {"type": "String", "value": value, "valueInfo": {}}
    return {"type": "Json", "value": json.dumps(value, ensure_ascii=False, default=str), "valueInfo": {}}


def typed_variables(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: typed_variable(value) for name, value in values.items()}


def deployment_json(deployment: Deployment, definitions: list[ProcessDefinition] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "links": [],
        "id": deployment.id,
        "name": deployment.name,
        "source": deployment.source,
        "deploymentTime": camunda_time(deployment.deployed_at),
        "tenantId": None,
    }
    if definitions is not None:
        result["deployedProcessDefinitions"] = {d.id: definition_json(d) for d in definitions} or None
        result["deployedCaseDefinitions"] = None
        result["deployedDecisionDefinitions"] = None
        result["deployedDecisionRequirementsDefinitions"] = None
    return result


def definition_json(d: ProcessDefinition) -> dict[str, Any]:
    return {
        "id": d.id, "key": d.key, "category": "http://bpmn.io/schema/bpmn", "description": None, "name": d.name,
        "version": d.version, "resource": d.resource_name, "deploymentId": d.deployment_id, "diagram": None,
        "suspended": d.suspended, "tenantId": None, "versionTag": d.version_tag, "historyTimeToLive": None,
        "startableInTasklist": True,
    }


def instance_json(i: ProcessInstance | CaseRecord) -> dict[str, Any]:
    return {
        "links": [], "id": i.id, "definitionId": i.definition_id, "definitionKey": i.definition_key,
        "businessKey": i.business_key, "caseInstanceId": None,
        "ended": i.state in ("COMPLETED", "TERMINATED"), "suspended": i.state == "SUSPENDED", "tenantId": None,
    }


def task_json(t: HumanTask) -> dict[str, Any]:
    return {
        "id": t.id, "name": t.name, "assignee": t.assignee, "owner": t.owner,
        "created": camunda_time(t.created_at), "due": camunda_time(t.due), "followUp": camunda_time(t.follow_up),
        "lastUpdated": None, "delegationState": t.delegation_state, "description": t.description,
        "executionId": t.instance_id, "parentTaskId": None, "priority": t.priority,
        "processDefinitionId": t.definition_id, "processInstanceId": t.instance_id,
        "taskDefinitionKey": t.activity_id, "caseExecutionId": None, "caseInstanceId": None,
        "caseDefinitionId": None, "suspended": t.suspended, "formKey": t.form_key, "camundaFormRef": None,
        "tenantId": None, "candidateGroups": t.candidate_groups, "candidateUsers": t.candidate_users,
        "businessKey": t.business_key, "properties": t.properties,
    }


def history_instance_json(i: ProcessInstance) -> dict[str, Any]:
    duration = None
    if i.ended_at is not None:
        duration = int((i.ended_at - i.started_at).total_seconds() * 1000)
    state = {"ACTIVE": "ACTIVE", "SUSPENDED": "SUSPENDED", "COMPLETED": "COMPLETED",
             "TERMINATED": "EXTERNALLY_TERMINATED"}[i.state]
    return {
        "id": i.id, "businessKey": i.business_key, "processDefinitionId": i.definition_id,
        "processDefinitionKey": i.definition_key, "processDefinitionName": None, "processDefinitionVersion": None,
        "startTime": camunda_time(i.started_at), "endTime": camunda_time(i.ended_at), "removalTime": None,
        "durationInMillis": duration, "startUserId": i.started_by, "startActivityId": None,
        "deleteReason": i.end_reason, "rootProcessInstanceId": i.id, "superProcessInstanceId": None,
        "superCaseInstanceId": None, "caseInstanceId": None, "tenantId": None, "state": state,
    }


def activity_json(a: ActivityInstance) -> dict[str, Any]:
    duration = None
    if a.ended_at is not None:
        duration = int((a.ended_at - a.started_at).total_seconds() * 1000)
    return {
        "id": a.id, "parentActivityInstanceId": a.instance_id, "activityId": a.activity_id,
        "activityName": a.activity_name, "activityType": a.activity_type,
        "processDefinitionKey": a.definition_id.split(":", 1)[0], "processDefinitionId": a.definition_id,
        "processInstanceId": a.instance_id, "executionId": a.instance_id, "taskId": None,
        "calledProcessInstanceId": None,
        "assignee": None, "startTime": camunda_time(a.started_at), "endTime": camunda_time(a.ended_at),
        "durationInMillis": duration, "canceled": a.canceled, "completeScope": False, "tenantId": None,
    }


def incident_json(i: Incident) -> dict[str, Any]:
    return {
        "id": i.id, "processDefinitionId": i.definition_id, "processInstanceId": i.instance_id,
        "executionId": i.instance_id, "incidentTimestamp": camunda_time(i.created_at), "incidentType": i.incident_type,
        "activityId": i.activity_id, "failedActivityId": i.activity_id, "causeIncidentId": i.id,
        "rootCauseIncidentId": i.id, "configuration": i.configuration, "incidentMessage": i.message,
        "tenantId": None, "jobDefinitionId": None, "annotation": None,
    }
