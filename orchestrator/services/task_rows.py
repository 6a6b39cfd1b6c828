"""The one place that writes open tasks' state, assignee, due time and suspension.

`human_task_candidate` copies each open task's due time, assignee and suspension next to its
candidate groups and users, so that a department's queue is answered from one index. Every write
to those fields therefore goes through `change_tasks` (or, for the projection's bulk path,
`insert_tasks` / `end_tasks`), which keeps the two tables in step in the same transaction.

`insert_tasks` and `end_tasks` are on the hot path (hot_sql, possibly inside `hot_sql.batched`):
they only write. `change_tasks` and `lane_groups` read, so they run outside a batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, case, delete, insert, literal_column, null, select, update
from sqlalchemy.orm import Session

from orchestrator.engine.snapshots import UserTaskInfo
from orchestrator.models import Department, HumanTask, HumanTaskCandidate
from orchestrator.services import hot_sql

OPEN = "CREATED"
_MIRRORED = ("assignee", "due", "suspended")
_CHANGEABLE = frozenset({"state", "assignee", "owner", "due", "follow_up", "priority", "suspended", "ended_at",
                         "completed_by", "delegation_state", "candidate_groups", "candidate_users"})

_TASKS: Table = HumanTask.__table__  # type: ignore[assignment]
_CANDIDATES: Table = HumanTaskCandidate.__table__  # type: ignore[assignment]
_END_TASK = hot_sql.HotStatement(
    update(_TASKS).where(_TASKS.c.id == bindparam("row_id"))
    .values(state=bindparam("new_state"), ended_at=bindparam("at"), completed_by=bindparam("by"),
            # a step with a limit (环节时限) turns STOPPED; literal, as hot statements bind only named parameters
            limit_state=case((_TASKS.c.limit_state.is_(None), null()), else_=literal_column("'STOPPED'"))))
_DROP_CANDIDATES = hot_sql.HotStatement(delete(_CANDIDATES).where(_CANDIDATES.c.task_id == bindparam("row_id")))


def candidate_rows(task_id: str, groups: Iterable[str], users: Iterable[str], due: datetime | None,
                   assignee: str | None, suspended: bool) -> list[dict[str, Any]]:
    return [{"task_id": task_id, "kind": kind, "value": value, "due": due, "assignee": assignee,
             "suspended": suspended}
            for kind, values in (("group", groups), ("user", users)) for value in dict.fromkeys(values)]


def insert_tasks(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert new open tasks (rows of human_task) and their candidate rows."""
    if not rows:
        return
    hot_sql.insert_rows(session, _TASKS, rows)
    candidates = [c for r in rows for c in candidate_rows(r["id"], r["candidate_groups"], r["candidate_users"],
                                                          r["due"], r["assignee"], r["suspended"])]
    hot_sql.insert_rows(session, _CANDIDATES, candidates)


def end_tasks(session: Session, ended: Mapping[str, bool], at: datetime, actor: str | None) -> None:
    """Close tasks the engine finished (True: canceled) and drop their candidate rows."""
    if not ended:
        return
    hot_sql.executemany(session, _END_TASK, [
        {"row_id": key, "new_state": "CANCELED" if canceled else "COMPLETED", "at": at,
         "by": None if canceled else actor} for key, canceled in ended.items()])
    hot_sql.executemany(session, _DROP_CANDIDATES, [{"row_id": key} for key in sorted(ended)])


def change_tasks(session: Session, where: ColumnElement[bool], values: Mapping[str, Any],
                 only_if: ColumnElement[bool] | None = None) -> list[str]:
    """Change the OPEN tasks matching `where` (and `only_if`: a conditional update) and their candidate rows.

    Returns the ids that changed: an empty list means the condition no longer held (someone else
    claimed first, the task ended). A state other than CREATED closes the task and drops its
    candidate rows; new candidate_groups / candidate_users replace its candidate rows.
    """
    unknown = set(values) - _CHANGEABLE
    if unknown:
        raise ValueError(f"task fields not changeable here: {sorted(unknown)}")
    statement = update(HumanTask).where(HumanTask.state == OPEN, where)
    if only_if is not None:
        statement = statement.where(only_if)
    ids = list(session.scalars(statement.values(**values).returning(HumanTask.id),
                               execution_options={"synchronize_session": False}))
    if not ids:
        return ids
    in_ids = HumanTaskCandidate.task_id.in_(ids)
    if values.get("state", OPEN) != OPEN:
        session.execute(delete(HumanTaskCandidate).where(in_ids))
    elif "candidate_groups" in values or "candidate_users" in values:
        session.execute(delete(HumanTaskCandidate).where(in_ids))
        tasks = session.execute(select(HumanTask.id, HumanTask.candidate_groups, HumanTask.candidate_users,
                                       HumanTask.due, HumanTask.assignee, HumanTask.suspended)
                                .where(HumanTask.id.in_(ids))).all()
        rows = [c for t in tasks for c in candidate_rows(t.id, t.candidate_groups or [], t.candidate_users or [],
                                                         t.due, t.assignee, t.suspended)]
        if rows:
            session.execute(insert(_CANDIDATES), rows)
    else:
        mirrored = {key: values[key] for key in _MIRRORED if key in values}
        if mirrored:
            session.execute(update(HumanTaskCandidate).where(in_ids).values(**mirrored),
                            execution_options={"synchronize_session": False})
    return ids


def needs_lane(task: UserTaskInfo) -> bool:
    """A task whose diagram names no assignee and no candidates goes to its lane."""
    return not (task.assignee or task.candidate_groups or task.candidate_users) and bool(task.lane)


def lane_groups(session: Session, tasks: Sequence[UserTaskInfo]) -> dict[str, str]:
    """Lane name → candidate group for the tasks that need it: the department whose code or name is the lane's."""
    lanes = {t.lane for t in tasks if needs_lane(t) and t.lane}
    if not lanes:
        return {}
    found: dict[str, str] = {}
    for code, name in session.execute(select(Department.code, Department.name)
                                      .where((Department.code.in_(lanes)) | (Department.name.in_(lanes)))):
        found[name] = code
        found[code] = code
    return {lane: found.get(lane, lane) for lane in lanes}
