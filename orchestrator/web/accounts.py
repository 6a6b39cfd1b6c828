"""/api/me, /api/users, /api/departments, /api/tokens: accounts, managed by administrators."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify

from orchestrator.auth import permission, require_user
from orchestrator.auth.access import mask_id_number
from orchestrator.auth.guard import csrf_token
from orchestrator.auth.passwords import MIN_LENGTH
from orchestrator.auth.roles import ADMINISTRATOR, LEVELS, ROLE_LABELS, ROLES
from orchestrator.errors import InvalidRequestError
from orchestrator.models import ApiToken, Department, User
from orchestrator.services import accounts
from orchestrator.services.accounts import UserInput
from orchestrator.web.apidoc import PAGE, doc, json_request, text
from orchestrator.web.request_args import body_str, json_body, query_page, query_time_value
from orchestrator.web.session import unit_of_work

blueprint = Blueprint("accounts", __name__, url_prefix="/api")


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


_PASSWORD = {"type": "string", "minLength": MIN_LENGTH, "maxLength": 256, "pattern": r"^[^\u0000]*$",
             "description": f"至少 {MIN_LENGTH} 个字符"}
# Every field may be null or left out (unchanged; on creation: the default).
_USER_FIELDS: dict[str, Any] = {
    "display_name": _nullable(text(255, "姓名")), "password": _nullable(_PASSWORD),
    "roles": {"type": ["array", "null"], "items": {"type": "string", "enum": list(ROLES)}},
    "departments": {"type": ["array", "null"], "items": {"type": "string"}, "description": "部门编码（须已存在）"},
    "active": {"type": ["boolean", "null"]}, "district": _nullable(text(128, "所在区县")),
    "id_number": _nullable(text(32, "身份证号"))}
_USERNAME = {"type": "string", "pattern": r"^[\w.@-]{1,64}$", "description": "1–64 位文字、数字或 _.@-"}


def _user_json(user: User, departments: list[str]) -> dict[str, Any]:
    return {
        "id": user.id, "username": user.username, "display_name": user.display_name, "roles": list(user.roles),
        "role_labels": [ROLE_LABELS.get(r, r) for r in user.roles], "departments": departments,
        "active": user.active, "district": user.district,
        "id_number": mask_id_number(user.id_number) if user.id_number else None,
        "created_at": user.created_at.isoformat(),
    }


def _department_json(department: Department, codes: dict[int, str]) -> dict[str, Any]:
    return {"id": department.id, "code": department.code, "name": department.name, "level": department.level,
            "level_label": LEVELS.get(department.level, department.level),
            "parent": codes.get(department.parent_id) if department.parent_id else None}


def _token_json(token: ApiToken) -> dict[str, Any]:
    return {"id": token.id, "name": token.name, "prefix": token.prefix, "created_at": token.created_at.isoformat(),
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
            "revoked": token.revoked_at is not None}


def _str_list(body: dict[str, Any], name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequestError(f"{name} 必须是字符串数组", f"{name} must be an array of strings", field=name)
    return value


def _bool(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidRequestError(f"{name} 必须是 true 或 false", f"{name} must be a boolean", field=name)
    return value


def _user_input(body: dict[str, Any]) -> UserInput:
    return UserInput(
        username=body_str(body, "username", 64), display_name=body_str(body, "display_name"),
        password=body_str(body, "password", 256), roles=_str_list(body, "roles"),
        departments=_str_list(body, "departments"), active=_bool(body, "active"),
        district=body_str(body, "district", 128), id_number=body_str(body, "id_number", 32),
    )


@blueprint.get("/me")
@permission(signed_in=True)
def me() -> Response:
    """当前登录用户：角色、部门与可办理的候选组"""
    principal = require_user()
    body: dict[str, Any] = {
        "id": principal.id, "username": principal.username, "display_name": principal.display_name,
        "roles": sorted(principal.roles), "role_labels": [ROLE_LABELS[r] for r in sorted(principal.roles)],
        "departments": list(principal.departments), "act_groups": sorted(principal.act_groups),
        "view_groups": None if principal.view_groups is None else sorted(principal.view_groups),
        "authenticated_by": principal.via,
    }
    if principal.via == "session":
        body["csrf_token"] = csrf_token()
    return jsonify(body)


@blueprint.post("/me/password")
@doc(requestBody=json_request({"type": "object", "required": ["current_password", "new_password"], "properties": {
    "current_password": {"type": "string", "minLength": 1, "maxLength": 256}, "new_password": _PASSWORD}}),
    responses={"204": {"description": "已修改"}})
@permission(signed_in=True)
def change_password() -> tuple[str, int]:
    """修改自己的密码（需要当前密码）"""
    principal = require_user()
    body = json_body(required=True)
    current, new = body_str(body, "current_password", 256), body_str(body, "new_password", 256)
    for name, value in (("current_password", current), ("new_password", new)):
        if not value:
            raise InvalidRequestError(f"{name} 不能为空", f"{name} is required", field=name)
    with unit_of_work() as session:
        accounts.change_own_password(session, principal.id, current or "", new or "")
    return "", 204


@blueprint.get("/users")
@doc(parameters=PAGE)
@permission(roles=[ADMINISTRATOR])
def list_users() -> Response:
    """用户列表（管理员）"""
    with unit_of_work() as session:
        users = accounts.list_users(session, *query_page())
        return jsonify([_user_json(u, accounts.user_departments(session, u.id)) for u in users])


@blueprint.post("/users")
@doc(requestBody=json_request({"type": "object", "required": ["username"],
                               "properties": {"username": _USERNAME, **_USER_FIELDS}}),
     responses={"201": {"description": "新建的用户", "content": {"application/json": {"schema": {"type": "object"}}}}})
@permission(roles=[ADMINISTRATOR])
def create_user() -> tuple[Response, int]:
    """新建用户（管理员）"""
    principal = require_user()
    with unit_of_work() as session:
        user = accounts.create_user(session, _user_input(json_body(required=True)), principal.username)
        return jsonify(_user_json(user, accounts.user_departments(session, user.id))), 201


@blueprint.get("/users/<int:user_id>")
@permission(roles=[ADMINISTRATOR])
def get_user(user_id: int) -> Response:
    """查看用户（管理员）"""
    with unit_of_work() as session:
        return jsonify(_user_json(accounts.get_user(session, user_id), accounts.user_departments(session, user_id)))


@blueprint.patch("/users/<int:user_id>")
@doc(requestBody=json_request({"type": "object", "properties": _USER_FIELDS, "not": {"required": ["username"]},
                               "description": "只修改给出的字段；用户名不能修改"}))
@permission(roles=[ADMINISTRATOR])
def update_user(user_id: int) -> Response:
    """修改用户：姓名、角色、部门、停用、重置密码（管理员）"""
    principal = require_user()
    body = json_body(required=True)
    if "username" in body:
        raise InvalidRequestError("用户名不能修改", "username cannot be changed", field="username")
    with unit_of_work() as session:
        user = accounts.update_user(session, user_id, _user_input(body), principal.username)
        return jsonify(_user_json(user, accounts.user_departments(session, user_id)))


@blueprint.get("/departments")
@permission(signed_in=True)
def list_departments() -> Response:
    """部门列表（市 → 区县 → 乡镇）"""
    with unit_of_work() as session:
        departments = accounts.list_departments(session)
        codes = {d.id: d.code for d in departments}
        return jsonify([_department_json(d, codes) for d in departments])


@blueprint.post("/departments")
@doc(requestBody=json_request({"type": "object", "required": ["code", "name", "level"], "properties": {
    "code": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_-]{1,63}$", "description": "即流程图中的候选组名"},
    "name": {**text(255, "部门名称"), "minLength": 1}, "level": {"type": "string", "enum": list(LEVELS)},
    "parent": {**text(64, "上级部门编码（须已存在）"), "type": ["string", "null"]}}}),
     responses={"201": {"description": "新建的部门", "content": {"application/json": {"schema": {"type": "object"}}}}})
@permission(roles=[ADMINISTRATOR])
def create_department() -> tuple[Response, int]:
    """新建部门（管理员）；code 即流程图中 candidateGroups 使用的组名"""
    principal = require_user()
    body = json_body(required=True)
    with unit_of_work() as session:
        department = accounts.create_department(
            session, body_str(body, "code", 64), body_str(body, "name"), body_str(body, "level", 16),
            body_str(body, "parent", 64), principal.username)
        codes = {d.id: d.code for d in accounts.list_departments(session)}
        return jsonify(_department_json(department, codes)), 201


@blueprint.get("/tokens")
@permission(signed_in=True)
def list_tokens() -> Response:
    """自己的 API 访问令牌"""
    principal = require_user()
    with unit_of_work() as session:
        return jsonify([_token_json(t) for t in accounts.list_tokens(session, principal.id)])


@blueprint.post("/tokens")
@doc(requestBody=json_request({"type": "object", "required": ["name"], "properties": {
    "name": {**text(128, "令牌名称"), "minLength": 1},
    "expires_at": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "maxLength": 0},
                             {"type": "null"}], "description": "到期时间（省略或空则不过期）"}}}),
     responses={"201": {"description": "新建的令牌（token 原文只返回这一次）",
                        "content": {"application/json": {"schema": {"type": "object"}}}}})
@permission(signed_in=True)
def create_token() -> tuple[Response, int]:
    """新建 API 访问令牌（令牌原文只返回这一次）"""
    principal = require_user()
    body = json_body(required=True)
    expires_at: datetime | None = query_time_value(body.get("expires_at"), "expires_at")
    with unit_of_work() as session:
        token, raw = accounts.create_token(session, principal.id, body_str(body, "name", 128) or "",
                                           principal.username, expires_at)
        return jsonify({**_token_json(token), "token": raw}), 201


@blueprint.delete("/tokens/<int:token_id>")
@doc(responses={"204": {"description": "已吊销"}})
@permission(signed_in=True)
def revoke_token(token_id: int) -> tuple[str, int]:
    """吊销令牌（自己的；管理员可吊销任何令牌）"""
    principal = require_user()
    with unit_of_work() as session:
        accounts.revoke_token(session, token_id, None if principal.is_admin else principal.id, principal.username)
    return "", 204
