"""The before-request guard: authenticate, check the endpoint's rule and scope, check CSRF.

It runs for every blueprint (/engine-rest included), so an endpoint nobody declared is refused to
everyone but administrators. Credentials, in order: `Authorization: Basic` (as Camunda 7 clients
send), `Authorization: Bearer <token>`, the browser session cookie. Browser sessions must send the
CSRF token (`X-CSRF-Token` header or `csrf_token` form field) with every unsafe request; Basic and
bearer clients need not, because a browser never adds those headers on its own.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, current_app, g, redirect, request, session
from werkzeug.wrappers.response import Response as WerkzeugResponse

from orchestrator.auth.access import can_see_task, can_view_case
from orchestrator.auth.policy import Rule, rule_for
from orchestrator.auth.principal import Principal
from orchestrator.db import transaction
from orchestrator.errors import AuthenticationError, PermissionDeniedError
from orchestrator.models import HumanTask, ProcessInstance
from orchestrator.services import signin

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_USER = "uid"
SESSION_FINGERPRINT = "fp"
SESSION_CSRF = "csrf"


def current_user() -> Principal | None:
    """The principal of this request, or None for an anonymous caller of a public endpoint."""
    principal: Principal | None = g.get("principal")
    return principal


def require_user() -> Principal:
    principal = current_user()
    if principal is None:
        raise AuthenticationError("请先登录", "Sign in first")
    return principal


def csrf_token() -> str:
    """The browser session's CSRF token (created on first use)."""
    token = session.get(SESSION_CSRF)
    if not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_CSRF] = token
    return str(token)


def _client_ip() -> str | None:
    return request.remote_addr


def _from_header(header: str) -> Principal | None:
    factory = current_app.extensions["lianban.sessions"]
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        with transaction(factory) as db:
            principal = signin.principal_for_token(db, value.strip())
        if principal is None:
            raise AuthenticationError("访问令牌无效、已过期或已吊销", "Invalid, expired or revoked token")
        return principal
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username:
        raise AuthenticationError("不支持的认证方式（请用 HTTP Basic 或 Bearer 令牌）",
                                  "Unsupported Authorization scheme (use Basic or Bearer)")
    with transaction(factory) as db:  # commits the failure count even when the sign-in fails
        user = signin.check_password(db, auth.username, auth.password or "", _client_ip())
        principal = signin.load_principal(db, user, "basic") if user is not None else None
    if principal is None:
        raise AuthenticationError("用户名或密码错误", "Wrong user name or password")
    return principal


def _from_session() -> Principal | None:
    user_id = session.get(SESSION_USER)
    if not isinstance(user_id, int):
        return None
    with transaction(current_app.extensions["lianban.sessions"]) as db:
        from orchestrator.models import User

        user = db.get(User, user_id)
        if user is None or not user.active:
            return None
        if session.get(SESSION_FINGERPRINT) != signin.session_fingerprint(user.password_hash):
            return None  # the password changed since this browser signed in
        return signin.load_principal(db, user, "session")


def _wants_html() -> bool:
    """A browser navigating (it names text/html); API clients sending */* get a 401 instead of a redirect."""
    return request.method == "GET" and any(kind == "text/html" for kind, _ in request.accept_mimetypes)


def _check_csrf() -> None:
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    expected = session.get(SESSION_CSRF) or ""
    if not expected or not hmac.compare_digest(str(sent), str(expected)):
        raise PermissionDeniedError("缺少或错误的 CSRF 令牌，请刷新页面后重试", "Missing or wrong CSRF token",
                                    code="auth.csrf", field="csrf_token")


def _check_scope(declared: Rule, principal: Principal) -> None:
    args: dict[str, Any] = request.view_args or {}
    with transaction(current_app.extensions["lianban.sessions"]) as db:
        if declared.scope == "task":
            task = db.get(HumanTask, str(args.get("task_id")))
            if task is not None and not can_see_task(principal, task):
                raise PermissionDeniedError("无权查看或办理该任务（不属于您的部门）",
                                            "This task is outside your departments", field="task_id")
        elif declared.scope == "case":
            case_id = args.get("instance_id") or args.get("case_id")
            case = db.get(ProcessInstance, str(case_id))
            if case is not None and not can_view_case(db, principal, case):
                raise PermissionDeniedError("无权查看该办件", "This case is outside your scope", field="instance_id")


def guard() -> WerkzeugResponse | None:
    endpoint = request.endpoint
    if endpoint is None:
        return None  # no route: Flask answers 404/405 as problem+json
    declared = rule_for(endpoint, current_app.view_functions[endpoint])
    header = request.headers.get("Authorization")
    principal: Principal | None
    if declared.public:
        try:
            principal = _from_header(header) if header else _from_session()
        except AuthenticationError:
            principal = None  # a public page does not fail on stale credentials
        g.principal = principal
        return None
    principal = _from_header(header) if header else _from_session()
    g.principal = principal
    if principal is None:
        if _wants_html():
            return redirect(f"/login?next={quote(request.full_path.rstrip('?'), safe='/?=&')}")
        raise AuthenticationError("请先登录（浏览器登录，或使用 HTTP Basic / Bearer 令牌）",
                                  "Authentication required (sign in, HTTP Basic or a bearer token)")
    if principal.via == "session" and request.method not in SAFE_METHODS:
        _check_csrf()
    if not declared.allows(principal):
        raise PermissionDeniedError("您的角色无权执行此操作", f"Your roles may not call {endpoint}",
                                    extra={"endpoint": endpoint})
    if declared.scope is not None:
        _check_scope(declared, principal)
    return None


def install(app: Flask) -> None:
    app.before_request(guard)

    @app.errorhandler(AuthenticationError)
    def _unauthenticated(error: AuthenticationError) -> Response:
        from orchestrator.web.errors import problem_response

        response = problem_response(error.to_problem(), error.status)
        response.headers["WWW-Authenticate"] = 'Basic realm="lianban", charset="UTF-8"'
        return response
