"""Write the projections (human tasks, jobs, timers, message subscriptions, history) from engine changes.

`apply_changes` is on the hot path: its statements go through `hot_sql` (compiled once, raw cursor,
batched with the rest of the step on PostgreSQL), so it must not read what it writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from sqlalchemy import Table, bindparam, delete, update
from sqlalchemy.orm import Session

from orchestrator import timesource
from orchestrator.engine.runtime import Changes
from orchestrator.models import (
    ActivityInstance,
    HumanTask,
    Job,
    MessageSubscription,
    Timer,
)
from orchestrator.services import hot_sql, step_limits, task_rows, timer_alarm
from orchestrator.services.audit import EventSpec
from orchestrator.services.case_store import CaseRecord
from orchestrator.services.clock import WarnPolicy
from orchestrator.services.definitions import LoadedDefinition


def _t(model: type) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


_END_JOB = hot_sql.HotStatement(
    update(_t(Job)).where(_t(Job).c.id == bindparam("row_id"))
    .values(state=bindparam("new_state"), ended_at=bindparam("at"), lock_expires_at=bindparam("no_lock")))
_END_ACTIVITY = hot_sql.HotStatement(
    update(_t(ActivityInstance)).where(_t(ActivityInstance).c.id == bindparam("row_id"))
    .values(ended_at=bindparam("at"), canceled=bindparam("was_canceled")))
_DELETE_TIMER = hot_sql.HotStatement(delete(_t(Timer)).where(_t(Timer).c.id == bindparam("row_id")))
_DELETE_MESSAGE = hot_sql.HotStatement(
    delete(_t(MessageSubscription)).where(_t(MessageSubscription).c.id == bindparam("row_id")))


def audit_specs(changes: Changes, actor: str | None) -> list[EventSpec]:
    """The audit events for what the engine created in this step."""
    return [
        ("task.created", actor, {
            "task_id": t.id, "activity_id": t.activity_id, "assignee": t.assignee,
            "candidate_groups": t.candidate_groups, "due": t.due.isoformat() if t.due else None,
        })
        for t in changes.new_user_tasks
    ]


def apply_changes(session: Session, instance: CaseRecord, definition: LoadedDefinition, changes: Changes,
                  actor: str | None, known_timers: set[str], lanes: Mapping[str, str] | None = None) -> None:
    """Insert, update and delete projection rows in bulk: a handful of statements per operation (hot path)."""
    now = timesource.now()
    suspended = instance.state == "SUSPENDED"
    if changes.new_user_tasks:
        # Assignment: assignee, candidate users and groups from the diagram; the lane when it names none
        # (`lanes`: lane name → department code, read before the batch by task_rows.lane_groups).
        applicant = instance.variables.get("applicant_name")
        warn_policy = WarnPolicy.from_env()
        task_rows.insert_tasks(session, [
            {
                "id": t.id, "instance_id": instance.id, "definition_id": definition.id,
                "definition_key": definition.key, "business_key": instance.business_key,
                "applicant": str(applicant)[:255] if applicant is not None else None,
                "activity_id": t.activity_id, "name": t.name, "description": t.documentation, "state": "CREATED",
                "assignee": t.assignee, "owner": None, "delegation_state": None,
                "candidate_groups": (t.candidate_groups or
                                     ([(lanes or {}).get(t.lane, t.lane)] if task_rows.needs_lane(t) and t.lane
                                      else [])),
                "candidate_users": t.candidate_users, "follow_up": t.follow_up,
                "priority": t.priority, "form_key": t.form_key, "properties": t.properties, "created_at": now,
                "suspended": suspended,
                **step_limits.initial_columns(t.properties, t.candidate_groups, t.due, now, warn_policy),
            }
            for t in changes.new_user_tasks
        ])
    task_rows.end_tasks(session, changes.ended_user_tasks, now, actor)
    if changes.new_external_tasks:
        hot_sql.insert_rows(session, _t(Job), [
            {
                "id": j.id, "instance_id": instance.id, "definition_id": definition.id,
                "definition_key": definition.key, "business_key": instance.business_key,
                "activity_id": j.activity_id, "activity_name": j.name, "topic": j.topic, "state": "READY",
                "priority": j.priority, "retries": None,
                "idempotency_key": hashlib.sha256(f"{instance.id}:{j.id}".encode()).hexdigest()[:32],
                "created_at": now, "suspended": suspended,
            }
            for j in changes.new_external_tasks
        ])
    if changes.ended_external_tasks:
        hot_sql.executemany(
            session, _END_JOB,
            [{"row_id": key, "new_state": "CANCELED" if canceled else "COMPLETED", "at": now, "no_lock": None}
             for key, canceled in changes.ended_external_tasks.items()],
        )
    # A cycle timer that moved its due time is deleted and inserted again under the same id.
    removed_timers = changes.timers_removed | (set(changes.timers_added) & known_timers)
    if removed_timers:
        hot_sql.executemany(session, _DELETE_TIMER, [{"row_id": key} for key in sorted(removed_timers)])
    if changes.timers_added:
        hot_sql.insert_rows(session, _t(Timer), [
            {"id": key, "instance_id": instance.id, "activity_id": activity, "kind": kind, "due_at": due,
             "suspended": suspended}
            for key, (activity, kind, due) in changes.timers_added.items()
        ])
        if not suspended:
            timer_alarm.ring_after_commit(session, (due for _activity, _kind, due in changes.timers_added.values()))
    if changes.messages_removed:
        hot_sql.executemany(session, _DELETE_MESSAGE, [{"row_id": key} for key in sorted(changes.messages_removed)])
    if changes.messages_added:
        hot_sql.insert_rows(session, _t(MessageSubscription), [
            {"id": key, "instance_id": instance.id, "message_name": name, "activity_id": activity,
             "business_key": instance.business_key}
            for key, (activity, name) in changes.messages_added.items()
        ])
    new_rows = [a for a in changes.activities if a.started_at is not None]
    ended_rows = [a for a in changes.activities if a.started_at is None]
    if new_rows:
        hot_sql.insert_rows(session, _t(ActivityInstance), [
            {"id": a.id, "instance_id": instance.id, "definition_id": definition.id, "activity_id": a.activity_id,
             "activity_name": a.name, "activity_type": a.activity_type, "started_at": a.started_at,
             "ended_at": a.ended_at, "canceled": a.canceled}
            for a in new_rows
        ])
    if ended_rows:
        hot_sql.executemany(
            session, _END_ACTIVITY,
            [{"row_id": a.id, "at": a.ended_at, "was_canceled": a.canceled} for a in ended_rows],
        )


def close_all_projections(session: Session, instance: CaseRecord, canceled: bool) -> None:
    """A case that ends from outside (terminate) closes every open row that belongs to it."""
    now = timesource.now()
    task_rows.change_tasks(session, HumanTask.instance_id == instance.id, {"state": "CANCELED", "ended_at": now})
    session.execute(update(Job).where(Job.instance_id == instance.id, Job.state.in_(("READY", "LOCKED", "MANUAL")))
                    .values(state="CANCELED", ended_at=now))
    session.query(Timer).filter(Timer.instance_id == instance.id).delete(synchronize_session=False)
    session.query(MessageSubscription).filter(MessageSubscription.instance_id == instance.id).delete(
        synchronize_session=False)
    session.execute(update(ActivityInstance)
                    .where(ActivityInstance.instance_id == instance.id, ActivityInstance.ended_at.is_(None))
                    .values(ended_at=now, canceled=canceled))
