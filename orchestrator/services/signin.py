"""Signing in: passwords with throttling, bearer tokens, and the principal a request acts as."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.auth.passwords import hash_password, verify_password
from orchestrator.auth.principal import Principal, build_principal
from orchestrator.errors import TooManyAttemptsError
from orchestrator.models import ApiToken, Department, LoginThrottle, User, UserDepartment

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
LOCK = timedelta(minutes=15)
TOKEN_PREFIX = "lb_"


def _now() -> datetime:
    return datetime.now(UTC)


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def load_principal(session: Session, user: User, via: str) -> Principal:
    """Build the principal of an active user: departments, and their subtree for heads and supervisors."""
    departments = list(session.execute(
        select(Department.id, Department.code, Department.parent_id)
        .join(UserDepartment, UserDepartment.department_id == Department.id)
        .where(UserDepartment.user_id == user.id)
    ).all())
    subtree: list[str] = []
    top_level = False
    if departments and set(user.roles) & {"department_head", "supervisor"}:
        tree = session.execute(select(Department.id, Department.code, Department.parent_id)).all()
        children: dict[int | None, list[tuple[int, str]]] = {}
        for dep_id, code, parent in tree:
            children.setdefault(parent, []).append((dep_id, code))
        stack = [d.id for d in departments]
        while stack:
            for child_id, code in children.get(stack.pop(), []):
                subtree.append(code)
                stack.append(child_id)
        top_level = any(d.parent_id is None for d in departments)
    return build_principal(user_id=user.id, username=user.username, display_name=user.display_name,
                           roles=list(user.roles or []), departments=[d.code for d in departments],
                           subtree=subtree, top_level=top_level, district=user.district, via=via)


def principal_for_user_id(session: Session, user_id: int, via: str = "session") -> Principal | None:
    user = session.get(User, user_id)
    if user is None or not user.active:
        return None
    return load_principal(session, user, via)


def principal_for_token(session: Session, raw: str) -> Principal | None:
    row = session.execute(
        select(User, ApiToken).join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == token_digest(raw))
    ).first()
    if row is None:
        return None
    user, token = row
    now = _now()
    if not user.active or token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        return None
    return load_principal(session, user, "token")


def _throttle_rows(session: Session, keys: list[str]) -> dict[str, LoginThrottle]:
    rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys)))
    return {row.key: row for row in rows}


def _keys(username: str, ip: str | None) -> list[str]:
    keys = [f"user:{username.lower()[:150]}"]
    if ip:
        keys.append(f"ip:{ip[:150]}")
    return keys


def check_throttle(session: Session, username: str, ip: str | None) -> None:
    """Refuse (429) while the user name or the address is locked after repeated failures."""
    now = _now()
    for row in _throttle_rows(session, _keys(username, ip)).values():
        if row.locked_until is not None and row.locked_until > now:
            seconds = int((row.locked_until - now).total_seconds()) + 1
            raise TooManyAttemptsError(
                f"登录失败次数过多，请 {max(1, seconds // 60)} 分钟后再试",
                f"Too many failed sign-ins; retry in {seconds} s", extra={"retry_after": seconds},
            )


def record_failure(session: Session, username: str, ip: str | None) -> None:
    now = _now()
    keys = _keys(username, ip)
    rows = _throttle_rows(session, keys)
    for key in keys:
        row = rows.get(key)
        if row is None:
            row = LoginThrottle(key=key, failures=0, window_start=now)
            session.add(row)
        if now - row.window_start > WINDOW:
            row.failures, row.window_start = 0, now
        # An address is shared by many people (an office NAT): it gets a larger allowance.
        limit = MAX_FAILURES if key.startswith("user:") else MAX_FAILURES * 4
        row.failures += 1
        if row.failures >= limit:
            row.locked_until = now + LOCK
            row.failures, row.window_start = 0, now


def record_success(session: Session, username: str) -> None:
    row = session.get(LoginThrottle, _keys(username, None)[0])
    if row is not None:
        session.delete(row)


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def check_password(session: Session, username: str, password: str, ip: str | None) -> User | None:
    """The active user with that name and password, or None (the failure is counted; the caller commits)."""
    check_throttle(session, username, ip)
    user = find_user(session, username)
    ok = verify_password(user.password_hash if user is not None else None, password)
    if not ok or user is None or not user.active:
        record_failure(session, username, ip)
        return None
    record_success(session, username)
    return user


def new_token(session: Session, user: User, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Create a bearer token; the raw value is returned once and never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=token_digest(raw), prefix=raw[:10],
                     created_at=_now(), expires_at=expires_at)
    session.add(token)
    session.flush()
    return token, raw


def set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.password_changed_at = _now()


def session_fingerprint(user_password_hash: str | None) -> str:
    """Stored in the session cookie: a password change signs every browser out."""
    return hashlib.sha256((user_password_hash or "").encode()).hexdigest()[:16]
