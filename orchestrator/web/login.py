"""Browser sign-in: /login sets the session cookie (signed, HttpOnly, SameSite=Lax), /logout clears it."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request, session
from werkzeug.wrappers.response import Response

from orchestrator.auth import permission
from orchestrator.auth.guard import SESSION_CSRF, SESSION_FINGERPRINT, SESSION_USER, _check_csrf, csrf_token
from orchestrator.db import transaction
from orchestrator.errors import TooManyAttemptsError
from orchestrator.services import signin
from orchestrator.services.audit import record_event

blueprint = Blueprint("login", __name__)


def _safe_next(target: str | None) -> str:
    """Only paths on this site: never an absolute URL an attacker chose."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    html = render_template("login.html", error=error, csrf_token=csrf_token(),
                           next=_safe_next(request.values.get("next")), username=request.form.get("username", ""))
    return html, status


@blueprint.get("/login")
@permission(public=True)
def login_page() -> tuple[str, int]:
    """登录页面"""
    return _page()


@blueprint.post("/login")
@permission(public=True)
def login() -> Response | tuple[str, int]:
    """登录（表单提交）"""
    _check_csrf()
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    factory = current_app.extensions["lianban.sessions"]
    try:
        with transaction(factory) as db:
            user = signin.check_password(db, username, password, request.remote_addr)
            if user is not None:
                fingerprint = signin.session_fingerprint(user.password_hash)
                record_event(db, None, "user.signed_in", user.username, {"via": "browser"})
                user_id = user.id
    except TooManyAttemptsError as error:
        return _page(error.message_zh, 429)
    if user is None:
        return _page("用户名或密码错误", 401)
    session.clear()  # a fresh session: no fixation
    session[SESSION_USER] = user_id
    session[SESSION_FINGERPRINT] = fingerprint
    session[SESSION_CSRF] = None
    csrf_token()
    from flask import redirect

    return redirect(_safe_next(request.form.get("next")))


@blueprint.post("/logout")
@permission(signed_in=True)
def logout() -> Response:
    """退出登录"""
    from flask import redirect

    session.clear()
    return redirect("/login")
