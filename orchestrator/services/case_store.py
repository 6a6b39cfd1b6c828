"""The case row on the hot path, in SQLAlchemy Core: lock, insert, and a version-checked update.

Every step of a case reads and writes this one row; the ORM's unit of work costs more here than
the database does, so the hot path uses plain statements on the mapped table, compiled once and
run on the raw cursor (`hot_sql`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from orchestrator.errors import ConflictError
from orchestrator.models import ProcessInstance
from orchestrator.services import hot_sql, read_ahead

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


def _from_values(values: tuple[Any, ...]) -> CaseRecord:
    return CaseRecord(**dict(zip(_COLUMNS, values, strict=True)), persisted=True)


def from_locked_row(row: Any) -> CaseRecord:
    """A case read by a caller's own locking query (it selected every column of the case table)."""
    return _from_row(row)


# Built once: the hot path runs these on every step, so no statement is constructed per call.
_SELECTED = [_TABLE.c[name] for name in _COLUMNS]
_LOCK_BY_ID = hot_sql.HotStatement(select(*_SELECTED).where(_TABLE.c.id == bindparam("row_id")).with_for_update())
_LOCK_BY_OWNER: dict[tuple[str, tuple[str, ...]], hot_sql.HotStatement] = {}
_INSERT = hot_sql.HotStatement(insert(_TABLE).values({name: bindparam(name) for name in _COLUMNS}))
_UPDATE = hot_sql.HotStatement(
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("case_id"), _TABLE.c.version == bindparam("read_version"))
    .values({name: bindparam(f"new_{name}") for name in (*_MUTABLE, "version")})
)


def lock(session: Session, instance_id: str) -> CaseRecord | None:
    """Read and lock a case row (SELECT … FOR UPDATE; SQLite holds its write lock already)."""
    values = hot_sql.fetch_one(session, _LOCK_BY_ID, {"row_id": instance_id})
    return _from_values(values) if values is not None else None


def _lock_by_owner(table: Table, columns: tuple[str, ...] = ()) -> hot_sql.HotStatement:
    statement = _LOCK_BY_OWNER.get((table.name, columns))
    if statement is None:
        statement = hot_sql.HotStatement(
            select(*_SELECTED, *(table.c[name] for name in columns)).join(table, table.c.instance_id == _TABLE.c.id)
            .where(table.c.id == bindparam("row_id")).with_for_update(of=_TABLE))
        _LOCK_BY_OWNER[(table.name, columns)] = statement
    return statement


def lock_owner_of(session: Session, table: Table, row_id: str) -> CaseRecord | None:
    """Find and lock the case that owns a projection row (a task, a job, a timer) in one statement."""
    values = hot_sql.fetch_one(session, _lock_by_owner(table), {"row_id": row_id})
    return _from_values(values) if values is not None else None


def lock_owner_with(session: Session, table: Table, row_id: str,
                    columns: tuple[str, ...]) -> tuple[CaseRecord, tuple[Any, ...]] | None:
    """`lock_owner_of` that also reads `columns` of the owned row, in the same statement (and round trip).

    The row's values are read under the case lock, so they hold for the transaction as long as every
    change of such a row takes the case lock first (jobs, tasks and timers do).
    """
    values = hot_sql.fetch_one(session, _lock_by_owner(table, columns), {"row_id": row_id})
    if values is None:
        return None
    return _from_values(values[:len(_COLUMNS)]), values[len(_COLUMNS):]


def lock_owner_of_ahead(session: Session, table: Table, row_id: str) -> Callable[[], CaseRecord | None]:
    """`lock_owner_of`, sent now and collected by calling the result (see `read_ahead`)."""
    pending = read_ahead.fetch_one_ahead(session, _lock_by_owner(table), {"row_id": row_id})

    def collect() -> CaseRecord | None:
        values = pending.row()
        return _from_values(values) if values is not None else None

    return collect


def _concurrent_update() -> ConflictError:
    return ConflictError("办件已被他人修改，请重试", "The case was changed concurrently; retry",
                         code="instance.concurrent_update")


def save(session: Session, record: CaseRecord) -> None:
    """Insert a new case, or update it only if nobody else wrote it since it was read.

    Inside `hot_sql.batched` on PostgreSQL the write goes with the transaction's next round trip, and
    a concurrent update is refused there (at the latest at the commit, which then does not happen).
    """
    if not record.persisted:
        hot_sql.execute(session, _INSERT, {name: getattr(record, name) for name in _COLUMNS})
        record.persisted = True
        return
    params = {f"new_{name}": getattr(record, name) for name in _MUTABLE}
    params.update(case_id=record.id, read_version=record.version, new_version=record.version + 1)
    hot_sql.execute_checked(session, _UPDATE, params, _concurrent_update)
    record.version += 1
