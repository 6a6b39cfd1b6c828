"""Accounts: browser sign-in with CSRF, HTTP Basic, bearer tokens, throttling, administration, audit."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.models import AuditEvent
from orchestrator.services.audit import verify_all
from tests.conftest import make_user

PASSWORD = "correct-horse-9"


def _basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def _sign_in(browser: FlaskClient, username: str, password: str) -> int:
    page = browser.get("/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match
    response = browser.post("/login", data={"username": username, "password": password, "next": "/api/me",
                                            "csrf_token": match.group(1)})
    return response.status_code


def test_a_browser_signs_in_and_unsafe_requests_need_the_csrf_token(app: Flask, anonymous: FlaskClient) -> None:
    make_user(app, "wang", ["reviewer"], ["dept-fire-rescue"], password=PASSWORD, display_name="王审批")
    assert anonymous.post("/login", data={"username": "wang", "password": PASSWORD}).get_json()["code"] == "auth.csrf"
    assert _sign_in(anonymous, "wang", "wrong-password") == 401
    assert _sign_in(anonymous, "wang", PASSWORD) == 302
    me = anonymous.get("/api/me").get_json()
    assert me["username"] == "wang" and me["roles"] == ["reviewer"] and me["departments"] == ["dept-fire-rescue"]
    refused = anonymous.post("/api/tokens", json={"name": "脚本"})
    assert refused.status_code == 403 and refused.get_json()["code"] == "auth.csrf"
    created = anonymous.post("/api/tokens", json={"name": "脚本"}, headers={"X-CSRF-Token": me["csrf_token"]})
    assert created.status_code == 201 and created.get_json()["token"].startswith("lb_")
    anonymous.post("/logout", headers={"X-CSRF-Token": me["csrf_token"]})
    assert anonymous.get("/api/me").status_code == 401


def test_login_refuses_redirects_to_other_sites(app: Flask, anonymous: FlaskClient) -> None:
    make_user(app, "li", ["analyst"], password=PASSWORD)
    page = anonymous.get("/login?next=//evil.example/x").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    response = anonymous.post("/login", data={"username": "li", "password": PASSWORD, "next": "//evil.example/x",
                                              "csrf_token": token.group(1)})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_http_basic_and_bearer_tokens_authenticate_api_clients(app: Flask, anonymous: FlaskClient) -> None:
    make_user(app, "system-fire", ["reviewer"], ["dept-fire-rescue"], password=PASSWORD)
    assert anonymous.get("/api/me", headers=_basic("system-fire", PASSWORD)).get_json()["authenticated_by"] == "basic"
    wrong = anonymous.get("/api/me", headers=_basic("system-fire", "nope-nope"))
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Basic")
    created = anonymous.post("/api/tokens", json={"name": "消防系统"}, headers=_basic("system-fire", PASSWORD))
    raw, token_id = created.get_json()["token"], created.get_json()["id"]
    bearer = {"Authorization": f"Bearer {raw}"}
    assert anonymous.get("/api/me", headers=bearer).get_json()["authenticated_by"] == "token"
    assert anonymous.delete(f"/api/tokens/{token_id}", headers=bearer).status_code == 204
    revoked = anonymous.get("/api/me", headers=bearer)
    assert revoked.status_code == 401 and revoked.get_json()["code"] == "auth.unauthenticated"


def test_repeated_wrong_passwords_lock_the_account_for_a_while(app: Flask, anonymous: FlaskClient) -> None:
    make_user(app, "zhao", ["window_clerk"], ["intake-window"], password=PASSWORD)
    for _ in range(5):
        assert anonymous.get("/api/me", headers=_basic("zhao", "guess-guess")).status_code == 401
    locked = anonymous.get("/api/me", headers=_basic("zhao", PASSWORD))
    assert locked.status_code == 429 and locked.get_json()["code"] == "auth.throttled"
    assert "分钟后再试" in locked.get_json()["message_zh"]
    assert _sign_in(anonymous, "zhao", PASSWORD) == 429


def test_an_administrator_builds_the_department_tree_and_users_and_each_change_is_audited(
        client: FlaskClient, client_as: Callable[..., FlaskClient], sessions: sessionmaker[Session]) -> None:
    for body in ({"code": "city", "name": "示范区", "level": "city"},
                 {"code": "district-north", "name": "北部城区", "level": "district", "parent": "city"},
                 {"code": "township-tiantan", "name": "天坛街道", "level": "township", "parent": "district-north"}):
        assert client.post("/api/departments", json=body).status_code == 201, body
    upside_down = client.post("/api/departments", json={"code": "x-city", "name": "错误", "level": "city",
                                                        "parent": "township-tiantan"})
    assert upside_down.status_code == 400 and upside_down.get_json()["field"] == "level"
    created = client.post("/api/users", json={"username": "sun", "display_name": "孙主任", "password": PASSWORD,
                                              "roles": ["department_head"], "departments": ["district-north"]})
    assert created.status_code == 201, created.get_json()
    bad_role = client.post("/api/users", json={"username": "qian", "roles": ["boss"]})
    assert bad_role.status_code == 400 and bad_role.get_json()["field"] == "roles"
    assert "未知角色" in bad_role.get_json()["message_zh"]
    user_id = created.get_json()["id"]
    assert client.patch(f"/api/users/{user_id}", json={"active": False}).get_json()["active"] is False
    reviewer = client_as("reviewer", departments=["township-tiantan"])
    assert reviewer.post("/api/users", json={"username": "x"}).get_json()["code"] == "auth.forbidden"
    with transaction(sessions) as session:
        kinds = list(session.scalars(select(AuditEvent.event_type).where(AuditEvent.instance_id.is_(None))
                                     .order_by(AuditEvent.id)))
        assert kinds[-6:] == ["department.created"] * 3 + ["user.created", "user.updated", "user.created"]
        assert verify_all(session, None) is None


def test_a_department_head_reaches_the_townships_below_its_district(client: FlaskClient,
                                                                      client_as: Callable[..., FlaskClient]) -> None:
    client.post("/api/departments", json={"code": "district-north", "name": "北部城区", "level": "district"})
    client.post("/api/departments", json={"code": "township-tiantan", "name": "天坛街道", "level": "township",
                                          "parent": "district-north"})
    head = client_as("department_head", departments=["district-north"]).get("/api/me").get_json()
    assert head["act_groups"] == ["district-north", "township-tiantan"]
    reviewer = client_as("reviewer", departments=["district-north"]).get("/api/me").get_json()
    assert reviewer["act_groups"] == ["district-north"]


def test_changing_the_password_signs_out_the_browser(app: Flask, anonymous: FlaskClient) -> None:
    make_user(app, "zhou", ["supervisor"], ["city"], password=PASSWORD)
    assert _sign_in(anonymous, "zhou", PASSWORD) == 302
    csrf = anonymous.get("/api/me").get_json()["csrf_token"]
    changed = anonymous.post("/api/me/password", json={"current_password": PASSWORD, "new_password": "another-pass-1"},
                             headers={"X-CSRF-Token": csrf})
    assert changed.status_code == 204
    assert anonymous.get("/api/me").status_code == 401
