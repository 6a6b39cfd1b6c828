"""Supervision (督办): escalation when a limit passes, supervisor actions, and the statistics supervisors read.

Escalation never decides anything: a case whose statutory clock or a step whose limit has passed
notifies the lead department's head and the supervisors (in-app, plus the configured connectors) and
opens one 督办 item with its own deadline (`LIANBAN_SUPERVISION_DAYS` working days, default 3).
A warning notifies whoever holds the step. Supervisor actions — 催办 (remind the assignee), a note,
reassigning a step — are rows of `supervision_action` and audit events on the case's chain.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator import timesource
from orchestrator.errors import ConflictError, InvalidRequestError, NotFoundError
from orchestrator.models import (
    CaseClock,
    HumanTask,
    ProcessDefinition,
    ProcessInstance,
    SupervisionAction,
    SupervisionItem,
)
from orchestrator.services import case_store, task_rows
from orchestrator.services.audit import record_events
from orchestrator.services.case_store import CaseRecord
from orchestrator.services.notifications import notify
from orchestrator.workcalendar import (
    SHANGHAI,
    CalendarDataMissingError,
    add_workdays,
    end_of_day,
    shanghai_iso,
)

SUPERVISORS = "role:supervisor"
OPEN, CLOSED = "OPEN", "CLOSED"


def _item_deadline(now: datetime) -> datetime | None:
    days = int(os.environ.get("LIANBAN_SUPERVISION_DAYS", "3"))
    try:
        return end_of_day(add_workdays(now.astimezone(SHANGHAI).date(), days)).astimezone(UTC)
    except CalendarDataMissingError:
        return None


def lead_departments(session: Session) -> dict[str, str]:
    """Bundle key → its lead department (`lead_department` process property), latest versions first."""
    rows = session.execute(select(ProcessDefinition.key, ProcessDefinition.properties)
                           .order_by(ProcessDefinition.key, ProcessDefinition.version))
    result: dict[str, str] = {}
    for key, properties in rows:
        lead = (properties or {}).get("lead_department")
        if lead:
            result[key] = str(lead)
    return result


def _holders(task: HumanTask) -> list[str]:
    if task.assignee:
        return [f"user:{task.assignee}"]
    return [f"user:{u}" for u in task.candidate_users or []] + [f"group:{g}" for g in task.candidate_groups or []]


def _open_item(session: Session, *, source: str, instance_id: str, task_id: str | None, scope: str, bundle: str,
               department: str | None, title: str, limit_deadline: datetime | None,
               now: datetime) -> SupervisionItem | None:
    if session.scalar(select(SupervisionItem.id).where(SupervisionItem.source == source)) is not None:
        return None  # opened once per case clock or step
    item = SupervisionItem(source=source, instance_id=instance_id, task_id=task_id, scope=scope, bundle=bundle,
                           department=department, title=title[:255], status=OPEN, limit_deadline=limit_deadline,
                           opened_at=now, deadline=_item_deadline(now))
    session.add(item)
    session.flush()
    return item


def warn_step(session: Session, record: CaseRecord, task: HumanTask) -> None:
    """A step turned yellow: tell whoever holds it (the caller holds the case lock)."""
    notify(session, _holders(task), "step.warning", f"环节即将超期：{task.name or task.activity_id}",
           f"办件 {record.business_key or record.id} 的环节“{task.name or task.activity_id}”将于 "
           f"{shanghai_iso(task.due)} 到期，请及时办理。", record.id, task.id)


def escalate_step(session: Session, record: CaseRecord, task: HumanTask, now: datetime) -> None:
    """A step turned red: notify its department's head and the supervisors, open a 督办 item, audit it."""
    label = task.name or task.activity_id
    item = _open_item(session, source=f"task:{task.id}", instance_id=record.id, task_id=task.id, scope="step",
                      bundle=record.definition_key, department=task.department, title=f"环节超期：{label}",
                      limit_deadline=task.due, now=now)
    recipients = [*_holders(task), SUPERVISORS] + ([f"head:{task.department}"] if task.department else [])
    notify(session, recipients, "step.overdue", f"环节已超期：{label}",
           f"办件 {record.business_key or record.id} 的环节“{label}”已于 {shanghai_iso(task.due)} 超期，已转督办。",
           record.id, task.id)
    if item is not None:
        record_events(session, record, [("supervision.item_opened", "scheduler", {
            "item_id": item.id, "scope": "step", "task_id": task.id, "deadline": shanghai_iso(item.deadline)})])


