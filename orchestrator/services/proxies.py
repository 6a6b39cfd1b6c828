"""代理: while someone is away (a date range, Asia/Shanghai), a proxy receives their new tasks.

The original person still sees them (they stay a candidate user); see ``approval_hooks``. Setting
and revoking a proxy are audit events outside any case.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.errors import ConflictError, InvalidRequestError, NotFoundError
from orchestrator.models import TaskProxy
from orchestrator.services.audit import record_event
from orchestrator.workcalendar import SHANGHAI

MAX_DAYS = 366


def parse_day(raw: Any, field: str) -> date:
    if not isinstance(raw, str):
        raise InvalidRequestError(f"{field} 应为日期（YYYY-MM-DD）", f"{field} must be a date", field=field)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidRequestError(f"{field} 不是有效的日期（YYYY-MM-DD）", f"{field} is not a valid date",
                                  field=field) from None


def set_proxy(session: Session, principal: str, proxy: str, starts_on: date, ends_on: date, reason: str,
              actor: str | None) -> dict[str, Any]:
    if proxy == principal:
        raise InvalidRequestError("代理人不能是本人", "The proxy must be someone else", field="proxy")
    if ends_on < starts_on:
        raise InvalidRequestError("结束日期不能早于开始日期", "ends_on is before starts_on", field="ends_on")
    if (ends_on - starts_on).days > MAX_DAYS:
        raise InvalidRequestError("代理期限不能超过一年", "A proxy lasts at most a year", field="ends_on")
    if ends_on < datetime.now(UTC).astimezone(SHANGHAI).date():
        raise InvalidRequestError("代理期限已过", "The date range is in the past", field="ends_on")
    row = TaskProxy(principal=principal, proxy=proxy, starts_on=starts_on, ends_on=ends_on, reason=reason,
                    created_by=actor, created_at=datetime.now(UTC))
    session.add(row)
    session.flush()
    record_event(session, None, "proxy.set", actor, _json(row))
    return _json(row)


def revoke_proxy(session: Session, proxy_id: int, actor: str | None, is_admin: bool) -> dict[str, Any]:
    row = session.get(TaskProxy, proxy_id)
    if row is None:
        raise NotFoundError("没有该代理设置", f"No proxy {proxy_id}", field="id")
    if not is_admin and actor not in (row.principal, row.created_by):
        raise NotFoundError("没有该代理设置", f"No proxy {proxy_id}", field="id")
    if row.revoked_at is not None:
        raise ConflictError("代理已撤销", "The proxy is already revoked", code="proxy.revoked")
    row.revoked_at = datetime.now(UTC)
    session.flush()
    record_event(session, None, "proxy.revoked", actor, {"id": row.id, "principal": row.principal})
    return _json(row)


def list_proxies(session: Session, user: str | None) -> list[dict[str, Any]]:
    query = select(TaskProxy).order_by(TaskProxy.starts_on.desc(), TaskProxy.id.desc())
    if user is not None:
        query = query.where((TaskProxy.principal == user) | (TaskProxy.proxy == user))
    return [_json(row) for row in session.scalars(query)]


def _json(row: TaskProxy) -> dict[str, Any]:
    return {"id": row.id, "principal": row.principal, "proxy": row.proxy, "starts_on": row.starts_on.isoformat(),
            "ends_on": row.ends_on.isoformat(), "reason": row.reason, "created_by": row.created_by,
            "revoked": row.revoked_at is not None}
