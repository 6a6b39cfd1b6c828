"""One handler turns every error into RFC 9457 problem+json; never a traceback to the user."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from orchestrator.errors import LianbanError

log = logging.getLogger(__name__)

HTTP_MESSAGES_ZH = {
    400: "请求格式不正确",
    404: "请求的资源不存在",
    405: "不支持该请求方法",
    413: "上传内容过大",
    415: "不支持的内容类型",
}


def problem_response(problem: dict[str, Any], status: int) -> Response:
    response = jsonify(problem)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def register(app: Flask) -> None:
    from orchestrator.web.request_args import check_request_parameters

    app.before_request(check_request_parameters)

    @app.after_request
    def _no_content_has_no_type(response: Response) -> Response:
        if response.status_code == 204:  # Flask labels an empty body text/html
            response.headers.pop("Content-Type", None)
        return response

    @app.errorhandler(LianbanError)
    def _lianban(error: LianbanError) -> Response:
        return problem_response(error.to_problem(), error.status)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        status = error.code or 500
        zh = HTTP_MESSAGES_ZH.get(status, "请求无法处理")
        problem = LianbanError(zh, error.description or error.name, code=f"http.{status}", status=status).to_problem()
        response = problem_response(problem, status)
        for name, value in error.get_headers():  # Allow on a 405, Retry-After, WWW-Authenticate: kept
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        problem = LianbanError("服务器内部错误，已记录，请稍后重试", "Internal server error; it has been logged",
                               code="server.error", status=500).to_problem()
        return problem_response(problem, 500)
