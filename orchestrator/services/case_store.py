"""The case row on the hot path, in SQLAlchemy Core: lock, insert, and a version-checked update.

Every step of a case reads and writes this one row; the ORM's unit of work costs more here than
the database does, so the hot path uses plain statements on the mapped table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from orchestrator.errors import ConflictError
from orchestrator.models import ProcessInstance

_TABLE: Table = ProcessInstance.__table__  # type: ignore[assignment]


@dataclass
class CaseRecord:
    """One case row, detached from the ORM; `version` is the row version it was read at."""

    id: str
    definition_id: str
    definition_key: str
    business_key: str | None
    state: str
    engine_state: bytes
    serializer_version: str
    variables: dict[str, Any]
    version: int
    started_at: datetime
    ended_at: datetime | None = None
    started_by: str | None = None
    end_reason: str | None = None
    audit_head: str | None = None
    persisted: bool = field(default=False, compare=False)


_COLUMNS = [c for c in CaseRecord.__dataclass_fields__ if c != "persisted"]
# What a step may change; the rest is fixed when the case starts.
_MUTABLE = ("state", "engine_state", "serializer_version", "variables", "ended_at", "end_reason", "audit_head")


def _from_row(row: Any) -> CaseRecord:
    return CaseRecord(**{name: getattr(row, name) for name in _COLUMNS}, persisted=True)


# Built once: the hot path runs these on every step, so no statement is constructed per call.
_LOCK_BY_ID = select(_TABLE).where(_TABLE.c.id == bindparam("row_id")).with_for_update()
_LOCK_BY_OWNER: dict[str, Any] = {}
_INSERT = insert(_TABLE)
_UPDATE = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("case_id"), _TABLE.c.version == bindparam("read_version"))
    .values({name: bindparam(f"new_{name}") for name in (*_MUTABLE, "version")})
)


def lock(session: Session, instance_id: str) -> CaseRecord | None:
    """Read and lock a case row (SELECT … FOR UPDATE; SQLite holds its write lock already)."""
    row = session.execute(_LOCK_BY_ID, {"row_id": instance_id}).first()
    return _from_row(row) if row is not None else None


def lock_owner_of(session: Session, table: Table, row_id: str) -> CaseRecord | None:
    """Find and lock the case that owns a projection row (a task, a job, a timer) in one statement."""
    statement = _LOCK_BY_OWNER.get(table.name)
    if statement is None:
        statement = (select(_TABLE).join(table, table.c.instance_id == _TABLE.c.id)
                     .where(table.c.id == bindparam("row_id")).with_for_update(of=_TABLE))
        _LOCK_BY_OWNER[table.name] = statement
    row = session.execute(statement, {"row_id": row_id}).first()
    return _from_row(row) if row is not None else None


def save(session: Session, record: CaseRecord) -> None:
    """Insert a new case, or update it only if nobody else wrote it since it was read."""
    if not record.persisted:
        session.execute(_INSERT, [{name: getattr(record, name) for name in _COLUMNS}])
        record.persisted = True
        return
    params = {f"new_{name}": getattr(record, name) for name in _MUTABLE}
    params.update(case_id=record.id, read_version=record.version, new_version=record.version + 1)
    result = session.execute(_UPDATE, params)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError("办件已被他人修改，请重试", "The case was changed concurrently; retry",
                            code="instance.concurrent_update")
    record.version += 1
