"""Deployments and process definitions (Camunda 7 shapes)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from orchestrator.errors import InvalidRequestError
from orchestrator.services import cases, definitions
from orchestrator.web.camunda_json import (
    definition_json,
    deployment_json,
    instance_json,
    parse_variables,
)
from orchestrator.web.engine_rest import blueprint
from orchestrator.web.request_args import actor, body_str, json_body, query_bool, query_page
from orchestrator.web.session import unit_of_work

RESERVED_FIELDS = {"deployment-name", "deployment-source", "enable-duplicate-filtering", "deploy-changed-only",
                   "tenant-id", "deployment-activation-time"}


@blueprint.post("/deployment/create")
def create_deployment() -> tuple[Response, int]:
    """部署 BPMN 资源（multipart/form-data），未改动的图不产生新版本"""
    if not request.content_type or not request.content_type.startswith("multipart/form-data"):
        raise InvalidRequestError("部署请求必须是 multipart/form-data", "Deployment must be multipart/form-data",
                                  field="Content-Type")
    resources: dict[str, bytes] = {}
    for field, storage in request.files.items(multi=True):
        name = storage.filename or field
        resources[name] = storage.read()
    for field, value in request.form.items(multi=True):
        if field not in RESERVED_FIELDS:
            resources[field] = value.encode("utf-8")
    with unit_of_work() as session:
        result = definitions.deploy(session, resources, name=request.form.get("deployment-name"),
                                    source=request.form.get("deployment-source"), actor=actor())
        body = deployment_json(result.deployment, result.created)
        body["unchangedProcessDefinitions"] = {d.id: definition_json(d) for d in result.unchanged}
        if result.warnings:  # a Lianban extension: deployed, but a step's department names no known department
            body["warnings"] = result.warnings
    return jsonify(body), 200


@blueprint.get("/process-definition")
def list_process_definitions() -> Response:
    """查询流程定义"""
    first, max_results = query_page(default=100, minimum=0)
    with unit_of_work() as session:
        items = definitions.list_definitions(session, key=request.args.get("key"),
                                             latest_only=query_bool("latestVersion"),
                                             first=first, max_results=max_results)
        return jsonify([definition_json(d) for d in items])


@blueprint.get("/process-definition/count")
def count_process_definitions() -> Response:
    """统计流程定义数量"""
    with unit_of_work() as session:
        items = definitions.list_definitions(session, key=request.args.get("key"),
                                             latest_only=query_bool("latestVersion"), max_results=100_000)
        return jsonify({"count": len(items)})


@blueprint.get("/process-definition/<definition_id>")
def get_process_definition(definition_id: str) -> Response:
    """按 id 获取流程定义"""
    with unit_of_work() as session:
        return jsonify(definition_json(definitions.get_definition(session, definition_id)))


@blueprint.get("/process-definition/key/<key>")
def get_process_definition_by_key(key: str) -> Response:
    """按 key 获取最新版本的流程定义"""
    with unit_of_work() as session:
        return jsonify(definition_json(definitions.get_latest_by_key(session, key)))


def _xml(definition_id: str | None, key: str | None) -> Response:
    with unit_of_work() as session:
        definition = (definitions.get_definition(session, definition_id) if definition_id
                      else definitions.get_latest_by_key(session, key or ""))
        xml = definitions.definition_xml(session, definition)
        return jsonify({"id": definition.id, "bpmn20Xml": xml.decode("utf-8", errors="replace")})


@blueprint.get("/process-definition/<definition_id>/xml")
def get_process_definition_xml(definition_id: str) -> Response:
    """按 id 获取流程定义的 BPMN XML"""
    return _xml(definition_id, None)


@blueprint.get("/process-definition/key/<key>/xml")
def get_process_definition_xml_by_key(key: str) -> Response:
    """按 key 获取最新版本的 BPMN XML"""
    return _xml(None, key)


def _start(definition_id: str | None, key: str | None) -> Response:
    body: dict[str, Any] = json_body()
    variables = parse_variables(body.get("variables"))
    business_key = body_str(body, "businessKey")
    with unit_of_work() as session:
        instance = cases.start_case(session, key=key, definition_id=definition_id, variables=variables,
                                    business_key=business_key, actor=actor())
        result = instance_json(instance)
    return jsonify(result)


@blueprint.post("/process-definition/<definition_id>/start")
def start_by_id(definition_id: str) -> Response:
    """按流程定义 id 启动办件"""
    return _start(definition_id, None)


@blueprint.post("/process-definition/key/<key>/start")
def start_by_key(key: str) -> Response:
    """按 key 启动最新版本流程的办件"""
    return _start(None, key)
