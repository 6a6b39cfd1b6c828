"""抄送: a reviewer copies a case to people or departments; they read it, marked read or unread.

A copy never blocks the flow: it is a row beside the case, with an audit event on the case's chain.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator.errors import InvalidRequestError, NotFoundError
from orchestrator.models import CarbonCopy, Department, ProcessInstance, User
from orchestrator.services import approval_hooks, case_store
from orchestrator.services.audit import record_event
from orchestrator.services.cases import lock_case
from orchestrator.workcalendar import SHANGHAI

MAX_RECIPIENTS = 50


def parse_recipients(raw: Any) -> list[tuple[str, str]]:
    """`[{"kind": "user" | "group", "id": "…"}]` → [(kind, id)], every entry checked."""
    if not isinstance(raw, list) or not raw or len(raw) > MAX_RECIPIENTS:
        raise InvalidRequestError(f"recipients 应为 1 到 {MAX_RECIPIENTS} 个抄送对象的列表",
                                  f"recipients must be a list of 1 to {MAX_RECIPIENTS} entries", field="recipients")
    result = []
    for index, entry in enumerate(raw):
        where = f"recipients[{index}]"
        if not isinstance(entry, dict) or entry.get("kind") not in ("user", "group"):
            raise InvalidRequestError(f"{where}.kind 应为 user（人员）或 group（部门）",
                                      f"{where}.kind must be user or group", field=f"{where}.kind")
        ident = entry.get("id")
        if not isinstance(ident, str) or not ident.strip() or len(ident) > 128:
            raise InvalidRequestError(f"{where}.id 应为用户名或部门编码", f"{where}.id is required",
                                      field=f"{where}.id")
        result.append((str(entry["kind"]), ident.strip()))
    return result


def copy_case(session: Session, instance_id: str, recipients: list[tuple[str, str]], note: str | None,
              actor: str | None) -> list[dict[str, Any]]:
    instance = lock_case(session, instance_id)
    _check_recipients_exist(session, recipients)
    rows = [{"task_id": None, "activity_id": None, "recipient_kind": kind, "recipient": ident, "sent_by": actor,
             "note": note} for kind, ident in recipients]
    record_event(session, instance, "case.copied", actor,
                 {"recipients": [f"{kind}:{ident}" for kind, ident in recipients], "note": note})
    case_store.save(session, instance)
    return [_json(row) for row in approval_hooks.write_copies(session, instance.id, rows)]


def _check_recipients_exist(session: Session, recipients: list[tuple[str, str]]) -> None:
    """Every person copied is an active user and every department an existing one (400 naming the entry)."""
    users = {ident for kind, ident in recipients if kind == "user"}
    groups = {ident for kind, ident in recipients if kind == "group"}
    known_users = set(session.scalars(select(User.username).where(User.username.in_(users), User.active.is_(True)))) \
        if users else set()
    known_groups = set(session.scalars(select(Department.code).where(Department.code.in_(groups)))) if groups else set()
    for index, (kind, ident) in enumerate(recipients):
        if kind == "user" and ident not in known_users:
            raise InvalidRequestError(f"recipients[{index}].id：没有在职用户 {ident}", f"No active user {ident}",
                                      field=f"recipients[{index}].id")
        if kind == "group" and ident not in known_groups:
            raise InvalidRequestError(f"recipients[{index}].id：没有部门 {ident}（请用部门编码）",
                                      f"No department {ident} (use its code)", field=f"recipients[{index}].id")


def copies_of_case(session: Session, instance_id: str) -> list[dict[str, Any]]:
    if session.get(ProcessInstance, instance_id) is None:
        raise NotFoundError(f"办件不存在：{instance_id}", f"No process instance with id {instance_id}", field="id")
    rows = session.scalars(select(CarbonCopy).where(CarbonCopy.instance_id == instance_id)
                           .order_by(CarbonCopy.created_at, CarbonCopy.id))
    return [_json(row) for row in rows]


def my_copies(session: Session, user: str, groups: list[str], unread: bool | None, first: int,
              max_results: int) -> dict[str, Any]:
    where = [approval_hooks.copies_filter(user, groups)]
    if unread is not None:
        where.append(CarbonCopy.read_at.is_(None) if unread else CarbonCopy.read_at.is_not(None))
    total = session.scalar(select(func.count()).select_from(CarbonCopy).where(*where)) or 0
    unread_total = session.scalar(select(func.count()).select_from(CarbonCopy).where(
        approval_hooks.copies_filter(user, groups), CarbonCopy.read_at.is_(None))) or 0
    rows = session.scalars(select(CarbonCopy).where(*where).order_by(CarbonCopy.created_at.desc(), CarbonCopy.id.desc())
                           .offset(first).limit(max_results))
    return {"total": total, "unread": unread_total, "items": [_json(row) for row in rows]}


def mark_read(session: Session, copy_id: int, user: str, groups: list[str]) -> dict[str, Any]:
    row = session.scalars(select(CarbonCopy).where(CarbonCopy.id == copy_id,
                                                   approval_hooks.copies_filter(user, groups))).first()
    if row is None:
        raise NotFoundError("没有该抄送", f"No carbon copy {copy_id} for this user", field="id")
    if row.read_at is None:
        row.read_at = datetime.now(UTC)
        row.read_by = user
        session.flush()
    return _json(row)


def _json(row: CarbonCopy) -> dict[str, Any]:
    return {"id": row.id, "case_id": row.instance_id, "task_id": row.task_id, "activity_id": row.activity_id,
            "recipient": {"kind": row.recipient_kind, "id": row.recipient}, "sent_by": row.sent_by, "note": row.note,
            "created_at": row.created_at.astimezone(SHANGHAI).isoformat(), "read": row.read_at is not None,
            "read_at": row.read_at.astimezone(SHANGHAI).isoformat() if row.read_at else None, "read_by": row.read_by}
