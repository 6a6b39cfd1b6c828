"""Notifications: an in-app row per recipient, and pluggable connectors (e-mail, SMS) told after commit.

A recipient is `user:<name>`, `group:<candidate group / department>`, `role:<role>` or
`head:<department>` (the department's head). Connectors implement `Notifier.send`; the default one
logs. `LIANBAN_NOTIFIERS` lists extra ones as `package.module:ClassName`, comma-separated, each built
without arguments (read its own settings from the environment). A connector that fails is logged and
never undoes the transaction that created the notification.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Table, event, func, insert, select, update
from sqlalchemy.orm import Session

from orchestrator import timesource
from orchestrator.errors import InvalidRequestError, NotFoundError
from orchestrator.models import Notification
from orchestrator.workcalendar import shanghai_iso

log = logging.getLogger(__name__)

_TABLE: Table = Notification.__table__  # type: ignore[assignment]
RECIPIENT_KINDS = ("user", "group", "role", "head")


@dataclass(frozen=True)
class Message:
    """What a connector receives: one notification, after it was committed."""

    recipient: str
    kind: str
    title: str
    body: str
    instance_id: str | None = None
    task_id: str | None = None


class Notifier(Protocol):
    def send(self, message: Message) -> None: ...


class LoggingNotifier:
    """The default connector: writes each notification to the log (stand-in for e-mail / SMS gateways)."""

    def send(self, message: Message) -> None:
        log.info("通知 %s [%s] %s：%s", message.recipient, message.kind, message.title, message.body)


_notifiers: list[Notifier] | None = None


def notifiers() -> list[Notifier]:
    """The configured connectors (built once per process)."""
    global _notifiers
    if _notifiers is None:
        built: list[Notifier] = [LoggingNotifier()]
        for spec in filter(None, (part.strip() for part in os.environ.get("LIANBAN_NOTIFIERS", "").split(","))):
            module_name, _, class_name = spec.partition(":")
            built.append(getattr(importlib.import_module(module_name), class_name)())
        _notifiers = built
    return _notifiers


def register_notifier(notifier: Notifier) -> None:
    """Add a connector at run time (an application plugging in its own gateway)."""
    notifiers().append(notifier)


def check_recipient(recipient: str) -> str:
    kind, _, name = recipient.partition(":")
    if kind not in RECIPIENT_KINDS or not name or len(recipient) > 160:
        raise InvalidRequestError("recipient 应为 user:名称、group:组、role:角色 或 head:部门",
                                  "recipient must be user:, group:, role: or head: followed by a name",
                                  field="recipient")
    return recipient


def notify(session: Session, recipients: Iterable[str], kind: str, title: str, body: str,
           instance_id: str | None = None, task_id: str | None = None) -> list[Message]:
    """Store one notification per distinct recipient; connectors get them once the transaction commits."""
    now = timesource.now()
    messages = [Message(r, kind, title[:255], body, instance_id, task_id) for r in dict.fromkeys(recipients) if r]
    if not messages:
        return []
    session.execute(insert(_TABLE), [
        {"recipient": m.recipient, "kind": m.kind, "title": m.title, "body": m.body, "instance_id": m.instance_id,
         "task_id": m.task_id, "created_at": now} for m in messages])

    def deliver(_session: Session) -> None:
        for message in messages:
            for notifier in notifiers():
                try:
                    notifier.send(message)
                except Exception:  # a gateway outage must not lose the in-app notification
                    log.exception("notifier %s failed", type(notifier).__name__)

    event.listen(session, "after_commit", deliver, once=True)
    return messages


def _json(row: Notification) -> dict[str, Any]:
    return {"id": row.id, "recipient": row.recipient, "kind": row.kind, "title": row.title, "body": row.body,
            "instance_id": row.instance_id, "task_id": row.task_id, "created_at": shanghai_iso(row.created_at),
            "read_at": shanghai_iso(row.read_at)}


def list_for(session: Session, recipients: list[str], unread_only: bool = False, first: int = 0,
             max_results: int = 100) -> dict[str, Any]:
    query = select(Notification).where(Notification.recipient.in_(recipients))
    count_query = select(func.count()).select_from(Notification).where(Notification.recipient.in_(recipients),
                                                                       Notification.read_at.is_(None))
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    rows = session.scalars(query.order_by(Notification.id.desc()).offset(first).limit(max_results))
    return {"items": [_json(r) for r in rows], "unread": session.scalar(count_query) or 0}


def mark_read(session: Session, notification_id: int, recipients: list[str]) -> dict[str, Any]:
    row = session.get(Notification, notification_id)
    if row is None or row.recipient not in recipients:
        raise NotFoundError(f"通知不存在：{notification_id}", f"No notification {notification_id}", field="id")
    if row.read_at is None:
        session.execute(update(Notification).where(Notification.id == notification_id)
                        .values(read_at=timesource.now()))
        session.refresh(row)
    return _json(row)


__all__ = ["LoggingNotifier", "Message", "Notifier", "check_recipient", "list_for", "mark_read", "notifiers",
           "notify", "register_notifier"]
