"""Append-only audit events, chained by SHA-256.

Each case has its own chain, whose head is on the case row (held under the case's row lock, so
concurrent cases never wait for each other); everything outside a case (sign-in, administration,
deployments, views of personal data) is on one global chain whose head row `audit_chain_head` is
locked by the writer, so concurrent writers link one after the other. Verification recomputes every
hash and compares each chain's last hash with its stored head, so an edited, inserted or deleted
row is found.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator import timesource
from orchestrator.models import AuditChainHead, AuditEvent, ProcessInstance
from orchestrator.services import hot_sql

GLOBAL_CHAIN = "global"

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
    now = timesource.now()
    return now.replace(microsecond=(now.microsecond // 1000) * 1000)  # what every database keeps


def record_events(session: Session, instance: ChainHead | None, events: list[EventSpec]) -> None:
    """Append events in one statement; a case's chain head lives on its row, which the caller holds locked."""
    if not events:
        return
    if instance is not None:
        prev = instance.audit_head
        instance_id: str | None = instance.id
    else:
        prev = _lock_global_head(session)  # reads: never inside hot_sql.batched (case events are)
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
    else:
        session.execute(update(AuditChainHead).where(AuditChainHead.chain == GLOBAL_CHAIN).values(hash=prev))


def _lock_global_head(session: Session) -> str | None:
    """Lock the global chain's head row (created on first use) and return its hash."""
    query = select(AuditChainHead.hash).where(AuditChainHead.chain == GLOBAL_CHAIN).with_for_update()
    row = session.execute(query).first()
    if row is None:
        try:
            with session.begin_nested():
                session.execute(insert(AuditChainHead).values(chain=GLOBAL_CHAIN, hash=None))
        except IntegrityError:
            pass  # another writer created it first; its row lock orders us after it
        row = session.execute(query).first()
        assert row is not None
    return row[0]  # type: ignore[no-any-return]


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
    last: AuditEvent | None = None
    for event in session.scalars(query):
        expected = _digest(prev, event.instance_id, event.event_type, event.actor, event.at, event.payload)
        if event.prev_hash != prev or event.hash != expected:
            return event
        prev = event.hash
        last = event
    if instance_id is None:
        head = session.scalar(select(AuditChainHead.hash).where(AuditChainHead.chain == GLOBAL_CHAIN))
    else:
        head = session.scalar(select(ProcessInstance.audit_head).where(ProcessInstance.id == instance_id))
    if head is not None and head != prev:
        # Events were removed from the end of the chain: name the last one that is still there.
        return last if last is not None else AuditEvent(id=0, instance_id=instance_id, event_type="(已删除)",
                                                        actor=None, payload={}, prev_hash=None, hash=head)
    return None


def verify_all(session: Session, instance_id: str | None) -> AuditEvent | None:
    """Verify one case's chain, or every chain (each case's and the one outside cases)."""
    if instance_id is not None:
        return verify_chain(session, instance_id)
    ids = set(session.scalars(select(AuditEvent.instance_id).distinct()))
    ids |= set(session.scalars(select(ProcessInstance.id).where(ProcessInstance.audit_head.is_not(None))))
    ids.add(None)
    for chain in sorted(ids, key=lambda v: v or ""):
        broken = verify_chain(session, chain)
        if broken is not None:
            return broken
    return None