def warn_case(session: Session, record: CaseRecord, clock: CaseClock) -> None:
    lead = lead_departments(session).get(record.definition_key)
    label = record.business_key or record.id
    notify(session, [f"head:{lead}"] if lead else [SUPERVISORS], "case.warning", f"办件即将超期：{label}",
           f"办件 {label} 的{_kind_name(clock.kind)}将于 {shanghai_iso(clock.deadline)} 届满。", record.id)


def escalate_case(session: Session, record: CaseRecord, clock: CaseClock, now: datetime) -> None:
    """A case clock turned red: notify the lead department's head and the supervisors, open a 督办 item."""
    lead = lead_departments(session).get(record.definition_key)
    label = record.business_key or record.id
    item = _open_item(session, source=f"clock:{clock.id}", instance_id=record.id, task_id=None, scope="case",
                      bundle=record.definition_key, department=lead,
                      title=f"办件超期（{_kind_name(clock.kind)}）：{label}", limit_deadline=clock.deadline, now=now)
    notify(session, [SUPERVISORS] + ([f"head:{lead}"] if lead else []), "case.overdue",
           f"办件已超期：{label}", f"办件 {label} 的{_kind_name(clock.kind)}已于 {shanghai_iso(clock.deadline)} 届满，"
           "已转督办。", record.id)
    if item is not None:
        record_events(session, record, [("supervision.item_opened", "scheduler", {
            "item_id": item.id, "scope": "case", "kind": clock.kind, "deadline": shanghai_iso(item.deadline)})])


def _kind_name(kind: str) -> str:
    return {"statutory": "法定时限", "committed": "承诺时限"}.get(kind, kind)


# --- supervisor actions ------------------------------------------------------------------------------------


def _lock_case(session: Session, instance_id: str) -> CaseRecord:
    record = case_store.lock(session, instance_id)
    if record is None:
        raise NotFoundError(f"办件不存在：{instance_id}", f"No process instance with id {instance_id}", field="id")
    return record


def _text(text: str | None, field: str, required: bool = True) -> str | None:
    if text is None or not text.strip():
        if required:
            raise InvalidRequestError(f"{field} 不能为空", f"{field} is required", field=field)
        return None
    return text.strip()


def _action_json(row: SupervisionAction) -> dict[str, Any]:
    return {"id": row.id, "instance_id": row.instance_id, "task_id": row.task_id, "item_id": row.item_id,
            "action": row.action, "actor": row.actor, "text": row.text, "details": row.details,
            "at": shanghai_iso(row.at)}


def remind(session: Session, instance_id: str, text: str | None, actor: str | None,
           task_id: str | None = None) -> dict[str, Any]:
    """催办: remind the holders of the case's open steps (or of one step) to act."""
    record = _lock_case(session, instance_id)
    query = select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.state == "CREATED")
    if task_id is not None:
        query = query.where(HumanTask.id == task_id)
    tasks = list(session.scalars(query.order_by(HumanTask.id)))
    if not tasks:
        raise ConflictError("该办件没有待办环节，无需催办", "The case has no open step to remind",
                            code="supervision.nothing_to_remind", field="task_id" if task_id else None)
    message = _text(text, "text", required=False) or "请尽快办理。"
    recipients: list[str] = []
    for task in tasks:
        holders = _holders(task)
        recipients += holders
        notify(session, holders, "remind", f"催办：{task.name or task.activity_id}",
               f"办件 {record.business_key or record.id}：{message}", record.id, task.id)
    action = SupervisionAction(instance_id=instance_id, task_id=task_id, action="remind", actor=actor, text=message,
                               details={"recipients": recipients}, at=timesource.now())
    session.add(action)
    session.flush()
    record_events(session, record, [("supervision.reminded", actor, {"task_ids": [t.id for t in tasks],
                                                                      "recipients": recipients, "text": message})])
    case_store.save(session, record)
    return _action_json(action)


def add_note(session: Session, instance_id: str, text: str | None, actor: str | None,
             item_id: int | None = None) -> dict[str, Any]:
    """A supervisor's note on a case (or on one of its 督办 items)."""
    note = _text(text, "text")
    record = _lock_case(session, instance_id)
    if item_id is not None:
        item = session.get(SupervisionItem, item_id)
        if item is None or item.instance_id != instance_id:
            raise NotFoundError(f"督办事项不存在：{item_id}", f"No supervision item {item_id} on this case",
                                field="item_id")
    action = SupervisionAction(instance_id=instance_id, item_id=item_id, action="note", actor=actor, text=note,
                               details={}, at=timesource.now())
    session.add(action)
    session.flush()
    record_events(session, record, [("supervision.note", actor, {"action_id": action.id, "item_id": item_id})])
    case_store.save(session, record)
    return _action_json(action)


