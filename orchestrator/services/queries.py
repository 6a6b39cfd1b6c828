"""Read-side queries over projections: never deserialise an engine state to answer a list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

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


def list_instances(session: Session, *, active_only: bool, definition_key: str | None = None,
                   business_key: str | None = None, definition_id: str | None = None,
                   instance_ids: list[str] | None = None,
                   first: int = 0, max_results: int = 100) -> list[ProcessInstance]:
    query = select(ProcessInstance)
    if active_only:
        query = query.where(ProcessInstance.state.in_(("ACTIVE", "SUSPENDED")))
    if definition_key:
        query = query.where(ProcessInstance.definition_key == definition_key)
    if definition_id:
        query = query.where(ProcessInstance.definition_id == definition_id)
    if business_key:
        query = query.where(ProcessInstance.business_key == business_key)
    if instance_ids:
        query = query.where(ProcessInstance.id.in_(instance_ids))
    query = query.order_by(ProcessInstance.started_at, ProcessInstance.id)
    return list(session.scalars(query.offset(max(first, 0)).limit(min(max(max_results, 0), MAX_PAGE))))


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
