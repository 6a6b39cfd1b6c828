"""Step limits (环节时限): a due date and a yellow / red state for each user task, stored on its row.

Where a step's limit comes from (first that applies):
- the task's `camunda:properties` `statutory_limit_days` (or `limit_days`): N working days after the day the
  task was created (that day never counts, as for the case clock), due 23:59:59 Asia/Shanghai;
- the task's `camunda:dueDate` (e.g. `${workdays(5)}`): the limit is the number of working days up to it.
A step with neither has no limit (`limit_state` NULL). The warning threshold is the case clock's
(`LIANBAN_WARN_WORKDAYS` / `LIANBAN_WARN_RATIO`, see `services.clock.WarnPolicy`).

States on the row: NORMAL → WARNING (yellow) → OVERDUE (red) while the task is open, STOPPED when it ends.
Every transition is an audit event on the case's chain (`step.warning`, `step.overdue`, `step.stopped`);
an overdue step escalates (`services.supervision`). While the case's clock is paused (特别程序) the step
scan leaves its steps alone, and a resume moves their due dates by the paused working days.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from orchestrator import timesource
from orchestrator.db import transaction
from orchestrator.engine.runtime import CaseRuntime
from orchestrator.errors import LianbanError
from orchestrator.models import CaseClock, HumanTask
from orchestrator.services import case_store, supervision, task_rows
from orchestrator.services.audit import EventSpec, record_events
from orchestrator.services.clock import PAUSED, WarnPolicy, count_workdays, target_status
from orchestrator.workcalendar import SHANGHAI, CalendarDataMissingError, add_workdays, end_of_day, shanghai_iso

log = logging.getLogger(__name__)

NORMAL, WARNING, OVERDUE, STOPPED = "NORMAL", "WARNING", "OVERDUE", "STOPPED"
OPEN_STATES = (NORMAL, WARNING, OVERDUE)
LIMIT_PROPERTIES = ("statutory_limit_days", "limit_days")
_SEVERITY = {NORMAL: 0, WARNING: 1, OVERDUE: 2}


def _local(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def _limit_property(properties: dict[str, Any]) -> int | None:
    for name in LIMIT_PROPERTIES:
        raw = properties.get(name)
        if raw is not None and str(raw).strip():
            try:
                days = int(str(raw).strip())
            except ValueError:
                log.warning("ignoring step limit %s=%r: not a whole number of working days", name, raw)
                return None
            return days if 0 <= days <= 3650 else None
    return None


def department_of(properties: dict[str, Any], candidate_groups: list[str]) -> str | None:
    """The department that owns a step: `department_id` property, else its first candidate group."""
    explicit = properties.get("department_id")
    if explicit:
        return str(explicit)[:128]
    return candidate_groups[0][:128] if candidate_groups else None


def _warn_at(created_on: date, limit: int, policy: WarnPolicy) -> datetime | None:
    number = policy.warning_day_number(limit)
    if not number:
        return None
    return datetime.combine(add_workdays(created_on, number), time(0, 0), SHANGHAI).astimezone(UTC)


def initial_columns(properties: dict[str, Any], candidate_groups: list[str], due: datetime | None,
                    created: datetime, policy: WarnPolicy | None = None) -> dict[str, Any]:
    """The limit columns of a new task row: due (possibly computed), limit_days, warn_at, limit_state."""
    columns: dict[str, Any] = {"due": due, "limit_days": None, "warn_at": None, "limit_state": None,
                               "department": department_of(properties, candidate_groups)}
    limit = _limit_property(properties)
    if limit is None and due is None:
        return columns
    warn_policy = policy or WarnPolicy.from_env()
    created_on = _local(created)
    try:
        if due is None and limit is not None:
            due = end_of_day(add_workdays(created_on, limit)).astimezone(UTC)
        elif due is not None and limit is None:
            limit = count_workdays(created_on + timedelta(days=1), _local(due) + timedelta(days=1))
        assert limit is not None
        warn_at = _warn_at(created_on, limit, warn_policy)
    except CalendarDataMissingError:
        return columns | {"due": due}  # no calendar data yet: the step keeps its explicit due date only
    state = OVERDUE if due is not None and created > due else NORMAL
    return columns | {"due": due, "limit_days": limit, "warn_at": warn_at, "limit_state": state}


def may_have_limit(runtime: CaseRuntime, task_id: str) -> bool:
    """Whether the diagram gives this (ended) user task a limit: no database read for steps without one."""
    task = runtime.get_task(task_id)
    if task is None:
        return True  # removed from the tree: ask the database
    ext = dict(getattr(task.task_spec, "extensions", {}) or {})
    return bool(ext.get("dueDate")) or _limit_property(dict(ext.get("properties") or {})) is not None


def stop_events(session: Session, ended: dict[str, bool], actor: str | None,
                runtime: CaseRuntime | None = None, instance_id: str | None = None) -> list[EventSpec]:
    """`step.stopped` for ended steps that had a limit (on time or not); the row update follows in projections.

    `instance_id` instead of `ended`: every open step of the case (a terminated case)."""
    ids = [key for key in ended if runtime is None or may_have_limit(runtime, key)]
    if instance_id is None and not ids:
        return []  # the common step: nothing with a limit ended, no statement built or run
    query = select(HumanTask.id, HumanTask.activity_id, HumanTask.due, HumanTask.limit_state).where(
        HumanTask.limit_state.in_(OPEN_STATES))
    if instance_id is not None:
        query = query.where(HumanTask.instance_id == instance_id, HumanTask.state == "CREATED")
    else:
        query = query.where(HumanTask.id.in_(ids))
    rows = session.execute(query).all()
    now = timesource.now()
    events: list[EventSpec] = []
    for row in sorted(rows, key=lambda r: r.id):
        events.append(("step.stopped", actor, {
            "task_id": row.id, "activity_id": row.activity_id, "state_before": row.limit_state,
            "canceled": ended.get(row.id, True), "on_time": row.due is None or now <= row.due,
            "due": shanghai_iso(row.due)}))
    return events


def _settle(task: HumanTask, now: datetime) -> list[EventSpec]:
    if task.limit_state not in OPEN_STATES or task.due is None:
        return []
    target = target_status(now, task.due, task.warn_at)
    if target == task.limit_state:
        return []
    before = task.limit_state
    task.limit_state = target
    payload = {"task_id": task.id, "activity_id": task.activity_id, "name": task.name, "due": shanghai_iso(task.due),
               "department": task.department, "from": before, "to": target, "at": shanghai_iso(now)}
    if _SEVERITY[target] < _SEVERITY[before or NORMAL]:
        return [("step.status_restored", "scheduler", payload)]
    return [("step.overdue" if target == OVERDUE else "step.warning", "scheduler", payload)]


def due_step_ids(session: Session, now: datetime, limit: int = 500) -> list[str]:
    """Open steps whose warning moment or due time has passed (index range scans on limit_state + time)."""
    query = (select(HumanTask.id).where(HumanTask.state == "CREATED", or_(
        and_(HumanTask.limit_state == NORMAL, HumanTask.warn_at <= now),
        and_(HumanTask.limit_state.in_((NORMAL, WARNING)), HumanTask.due < now),
    )).order_by(HumanTask.due, HumanTask.id).limit(limit))
    return list(session.scalars(query))


def _case_paused(session: Session, instance_id: str) -> bool:
    return session.scalar(select(CaseClock.id).where(CaseClock.instance_id == instance_id,
                                                     CaseClock.status == PAUSED).limit(1)) is not None


def scan_step(session: Session, task_id: str, now: datetime) -> list[str]:
    """Bring one step up to date under its case's lock; escalate when it has just become overdue."""
    owner = session.scalar(select(HumanTask.instance_id).where(HumanTask.id == task_id))
    if owner is None:
        return []
    record = case_store.lock(session, owner)
    task = session.get(HumanTask, task_id, populate_existing=True)
    if record is None or task is None or task.state != "CREATED" or _case_paused(session, owner):
        return []
    events = _settle(task, now)
    if not events:
        return []
    session.flush()
    record_events(session, record, events)
    if events[0][0] == "step.overdue":
        supervision.escalate_step(session, record, task, now)
    elif events[0][0] == "step.warning":
        supervision.warn_step(session, record, task)
    case_store.save(session, record)
    return [event[0] for event in events]


