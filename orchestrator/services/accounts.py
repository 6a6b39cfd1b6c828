"""Administer users, departments and API tokens; every change is an audit event on the global chain."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from orchestrator.auth.passwords import MIN_LENGTH
from orchestrator.auth.roles import LEVELS, ROLES
from orchestrator.errors import ConflictError, InvalidRequestError, NotFoundError, PermissionDeniedError
from orchestrator.models import ApiToken, Department, User, UserDepartment
from orchestrator.services.audit import record_event
from orchestrator.services.signin import new_token, set_password

_USERNAME = re.compile(r"^[\w.@-]{1,64}$")  # letters of any script (汉字 too), digits, _ . @ -
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,63}$")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class UserInput:
    """What an administrator may set on a user; None leaves a field unchanged."""

    username: str | None = None
    display_name: str | None = None
    password: str | None = None
    roles: list[str] | None = None
    departments: list[str] | None = None
    active: bool | None = None
    district: str | None = None
    id_number: str | None = None


def _check_roles(roles: list[str]) -> None:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise InvalidRequestError(f"未知角色：{'、'.join(unknown)}（可选：{'、'.join(ROLES)}）",
                                  f"Unknown roles {unknown}", field="roles")


def _check_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidRequestError(f"密码至少需要 {MIN_LENGTH} 个字符",
                                  f"Password needs at least {MIN_LENGTH} characters", field="password")


def _departments_by_code(session: Session, codes: list[str]) -> list[Department]:
    found = {d.code: d for d in session.scalars(select(Department).where(Department.code.in_(codes)))}
    missing = [c for c in codes if c not in found]
    if missing:
        raise InvalidRequestError(f"部门不存在：{'、'.join(missing)}", f"Unknown departments {missing}",
                                  field="departments")
    return [found[c] for c in codes]


def user_departments(session: Session, user_id: int) -> list[str]:
    return list(session.scalars(
        select(Department.code).join(UserDepartment, UserDepartment.department_id == Department.id)
        .where(UserDepartment.user_id == user_id).order_by(Department.code)))


def _set_departments(session: Session, user: User, codes: list[str]) -> None:
    departments = _departments_by_code(session, codes)
    session.execute(delete(UserDepartment).where(UserDepartment.user_id == user.id))
    session.add_all([UserDepartment(user_id=user.id, department_id=d.id) for d in departments])


def create_user(session: Session, data: UserInput, actor: str | None) -> User:
    if not data.username or not _USERNAME.match(data.username):
        raise InvalidRequestError("用户名须为 1–64 位文字、数字或 _.@-",
                                  "username must be 1-64 letters, digits or _.@-", field="username")
    if session.scalar(select(User.id).where(User.username == data.username)) is not None:
        raise ConflictError(f"用户名已存在：{data.username}", f"User {data.username} exists", code="user.exists",
                            field="username")
    roles = data.roles or []
    _check_roles(roles)
    user = User(username=data.username, display_name=data.display_name or data.username, roles=roles,
                active=True if data.active is None else data.active, district=data.district,
                id_number=data.id_number, created_at=_now())
    if data.password is not None:
        _check_password(data.password)
        set_password(user, data.password)
    session.add(user)
    session.flush()
    if data.departments:
        _set_departments(session, user, data.departments)
    record_event(session, None, "user.created", actor,
                 {"user": user.username, "roles": roles, "departments": data.departments or []})
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"用户不存在：{user_id}", f"No user {user_id}", field="id")
    return user


def update_user(session: Session, user_id: int, data: UserInput, actor: str | None) -> User:
    user = get_user(session, user_id)
    changed: dict[str, Any] = {}
    if data.display_name is not None:
        user.display_name = changed["display_name"] = data.display_name
    if data.roles is not None:
        _check_roles(data.roles)
        user.roles = changed["roles"] = list(data.roles)
    if data.active is not None:
        if not data.active and actor == user.username:
            raise ConflictError("不能停用自己的账号", "You cannot deactivate yourself", code="user.self_deactivate",
                                field="active")
        user.active = changed["active"] = data.active
    if data.district is not None:
        user.district = changed["district"] = data.district
    if data.id_number is not None:
        user.id_number = data.id_number
        changed["id_number"] = "（已修改）"  # the number itself never goes into the audit log
    if data.password is not None:
        _check_password(data.password)
        set_password(user, data.password)
        changed["password"] = "（已重置）"
    if data.departments is not None:
        _set_departments(session, user, data.departments)
        changed["departments"] = data.departments
    record_event(session, None, "user.updated", actor, {"user": user.username, "changed": changed})
    return user


def change_own_password(session: Session, user_id: int, current: str, new: str) -> None:
    from orchestrator.auth.passwords import verify_password

    user = get_user(session, user_id)
    if not verify_password(user.password_hash, current):
        raise PermissionDeniedError("当前密码不正确", "Current password is wrong", field="current_password")
    _check_password(new)
    set_password(user, new)
    record_event(session, None, "user.password_changed", user.username, {"user": user.username})


def list_users(session: Session, first: int = 0, max_results: int = 100) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username).offset(max(first, 0))
                                .limit(min(max(max_results, 0), 1000))))


def list_all_users(session: Session) -> list[tuple[User, list[str]]]:
    """Every user with its department codes, by user name (the command line's list)."""
    codes: dict[int, list[str]] = {}
    for user_id, code in session.execute(select(UserDepartment.user_id, Department.code)
                                         .join(Department, Department.id == UserDepartment.department_id)
                                         .order_by(Department.code)):
        codes.setdefault(user_id, []).append(code)
    return [(user, codes.get(user.id, [])) for user in session.scalars(select(User).order_by(User.username))]


def user_by_name(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"用户不存在：{username}", f"No user {username}", field="username")
    return user


def list_departments(session: Session) -> list[Department]:
    return list(session.scalars(select(Department).order_by(Department.id)))


def create_department(session: Session, code: str | None, name: str | None, level: str | None,
                      parent_code: str | None, actor: str | None) -> Department:
    if not code or not _CODE.match(code):
        raise InvalidRequestError("部门编码须为 2–64 位小写字母、数字、_ 或 -（即流程图中的候选组名）",
                                  "code must be 2-64 of [a-z0-9_-]", field="code")
    if not name:
        raise InvalidRequestError("部门名称不能为空", "name is required", field="name")
    if level not in LEVELS:
        raise InvalidRequestError(f"部门层级须为 {'、'.join(LEVELS)}", f"level must be one of {list(LEVELS)}",
                                  field="level")
    if session.scalar(select(Department.id).where(Department.code == code)) is not None:
        raise ConflictError(f"部门编码已存在：{code}", f"Department {code} exists", code="department.exists",
                            field="code")
    parent = _departments_by_code(session, [parent_code])[0] if parent_code else None
    if parent is not None and list(LEVELS).index(level) < list(LEVELS).index(parent.level):
        raise InvalidRequestError("下级部门的层级不能高于上级部门", "A child cannot be above its parent's level",
                                  field="level")
    department = Department(code=code, name=name, level=level, parent_id=parent.id if parent else None,
                            created_at=_now())
    session.add(department)
    session.flush()
    record_event(session, None, "department.created", actor,
                 {"code": code, "name": name, "level": level, "parent": parent_code})
    return department


def create_token(session: Session, user_id: int, name: str, actor: str | None,
                 expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    if not name or len(name) > 128:
        raise InvalidRequestError("令牌名称须为 1–128 个字符", "name must be 1-128 characters", field="name")
    user = get_user(session, user_id)
    token, raw = new_token(session, user, name, expires_at)
    record_event(session, None, "token.created", actor, {"user": user.username, "token": token.prefix, "name": name})
    return token, raw


def list_tokens(session: Session, user_id: int) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)))


def revoke_token(session: Session, token_id: int, user_id: int | None, actor: str | None) -> ApiToken:
    """Revoke a token; `user_id` limits it to one user's tokens (None: an administrator, any token)."""
    token = session.get(ApiToken, token_id)
    if token is None or (user_id is not None and token.user_id != user_id):
        raise NotFoundError(f"令牌不存在：{token_id}", f"No token {token_id}", field="id")
    if token.revoked_at is None:
        token.revoked_at = _now()
        record_event(session, None, "token.revoked", actor, {"token": token.prefix})
    return token
