"""Read-side queries over projections: never deserialise an engine state to answer a list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, or_, select, union_all
from sqlalchemy.orm import Session

from orchestrator.auth.access import CaseScope
from orchestrator.errors import NotFoundError
from orchestrator.models import ActivityInstance, HumanTask, HumanTaskCandidate, Incident, ProcessInstance

MAX_PAGE = 1000


@dataclass
class TaskFilter:
    process_instance_id: str | None = None
    process_definition_key: str | None = None
    process_definition_id: str | None = None
    business_key: str | None = None
    task_definition_key: str | None = None
    assignee: str | None = None
    candidate_group: str | None = None
    candidate_user: str | None = None
    unassigned: bool = False
    due_before: datetime | None = None
    due_after: datetime | None = None
    include_suspended: bool = True
    # The caller's reach (auth): tasks of these candidate groups, or assigned to / offered to `scope_user`.
    # None: no restriction (administrators, top supervisors, trusted callers).
    scope_groups: frozenset[str] | None = None
    scope_user: str | None = None


def _task_query(f: TaskFilter) -> Select[tuple[HumanTask]]:
    query = select(HumanTask).where(HumanTask.state == "CREATED")
    if f.process_instance_id:
        query = query.where(HumanTask.instance_id == f.process_instance_id)
    if f.process_definition_key:
        query = query.where(HumanTask.definition_key == f.process_definition_key)
    if f.process_definition_id:
        query = query.where(HumanTask.definition_id == f.process_definition_id)
    if f.business_key:
        query = query.where(HumanTask.business_key == f.business_key)
    if f.task_definition_key:
        query = query.where(HumanTask.activity_id == f.task_definition_key)
    if f.assignee:
        query = query.where(HumanTask.assignee == f.assignee)
    if f.unassigned:
        query = query.where(HumanTask.assignee.is_(None))
    if f.due_before:
        query = query.where(HumanTask.due < f.due_before)
    if f.due_after:
        query = query.where(HumanTask.due > f.due_after)
    if not f.include_suspended:
        query = query.where(HumanTask.suspended.is_(False))
    if f.scope_groups is not None:
        offered = select(HumanTaskCandidate.task_id).where(or_(
            (HumanTaskCandidate.kind == "group") & HumanTaskCandidate.value.in_(sorted(f.scope_groups)),
            (HumanTaskCandidate.kind == "user") & (HumanTaskCandidate.value == f.scope_user)))
        query = query.where(or_(HumanTask.id.in_(offered), HumanTask.assignee == f.scope_user,
                                HumanTask.owner == f.scope_user))
    for kind, value in (("group", f.candidate_group), ("user", f.candidate_user)):
        if value:
            query = query.where(HumanTask.id.in_(
                select(HumanTaskCandidate.task_id).where(HumanTaskCandidate.kind == kind,
                                                         HumanTaskCandidate.value == value)))
    return query


def list_tasks(session: Session, f: TaskFilter, first: int = 0, max_results: int = 100) -> list[HumanTask]:
    query = _task_query(f).order_by(HumanTask.due.asc().nulls_last(), HumanTask.created_at, HumanTask.id)
    return list(session.scalars(query.offset(max(first, 0)).limit(min(max(max_results, 0), MAX_PAGE))))


def count_tasks(session: Session, f: TaskFilter) -> int:
    return int(session.scalar(select(func.count()).select_from(_task_query(f).subquery())) or 0)


def get_task(session: Session, task_id: str) -> HumanTask:
    task = session.get(HumanTask, task_id)
    if task is None or task.state != "CREATED":
        raise NotFoundError(f"任务不存在或已办结：{task_id}", f"No open task with id {task_id}", field="id")
    return task


def get_instance(session: Session, instance_id: str) -> ProcessInstance:
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFoundError(f"办件不存在：{instance_id}", f"No process instance with id {instance_id}", field="id")
    return instance


def _cases_in(scope: CaseScope) -> ColumnElement[bool]:
    """Cases the scope reaches: started by (or for) the applicant, or with a task of its groups or its user.

    A task's groups are its department (kept after it ends) and, while open, its candidate rows. The tasks
    held, owned, completed or of the departments, and those offered, are two selects joined by UNION ALL: one
    OR across both would make PostgreSQL filter every task row (a hashed subplan cannot join a BitmapOr);
    apart, each reads its indexes (ix_human_task_department / _owner / _completed_by, migration 0011).
    """
    me = scope.user
    reached: list[ColumnElement[bool]] = [HumanTask.assignee == me, HumanTask.owner == me,
                                          HumanTask.completed_by == me]
    offered = [(HumanTaskCandidate.kind == "user") & (HumanTaskCandidate.value == me)]
    if scope.groups:
        groups = sorted(scope.groups)
        reached.append(HumanTask.department.in_(groups))
        offered.append((HumanTaskCandidate.kind == "group") & HumanTaskCandidate.value.in_(groups))
    tasks = union_all(
        select(HumanTask.instance_id).where(or_(*reached)),
        select(HumanTask.instance_id).join(HumanTaskCandidate, HumanTaskCandidate.task_id == HumanTask.id)
        .where(or_(*offered)))
    cases: list[ColumnElement[bool]] = [ProcessInstance.id.in_(tasks)]
    if scope.applicant:
        cases += [ProcessInstance.started_by == me, ProcessInstance.variables["applicant_username"].as_string() == me]
    return or_(*cases)


@dataclass(frozen=True)
class InstanceFilter:
    """Camunda's process-instance query parameters, within `scope` (the caller's reach; None: every case)."""

    active_only: bool = False
    finished_only: bool = False
    definition_key: str | None = None
    definition_id: str | None = None
    business_key: str | None = None
    instance_ids: tuple[str, ...] = ()
    scope: CaseScope | None = None


def _instance_query(f: InstanceFilter) -> Select[tuple[ProcessInstance]]:
    query = select(ProcessInstance)
    if f.scope is not None:
        query = query.where(_cases_in(f.scope))
    if f.active_only:
        query = query.where(ProcessInstance.state.in_(("ACTIVE", "SUSPENDED")))
    if f.finished_only:
        query = query.where(ProcessInstance.ended_at.is_not(None))
    if f.definition_key:
        query = query.where(ProcessInstance.definition_key == f.definition_key)
    if f.definition_id:
        query = query.where(ProcessInstance.definition_id == f.definition_id)
    if f.business_key:
        query = query.where(ProcessInstance.business_key == f.business_key)
    if f.instance_ids:
        query = query.where(ProcessInstance.id.in_(f.instance_ids))
    return query


def list_instances(session: Session, f: InstanceFilter, first: int = 0,
                   max_results: int = 100) -> list[ProcessInstance]:
    """Cases matching the filter, oldest first."""
    query = _instance_query(f).order_by(ProcessInstance.started_at, ProcessInstance.id)
    return list(session.scalars(query.offset(max(first, 0)).limit(min(max(max_results, 0), MAX_PAGE))))


def count_instances(session: Session, f: InstanceFilter) -> int:
    return int(session.scalar(select(func.count()).select_from(_instance_query(f).subquery())) or 0)


def list_activities(session: Session, *, instance_id: str | None, activity_id: str | None = None,
                    first: int = 0, max_results: int = 1000) -> list[ActivityInstance]:
    query = select(ActivityInstance)
    if instance_id:
        query = query.where(ActivityInstance.instance_id == instance_id)
    if activity_id:
        query = query.where(ActivityInstance.activity_id == activity_id)
    query = query.order_by(ActivityInstance.started_at, ActivityInstance.ended_at.asc().nulls_last(),
                           ActivityInstance.id)
    return list(session.scalars(query.offset(max(first, 0)).limit(min(max(max_results, 0), MAX_PAGE))))


def list_incidents(session: Session, *, instance_id: str | None = None, open_only: bool = True) -> list[Incident]:
    query = select(Incident)
    if instance_id:
        query = query.where(Incident.instance_id == instance_id)
    if open_only:
        query = query.where(Incident.resolved_at.is_(None))
    return list(session.scalars(query.order_by(Incident.created_at).limit(MAX_PAGE)))
