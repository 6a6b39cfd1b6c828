"""Write the projections (human tasks, jobs, timers, message subscriptions, history) from engine changes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Executable, Table, delete, insert, update
from sqlalchemy.orm import Session

from orchestrator.engine.runtime import Changes
from orchestrator.models import (
    ActivityInstance,
    HumanTask,
    HumanTaskCandidate,
    Job,
    MessageSubscription,
    Timer,
)
from orchestrator.services.audit import EventSpec
from orchestrator.services.case_store import CaseRecord
from orchestrator.services.definitions import LoadedDefinition


def _t(model: type) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


def audit_specs(changes: Changes, actor: str | None) -> list[EventSpec]:
    """The audit events for what the engine created in this step."""
    return [
        ("task.created", actor, {
            "task_id": t.id, "activity_id": t.activity_id, "assignee": t.assignee,
            "candidate_groups": t.candidate_groups, "due": t.due.isoformat() if t.due else None,
        })
        for t in changes.new_user_tasks
    ]


def plan_writes(instance: CaseRecord, definition: LoadedDefinition, changes: Changes, actor: str | None,
                known_timers: set[str]) -> list[Executable]:
    """Fully bound statements that bring the projections in line with the engine (no executemany),
    so that the caller may run them one by one or fold them into one statement."""
    now = datetime.now(UTC)
    suspended = instance.state == "SUSPENDED"
    writes: list[Executable] = []
    if changes.new_user_tasks:
        writes.append(insert(_t(HumanTask)).values([
            {
                "id": t.id, "instance_id": instance.id, "definition_id": definition.id,
                "definition_key": definition.key, "business_key": instance.business_key,
                "activity_id": t.activity_id, "name": t.name, "description": t.documentation, "state": "CREATED",
                "assignee": t.assignee, "owner": None, "candidate_groups": t.candidate_groups,
                "candidate_users": t.candidate_users, "due": t.due, "follow_up": t.follow_up,
                "priority": t.priority, "form_key": t.form_key, "properties": t.properties, "created_at": now,
                "completed_by": None, "ended_at": None, "suspended": suspended,
            }
            for t in changes.new_user_tasks
        ]))
        candidates = [
            {"task_id": t.id, "kind": kind, "value": value}
            for t in changes.new_user_tasks
            for kind, values in (("group", t.candidate_groups), ("user", t.candidate_users))
            for value in values
        ]
        if candidates:
            writes.append(insert(_t(HumanTaskCandidate)).values(candidates))
    table = _t(HumanTask)
    for canceled, ids in _group(changes.ended_user_tasks).items():
        writes.append(update(table).where(table.c.id.in_(ids)).values(
            state="CANCELED" if canceled else "COMPLETED", ended_at=now, completed_by=None if canceled else actor))
    if changes.new_external_tasks:
        writes.append(insert(_t(Job)).values([
            {
                "id": j.id, "instance_id": instance.id, "definition_id": definition.id,
                "definition_key": definition.key, "business_key": instance.business_key,
                "activity_id": j.activity_id, "activity_name": j.name, "topic": j.topic, "state": "READY",
                "priority": j.priority, "retries": None, "worker_id": None, "lock_expires_at": None,
                "idempotency_key": hashlib.sha256(f"{instance.id}:{j.id}".encode()).hexdigest()[:32],
                "error_message": None, "created_at": now, "ended_at": None, "suspended": suspended,
            }
            for j in changes.new_external_tasks
        ]))
    table = _t(Job)
    for canceled, ids in _group(changes.ended_external_tasks).items():
        writes.append(update(table).where(table.c.id.in_(ids)).values(
            state="CANCELED" if canceled else "COMPLETED", ended_at=now, lock_expires_at=None))
    table = _t(Timer)
    if changes.timers_removed:
        writes.append(delete(table).where(table.c.id.in_(changes.timers_removed)))
    new_timers = {k: v for k, v in changes.timers_added.items() if k not in known_timers}
    for key, (_activity, _kind, due) in changes.timers_added.items():
        if key in known_timers:  # a cycle timer that moved on to its next due time
            writes.append(update(table).where(table.c.id == key).values(due_at=due))
    if new_timers:
        writes.append(insert(table).values([
            {"id": key, "instance_id": instance.id, "activity_id": activity, "kind": kind, "due_at": due,
             "suspended": suspended}
            for key, (activity, kind, due) in new_timers.items()
        ]))
    table = _t(MessageSubscription)
    if changes.messages_removed:
        writes.append(delete(table).where(table.c.id.in_(changes.messages_removed)))
    if changes.messages_added:
        writes.append(insert(table).values([
            {"id": key, "instance_id": instance.id, "message_name": name, "activity_id": activity,
             "business_key": instance.business_key}
            for key, (activity, name) in changes.messages_added.items()
        ]))
    table = _t(ActivityInstance)
    new_rows = [a for a in changes.activities if a.started_at is not None]
    if new_rows:
        writes.append(insert(table).values([
            {"id": a.id, "instance_id": instance.id, "definition_id": definition.id, "activity_id": a.activity_id,
             "activity_name": a.name, "activity_type": a.activity_type, "started_at": a.started_at,
             "ended_at": a.ended_at, "canceled": a.canceled}
            for a in new_rows
        ]))
    ended: dict[tuple[datetime | None, bool], list[str]] = {}
    for a in changes.activities:
        if a.started_at is None:
            ended.setdefault((a.ended_at, a.canceled), []).append(a.id)
    for (ended_at, canceled), ids in ended.items():
        writes.append(update(table).where(table.c.id.in_(ids)).values(ended_at=ended_at, canceled=canceled))
    return writes


def _group(flags: dict[str, bool]) -> dict[bool, list[str]]:
    groups: dict[bool, list[str]] = {}
    for key, flag in flags.items():
        groups.setdefault(flag, []).append(key)
    return groups


def execute_step(session: Session, main: Executable, writes: list[Executable]) -> Any:
    """Run the case row write and its projection writes: one statement on PostgreSQL (data-modifying
    CTEs), in order elsewhere. Returns the result of the case row write."""
    if writes and session.get_bind().dialect.name == "postgresql":
        for index, write in enumerate(writes):
            main = main.add_cte(write.cte(f"step_write_{index}"))  # type: ignore[attr-defined]
        return session.execute(main)
    result = session.execute(main)  # the case row first: new projection rows reference it
    for write in writes:
        session.execute(write)
    return result


def close_all_projections(session: Session, instance: CaseRecord, canceled: bool) -> None:
    """A case that ends from outside (terminate) closes every open row that belongs to it."""
    now = datetime.now(UTC)
    session.execute(update(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.state == "CREATED")
                    .values(state="CANCELED", ended_at=now))
    session.execute(update(Job).where(Job.instance_id == instance.id, Job.state.in_(("READY", "LOCKED")))
                    .values(state="CANCELED", ended_at=now))
    session.query(Timer).filter(Timer.instance_id == instance.id).delete(synchronize_session=False)
    session.query(MessageSubscription).filter(MessageSubscription.instance_id == instance.id).delete(
        synchronize_session=False)
    session.execute(update(ActivityInstance)
                    .where(ActivityInstance.instance_id == instance.id, ActivityInstance.ended_at.is_(None))
                    .values(ended_at=now, canceled=canceled))
