"""OpenAPI 3.1 at /api/openapi.json, built from the routes themselves, and a browsable page at /api/docs."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, send_from_directory

from orchestrator.web.apidoc import NO_NUL
from orchestrator.web.openapi_schemas import COMPONENTS, OPERATIONS, TAGS
from orchestrator.web.request_args import MAX_ID, QUERY_INT_LIMIT

blueprint = Blueprint("openapi", __name__)

_PARAM = re.compile(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-zA-Z_]+)>")  # Flask's <converter(args):name>
_INT_PARAM = re.compile(r"<int(?:\([^)]*\))?:([a-zA-Z_]+)>")
_PATH_PARAM = re.compile(r"\{[^}]*\}")
_PROBLEM = {"description": "错误（application/problem+json）",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
# Pages for people (the home page, this documentation and its assets) are not part of the API.
_DOCUMENTED_PREFIXES = ("/engine-rest/", "/api/")
_UNDOCUMENTED = ("/api/docs",)


def _documented(path: str) -> bool:
    if path.startswith(_UNDOCUMENTED):
        return False
    return path.startswith(_DOCUMENTED_PREFIXES) or path == "/healthz"


def _tag(path: str) -> str:
    parts = path.strip("/").split("/")
    if parts[0] == "engine-rest" and len(parts) > 1:
        return parts[1]
    if parts[0] == "api":
        return "api"
    return "ops"


def _operation_id(method: str, path: str) -> str:
    """`post` + `/engine-rest/task/{task_id}/complete` → `postTaskByTaskIdComplete`."""
    words: list[str] = []
    for segment in path.removeprefix("/engine-rest").strip("/").split("/"):
        words += (["by"] if segment.startswith("{") else []) + re.split(r"[^A-Za-z0-9]+", segment.strip("{}"))
    return method.lower() + "".join(w[:1].upper() + w[1:] for w in words if w)


def _path_parameters(rule: str, documented: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every segment of the rule, typed as its converter matches it, unless the view documents it itself."""
    own = {p["name"] for p in documented if p.get("in") == "path"}
    integers = set(_INT_PARAM.findall(rule))
    return [{"name": name, "in": "path", "required": True,
             "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID} if name in integers
             else {"type": "string"}}
            for name in _PARAM.findall(rule) if name not in own]


def _operation(method: str, path: str, rule: str, doc: str | None, fallback: str,
               view_details: dict[str, Any] | None = None) -> dict[str, Any]:
    lines = [line.strip() for line in (doc or "").strip().splitlines()]
    operation: dict[str, Any] = {
        "operationId": _operation_id(method, path),
        "tags": [_tag(path)],
        "summary": lines[0] if lines and lines[0] else fallback,
    }
    description = " ".join(line for line in lines[1:] if line)
    if description:
        operation["description"] = description
    # Details come from openapi_schemas, or from the view itself (`view.openapi_details`, e.g. web/calendar.py).
    details = copy.deepcopy(OPERATIONS.get((method, _PATH_PARAM.sub("{}", path))) or view_details or {})
    operation.update({key: value for key, value in details.items() if key not in ("parameters", "responses")})
    operation["parameters"] = _path_parameters(rule, details.get("parameters", [])) + details.get("parameters", [])
    responses = details.get("responses") or {"200": {"description": "成功"}}
    if _PARAM.search(rule):
        responses.setdefault("404", {**_PROBLEM, "description": "资源不存在（application/problem+json）"})
    responses.setdefault("default", _PROBLEM)
    operation["responses"] = responses
    return operation


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    return {kind} if isinstance(kind, str) else set(kind) if isinstance(kind, list) else set()


