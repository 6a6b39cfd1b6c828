"""The reviewer's task list: my tasks, my departments' unclaimed tasks, every open task in my scope.

Answered from the projections alone (human_task and human_task_candidate), never from engine state.
Each source of tasks (one candidate group, one candidate user, "assigned to me", or every open task)
is read in due order from its own index and cut at the end of the requested page; the page is then
the first rows of their union. A task in two of my departments appears in two sources with the same
due time, so the union is de-duplicated: every task on the page is among the first `first + size`
rows of each source it belongs to, hence the cut loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, select, union, union_all
from sqlalchemy.orm import InstrumentedAttribute, Session

from orchestrator.auth.principal import Principal
from orchestrator.models import HumanTask, HumanTaskCandidate
from orchestrator.services.step_limits import OPEN_STATES
from orchestrator.services.task_rows import OPEN

VIEWS = ("mine", "unclaimed", "all")
WARNING_STATES = OPEN_STATES
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class TaskListQuery:
    """One request for the task list; `first` and `size` are checked by the caller (size ≤ MAX_PAGE_SIZE)."""

    view: str = "mine"
    bundle: str | None = None
    warning_states: tuple[str, ...] = ()
    due_before: datetime | None = None
    due_after: datetime | None = None
    case_number: str | None = None
    applicant: str | None = None
    first: int = 0
    size: int = 50

    @property
    def filters_tasks(self) -> bool:
        """Whether a filter reads a column that only human_task holds."""
        return bool(self.bundle or self.warning_states or self.case_number or self.applicant)


@dataclass(frozen=True)
class TaskPage:
    items: list[HumanTask]
    total: int


@dataclass(frozen=True)
class _Source:
    """Where tasks come from: candidate rows of (kind, value), human_task rows of one assignee, or all open."""

    kind: str  # group | user | assignee | owner | open
    value: str | None = None
    unclaimed: bool = False


def sources_for(principal: Principal, view: str) -> list[_Source]:
    """The task sources a view reads for this user; an empty list is an empty list."""
    me = principal.username
    if view == "mine":
        return [_Source("assignee", me)]
    if view == "unclaimed":
        groups = sorted(principal.act_groups)
        return [*(_Source("group", g, unclaimed=True) for g in groups), _Source("user", me, unclaimed=True)]
    if principal.view_groups is None:
        return [_Source("open")]
    return [*(_Source("group", g) for g in sorted(principal.view_groups)), _Source("user", me),
            _Source("assignee", me), _Source("owner", me)]


def _task_filters(query: TaskListQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.bundle:
        conditions.append(HumanTask.definition_key == query.bundle)
    if query.warning_states:
        conditions.append(HumanTask.limit_state.in_(query.warning_states))
    if query.case_number:
        conditions.append(HumanTask.business_key == query.case_number)
    if query.applicant:
        conditions.append(HumanTask.applicant == query.applicant)
    return conditions


def _due_filters(due: InstrumentedAttribute[datetime | None], query: TaskListQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.due_before is not None:
        conditions.append(due < query.due_before)
    if query.due_after is not None:
        conditions.append(due > query.due_after)
    return conditions


def _source_rows(source: _Source, query: TaskListQuery, ordered: bool = False) -> Select[tuple[str, datetime | None]]:
    """(task_id, due) of one source, filtered; `ordered`: due date ascending (none last), then id."""
    if source.kind in ("group", "user"):
        c = HumanTaskCandidate
        task_id, due = c.task_id, c.due
        rows = select(task_id.label("task_id"), due.label("due")).where(
            c.kind == source.kind, c.value == source.value, *_due_filters(due, query))
        if source.unclaimed:
            # Spelled as the partial index ix_human_task_candidate_queue is, so that PostgreSQL uses it.
            rows = rows.where(c.assignee.is_(None), ~c.suspended)
        if query.filters_tasks:
            rows = rows.join(HumanTask, HumanTask.id == task_id).where(*_task_filters(query))
    else:
        t = HumanTask
        task_id, due = t.id, t.due
        rows = select(task_id.label("task_id"), due.label("due")).where(
            t.state == OPEN, *_due_filters(due, query), *_task_filters(query))
        if source.kind == "assignee":
            rows = rows.where(t.assignee == source.value)
        elif source.kind == "owner":
            rows = rows.where(t.owner == source.value)
    return rows.order_by(due.asc().nulls_last(), task_id.asc()) if ordered else rows


def page_ids(session: Session, sources: list[_Source], query: TaskListQuery) -> list[str]:
    """The ids of one page of tasks, due date ascending (no due date last), then id."""
    if not sources:
        return []
    if len(sources) == 1:
        rows = _source_rows(sources[0], query, ordered=True).offset(query.first).limit(query.size)
        return list(session.scalars(rows))
    cut = query.first + query.size
    heads = [select(*sub.c) for sub in
             (_source_rows(s, query, ordered=True).limit(cut).subquery() for s in sources)]
    merged = union_all(*heads).subquery()
    page = (select(merged.c.task_id, merged.c.due).distinct()
            .order_by(merged.c.due.asc().nulls_last(), merged.c.task_id.asc())
            .offset(query.first).limit(query.size))
    return [task_id for task_id, _ in session.execute(page)]


def count(session: Session, sources: list[_Source], query: TaskListQuery) -> int:
    """How many tasks the view holds with these filters (each task once)."""
    if not sources:
        return 0
    if len(sources) == 1:
        ids = _source_rows(sources[0], query).subquery()
    else:
        ids = union(*(select(_source_rows(s, query).subquery().c.task_id) for s in sources)).subquery()
    return int(session.scalar(select(func.count()).select_from(ids)) or 0)


def list_page(session: Session, principal: Principal, query: TaskListQuery) -> list[HumanTask]:
    """One page of the caller's task list (the department queue when view=unclaimed)."""
    ids = page_ids(session, sources_for(principal, query.view), query)
    if not ids:
        return []
    by_id = {t.id: t for t in session.scalars(select(HumanTask).where(HumanTask.id.in_(ids)))}
    return [by_id[i] for i in ids if i in by_id]


def count_tasks(session: Session, principal: Principal, query: TaskListQuery) -> int:
    return count(session, sources_for(principal, query.view), query)


def list_tasks(session: Session, principal: Principal, query: TaskListQuery) -> TaskPage:
    """One page of the caller's task list and the number of tasks in the whole list."""
    return TaskPage(list_page(session, principal, query), count_tasks(session, principal, query))