def scan(factory: sessionmaker[Session], now: datetime | None = None, batch: int = 500) -> int:
    """Move due steps to WARNING / OVERDUE, each under its case's lock in its own transaction."""
    moment = now or timesource.now()
    with transaction(factory) as session:
        due = due_step_ids(session, moment, batch)
    written = 0
    for task_id in due:
        try:
            with transaction(factory) as session:
                written += len(scan_step(session, task_id, moment))
        except LianbanError as error:
            log.warning("step %s scan failed: %s", task_id, error.message_en)
    return written


def shift_open_steps(session: Session, instance_id: str, workdays: int, now: datetime,
                     policy: WarnPolicy | None = None) -> list[EventSpec]:
    """After a pause: move the case's open steps' due dates by the paused working days (caller holds the lock)."""
    if workdays <= 0:
        return []
    warn_policy = policy or WarnPolicy.from_env()
    tasks = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.state == "CREATED",
                                                    HumanTask.limit_state.in_(OPEN_STATES)).order_by(HumanTask.id))
    events: list[EventSpec] = []
    for task in tasks:
        if task.due is None or task.limit_days is None:
            continue
        due = end_of_day(add_workdays(_local(task.due), workdays)).astimezone(UTC)
        task_rows.change_tasks(session, HumanTask.id == task.id, {"due": due})  # keeps the queue's copy in step
        set_committed_value(task, "due", due)  # written above; the object only reflects it
        created_on = _local(task.created_at)
        task.limit_days += workdays
        task.warn_at = _warn_at(created_on, task.limit_days, warn_policy)
        events.append(("step.deadline_moved", None, {"task_id": task.id, "activity_id": task.activity_id,
                                                     "paused_workdays": workdays, "due": shanghai_iso(task.due)}))
        events.extend(_settle(task, now))
    session.flush()
    return events


def step_json(task: HumanTask) -> dict[str, Any]:
    return {"task_id": task.id, "instance_id": task.instance_id, "bundle": task.definition_key,
            "business_key": task.business_key, "activity_id": task.activity_id, "name": task.name,
            "assignee": task.assignee, "candidate_groups": task.candidate_groups, "department": task.department,
            "limit_days": task.limit_days, "limit_state": task.limit_state, "due": shanghai_iso(task.due),
            "due_utc": task.due.isoformat() if task.due else None, "warn_at": shanghai_iso(task.warn_at),
            "created_at": shanghai_iso(task.created_at), "ended_at": shanghai_iso(task.ended_at)}


def stop_case_steps(session: Session, instance_id: str) -> None:
    """A case ended from outside (terminate): its open steps turn STOPPED, keeping their due dates."""
    session.execute(update(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.state == "CREATED",
                                            HumanTask.limit_state.in_(OPEN_STATES)).values(limit_state=STOPPED))


__all__ = ["NORMAL", "OVERDUE", "STOPPED", "WARNING", "department_of", "due_step_ids", "initial_columns", "scan",
           "scan_step", "shift_open_steps", "step_json", "stop_events", "stop_case_steps"]