def notes(session: Session, instance_id: str) -> dict[str, Any]:
    if session.get(ProcessInstance, instance_id) is None:
        raise NotFoundError(f"办件不存在：{instance_id}", f"No process instance with id {instance_id}", field="id")
    rows = session.scalars(select(SupervisionAction).where(SupervisionAction.instance_id == instance_id)
                           .order_by(SupervisionAction.id))
    return {"instance_id": instance_id, "actions": [_action_json(r) for r in rows]}


def reassign(session: Session, task_id: str, assignee: str | None, reason: str | None,
             actor: str | None) -> dict[str, Any]:
    """Give an open step to another person (department head or supervisor), with the reason, audited."""
    new_assignee = _text(assignee, "assignee")
    why = _text(reason, "reason")
    assert new_assignee is not None and why is not None
    if len(new_assignee) > 128:
        raise InvalidRequestError("assignee 过长（最多 128 个字符）", "assignee is too long", field="assignee")
    owner = session.scalar(select(HumanTask.instance_id).where(HumanTask.id == task_id))
    if owner is None:
        raise NotFoundError(f"任务不存在：{task_id}", f"No task with id {task_id}", field="id")
    record = _lock_case(session, owner)
    task = session.get(HumanTask, task_id, populate_existing=True)
    if task is None or task.state != "CREATED":
        raise ConflictError("任务已办结或已取消", "Task is already completed or canceled", code="task.not_open")
    before = task.assignee
    task_rows.change_tasks(session, HumanTask.id == task_id, {"assignee": new_assignee})  # queue rows in step
    action = SupervisionAction(instance_id=owner, task_id=task_id, action="reassign", actor=actor, text=why,
                               details={"from": before, "to": new_assignee}, at=timesource.now())
    session.add(action)
    session.flush()
    notify(session, [f"user:{new_assignee}"] + ([f"user:{before}"] if before else []), "reassign",
           f"环节改派：{task.name or task.activity_id}",
           f"办件 {record.business_key or record.id} 的环节已由 {before or '待认领'} 改派给 {new_assignee}：{why}",
           owner, task_id)
    record_events(session, record, [("task.reassigned", actor, {"task_id": task_id, "from": before,
                                                                 "to": new_assignee, "reason": why})])
    case_store.save(session, record)
    return _action_json(action)


def close_item(session: Session, item_id: int, reason: str | None, actor: str | None) -> dict[str, Any]:
    item = session.get(SupervisionItem, item_id)
    if item is None:
        raise NotFoundError(f"督办事项不存在：{item_id}", f"No supervision item {item_id}", field="id")
    why = _text(reason, "reason")
    record = _lock_case(session, item.instance_id)
    if item.status == CLOSED:
        raise ConflictError("督办事项已办结", "The supervision item is already closed", code="supervision.closed")
    item.status, item.closed_at, item.closed_reason = CLOSED, timesource.now(), (why or "")[:255]
    session.flush()
    record_events(session, record, [("supervision.item_closed", actor, {"item_id": item_id, "reason": why})])
    case_store.save(session, record)
    return item_json(item)


# --- lists and statistics ----------------------------------------------------------------------------------


def item_json(item: SupervisionItem) -> dict[str, Any]:
    now = timesource.now()
    return {"id": item.id, "instance_id": item.instance_id, "task_id": item.task_id, "scope": item.scope,
            "bundle": item.bundle, "department": item.department, "title": item.title, "status": item.status,
            "limit_deadline": shanghai_iso(item.limit_deadline), "opened_at": shanghai_iso(item.opened_at),
            "deadline": shanghai_iso(item.deadline), "closed_at": shanghai_iso(item.closed_at),
            "closed_reason": item.closed_reason,
            "item_overdue": item.status == OPEN and item.deadline is not None and now > item.deadline}


def open_item_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(SupervisionItem).where(SupervisionItem.status == OPEN)) or 0


__all__ = ["add_note", "close_item", "escalate_case", "escalate_step", "item_json", "lead_departments", "notes",
           "open_item_count", "reassign", "remind", "warn_case", "warn_step"]
