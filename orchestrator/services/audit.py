"""Append-only audit events, chained by SHA-256 per case (and one chain for events outside cases)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from orchestrator.models import AuditEvent
from orchestrator.services import hot_sql

_AUDIT_TABLE = cast(Table, AuditEvent.__table__)


def _digest(prev_hash: str | None, instance_id: str | None, event_type: str, actor: str | None, at: datetime,
            payload: dict[str, Any]) -> str:
    body = json.dumps(
        [prev_hash, instance_id, event_type, actor, at.astimezone(UTC).isoformat(), payload],
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class ChainHead(Protocol):
    """Anything that carries a case id and the head of its audit chain (the case row)."""

    id: str
    audit_head: str | None


EventSpec = tuple[str, str | None, dict[str, Any]]  # (event type, actor, payload)


def _at() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=(now.microsecond // 1000) * 1000)  # what every database keeps


def record_events(session: Session, instance: ChainHead | None, events: list[EventSpec]) -> None:
    """Append events in one statement; a case's chain head lives on its row, which the caller holds locked."""
    if not events:
        return
    if instance is not None:
        prev = instance.audit_head
        instance_id: str | None = instance.id
    else:
        prev = session.scalar(
            select(AuditEvent.hash).where(AuditEvent.instance_id.is_(None)).order_by(AuditEvent.id.desc()).limit(1)
        )
        instance_id = None
    rows = []
    for event_type, actor, payload in events:
        at = _at()
        digest = _digest(prev, instance_id, event_type, actor, at, payload)
        rows.append({"instance_id": instance_id, "event_type": event_type, "actor": actor, "at": at,
                     "payload": payload, "prev_hash": prev, "hash": digest})
        prev = digest
    hot_sql.insert_rows(session, _AUDIT_TABLE, rows)  # on the hot path: may be batched with the step
    if instance is not None:
        instance.audit_head = prev


def record_event(session: Session, instance: ChainHead | None, event_type: str, actor: str | None,
                 payload: dict[str, Any]) -> None:
    record_events(session, instance, [(event_type, actor, payload)])


def verify_chain(session: Session, instance_id: str | None) -> AuditEvent | None:
    """Return the first event whose hash or link does not match, or None when the chain is intact."""
    query = select(AuditEvent).order_by(AuditEvent.id)
    query = query.where(
        AuditEvent.instance_id.is_(None) if instance_id is None else AuditEvent.instance_id == instance_id
    )
    prev: str | None = None
    for event in session.scalars(query):
        expected = _digest(prev, event.instance_id, event.event_type, event.actor, event.at, event.payload)
        if event.prev_hash != prev or event.hash != expected:
            return event
        prev = event.hash
    return None


def verify_all(session: Session, instance_id: str | None) -> AuditEvent | None:
    """Verify one case's chain, or every chain (each case's and the one outside cases)."""
    if instance_id is not None:
        return verify_chain(session, instance_id)
    ids = session.scalars(select(AuditEvent.instance_id).distinct())
    for chain in sorted(ids, key=lambda v: v or ""):
        broken = verify_chain(session, chain)
        if broken is not None:
            return broken
    return None