_PLAIN_JSON = {"$ref": "#/components/schemas/PlainJson"}
# Any JSON value the server takes: no text in it, nor any field name, holds a NUL (json_body refuses those).
PLAIN_JSON = {"description": "任意 JSON 值（文本与字段名均不含空字符）", "anyOf": [
    {"type": ["null", "boolean", "number"]}, {"type": "string", "pattern": NO_NUL},
    {"type": "array", "items": _PLAIN_JSON},
    {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": _PLAIN_JSON}]}
_COMBINATIONS = ("anyOf", "oneOf", "allOf")
_ANNOTATIONS = {"description", "title", "examples", "default"}


def _refuse_nul(schema: Any) -> None:
    """Make a request schema refuse NUL as the server does: in every string, every field name, every value left open."""
    if not isinstance(schema, dict) or "$ref" in schema:
        return
    if set(schema) <= _ANNOTATIONS:  # any value at all
        schema.update(_PLAIN_JSON)
        return
    kinds = _types(schema)
    if "string" in kinds and not {"pattern", "format", "enum", "const"} & set(schema):
        schema["pattern"] = NO_NUL
    if "object" in kinds:
        schema.setdefault("propertyNames", {"pattern": NO_NUL})
        schema.setdefault("additionalProperties", _PLAIN_JSON)
    if "array" in kinds:
        schema.setdefault("items", _PLAIN_JSON)
    children = [*schema.get("properties", {}).values(), schema.get("items"), schema.get("additionalProperties")]
    for combination in _COMBINATIONS:
        children += schema.get(combination, [])
    for child in children:
        _refuse_nul(child)


def _request_schemas(document: dict[str, Any]) -> list[Any]:
    """The schemas of what clients send: parameters, bodies and the shared schemas (errors only answer)."""
    operations = [op for item in document["paths"].values() for op in item.values()]
    parameters = [*document["components"]["parameters"].values(), *(p for op in operations for p in op["parameters"])]
    bodies = [media.get("schema") for op in operations
              for media in op.get("requestBody", {}).get("content", {}).values()]
    shared = [schema for name, schema in document["components"]["schemas"].items() if name != "Problem"]
    return [p.get("schema") for p in parameters] + bodies + shared


def _query_parameters(document: dict[str, Any]) -> None:
    """Integers in a query string are read by query_int, which refuses anything beyond ±2⁵³; an optional
    parameter given empty (`?to=`, as an HTML form sends it) counts as absent."""
    parameters = list(document["components"]["parameters"].values())
    parameters += [p for item in document["paths"].values() for op in item.values() for p in op["parameters"]]
    for parameter in parameters:
        schema = parameter.get("schema", {})
        if parameter.get("in") == "query" and not parameter.get("required"):
            parameter["allowEmptyValue"] = True
        if parameter.get("in") == "query" and "integer" in _types(schema):
            schema.setdefault("minimum", -QUERY_INT_LIMIT)
            schema.setdefault("maximum", QUERY_INT_LIMIT)


def build_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    for rule in current_app.url_map.iter_rules():
        path = _PARAM.sub(r"{\1}", rule.rule)
        if not _documented(path):
            continue
        view = current_app.view_functions[rule.endpoint]
        fallback = rule.endpoint.split(".")[-1].replace("_", " ")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation = _operation(method, path, rule.rule, view.__doc__, fallback,
                                   getattr(view, "openapi_details", None))
            while operation["operationId"] in operation_ids:  # the document is invalid with duplicates
                operation["operationId"] += "_"
            operation_ids.add(operation["operationId"])
            paths.setdefault(path, {})[method.lower()] = operation
    document: dict[str, Any] = copy.deepcopy({
        "openapi": "3.1.0",
        "info": {
            "title": "联办 Lianban API",
            "version": "0.1.0",
            "summary": "一件事一次办流程编排服务",
            "description": "一件事一次办流程编排服务。/engine-rest 为兼容 Camunda 7 REST API 的子集"
                           "（路径、报文与状态码相同）；/api 为联办自有接口。错误均为 application/problem+json，"
                           "带稳定的 code 与中英文消息。"
                           "任何文本（字段值、字段名、查询参数）都不能含空字符（NUL）。",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "tags": TAGS,
        "paths": dict(sorted(paths.items())),
        "components": COMPONENTS,
    })
    for schema in _request_schemas(document):
        _refuse_nul(schema)
    document["components"]["schemas"]["PlainJson"] = copy.deepcopy(PLAIN_JSON)
    _query_parameters(document)
    return document


@blueprint.get("/api/openapi.json")
def openapi_json() -> Response:
    """本 OpenAPI 3.1 文档（全部接口）"""
    return jsonify(build_document())


def _swagger_dir() -> Path:
    import flask_swagger_ui  # Swagger UI 5 (renders OpenAPI 3.1), installed from PyPI, not vendored

    return Path(flask_swagger_ui.__file__).parent / "dist"


@blueprint.get("/api/docs")
def docs_page() -> Response:
    """Browsable API documentation (Swagger UI 5 from the flask-swagger-ui package)."""
    html = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>联办 API 文档</title>
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css"></head><body><div id="ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/api/openapi.json", dom_id: "#ui"});</script></body></html>"""
    return Response(html, mimetype="text/html")


@blueprint.get("/api/docs/assets/<path:name>")
def swagger_assets(name: str) -> Response:
    """Static files of Swagger UI."""
    return send_from_directory(_swagger_dir(), name)
