"""OpenAPI 3.1 at /api/openapi.json, built from the routes themselves, and a browsable page at /api/docs."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, send_from_directory

from orchestrator.web.openapi_schemas import COMPONENTS, OPERATIONS, TAGS

blueprint = Blueprint("openapi", __name__)

_PARAM = re.compile(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-zA-Z_]+)>")  # Flask's <converter(args):name>
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


def _operation(method: str, path: str, params: list[str], doc: str | None, fallback: str,
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
    path_params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in params]
    operation["parameters"] = path_params + details.get("parameters", [])
    responses = details.get("responses") or {"200": {"description": "成功"}}
    if params:
        responses.setdefault("404", {**_PROBLEM, "description": "资源不存在（application/problem+json）"})
    responses.setdefault("default", _PROBLEM)
    operation["responses"] = responses
    return operation


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
            operation = _operation(method, path, _PARAM.findall(rule.rule), view.__doc__, fallback,
                                   getattr(view, "openapi_details", None))
            while operation["operationId"] in operation_ids:  # the document is invalid with duplicates
                operation["operationId"] += "_"
            operation_ids.add(operation["operationId"])
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "联办 Lianban API",
            "version": "0.1.0",
            "summary": "一件事一次办流程编排服务",
            "description": "一件事一次办流程编排服务。/engine-rest 为兼容 Camunda 7 REST API 的子集"
                           "（路径、报文与状态码相同）；/api 为联办自有接口。错误均为 application/problem+json，"
                           "带稳定的 code 与中英文消息。",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "tags": TAGS,
        "paths": dict(sorted(paths.items())),
        "components": COMPONENTS,
    }


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
