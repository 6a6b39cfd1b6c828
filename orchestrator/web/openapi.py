"""OpenAPI 3.1 at /api/openapi.json, built from the routes themselves, and a browsable page at /api/docs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, send_from_directory

from orchestrator.web.openapi_schemas import COMPONENTS, OPERATIONS

blueprint = Blueprint("openapi", __name__)

_PARAM = re.compile(r"<(?:[a-z]+:)?([a-zA-Z_]+)>")


def build_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for rule in current_app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("openapi.swagger"):
            continue
        path = _PARAM.sub(r"{\1}", rule.rule)
        view = current_app.view_functions[rule.endpoint]
        doc = (view.__doc__ or "").strip().splitlines()
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation: dict[str, Any] = {
                "operationId": f"{rule.endpoint.replace('.', '_')}_{method.lower()}",
                "tags": [rule.endpoint.split(".")[0]],
                "summary": doc[0] if doc else rule.endpoint.split(".")[-1].replace("_", " "),
                "parameters": [
                    {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                    for name in _PARAM.findall(rule.rule)
                ],
                "responses": {
                    "default": {"description": "错误 (problem+json)",
                                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
                },
            }
            operation.update(OPERATIONS.get((method, path), {"responses": {"200": {"description": "OK"}}}))
            operation["responses"].setdefault(
                "default",
                {"description": "错误 (problem+json)",
                 "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
            )
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "联办 Lianban API",
            "version": "0.1.0",
            "description": "一件事一次办流程编排服务。/engine-rest 为兼容 Camunda 7 的子集；/api 为联办自有接口。",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": COMPONENTS,
    }


@blueprint.get("/api/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI 3.1 document of every endpoint."""
    return jsonify(build_document())


def _swagger_dir() -> Path:
    from swagger_ui_bundle import swagger_ui_path  # installed from PyPI, not vendored

    return Path(swagger_ui_path)


@blueprint.get("/api/docs")
def docs_page() -> Response:
    """Browsable API documentation (Swagger UI from the swagger-ui-bundle package)."""
    html = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>联办 API 文档</title>
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css"></head><body><div id="ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/api/openapi.json", dom_id: "#ui"});</script></body></html>"""
    return Response(html, mimetype="text/html")


@blueprint.get("/api/docs/assets/<path:name>")
def swagger_assets(name: str) -> Response:
    """Static files of Swagger UI."""
    return send_from_directory(_swagger_dir(), name)
