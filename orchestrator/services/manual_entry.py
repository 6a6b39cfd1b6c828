"""二次录入 (manual re-entry): a department without integration gets a task for its clerks instead of a call.

A topic configured `"mode": "manual"` in the connector file (see `connectors.example.json`) does not
wait for a puller nor call anyone. When the case reaches it, the job row is parked as MANUAL and a
human task opens for the department's clerks (candidate group = the department), form key
`lianban:manual-entry`: which system to enter the case into, how, the case data to copy, and the
result fields to record (for example the licence number the department issued). Completing that task
validates the result fields and completes the service task with them, so the flow goes on through the
platform exactly as if the department's system had answered. The recorded values are case variables
(`engine/case_scope.py`): written to every branch still running and to the case record, so the main flow
reads them even when the service task sits on a non-interrupting boundary branch (a step warning) whose own
data ends with it. The task has a due date like any step
(`due_workdays`), and its creation and completion are audit events on the case's chain.

The topic's configuration is copied into the task when it opens: a later change of the connector
file does not change what an open task asks for.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from orchestrator import timesource, workcalendar
from orchestrator.engine import case_scope
from orchestrator.engine.runtime import CaseRuntime, ExternalTaskInfo
from orchestrator.errors import ConflictError, InvalidRequestError, LianbanError, NotFoundError
from orchestrator.models import HumanTask, Job, ProcessInstance
from orchestrator.services import task_rows
from orchestrator.services.audit import EventSpec
from orchestrator.services.case_store import CaseRecord
from orchestrator.services.connectors import RESULT_TYPES, ManualTopic, ResultField, load_manual_topics
from orchestrator.services.definitions import LoadedDefinition

log = logging.getLogger(__name__)

MANUAL = "MANUAL"  # the job state while a clerk re-enters the case
FORM_KEY = "lianban:manual-entry"
PROPERTY = "manual_entry"  # key of the task's properties holding the topic's configuration


class ManualEntryInvalidError(InvalidRequestError):
    code = "manual_entry.invalid"


@dataclass(frozen=True)
class NewEntry:
    job: ExternalTaskInfo
    topic: ManualTopic


def entries_for(new_jobs: Sequence[ExternalTaskInfo]) -> list[NewEntry]:
    """The new jobs whose topic is manual; a broken connector file leaves them to the external-task API."""
    if not new_jobs:
        return []
    try:
        topics = load_manual_topics()
    except LianbanError as error:
        log.warning("连接器配置无效，无法判断是否为人工二次录入：%s", error.message_zh)
        return []
    return [NewEntry(job, topics[job.topic]) for job in new_jobs if job.topic in topics]


def _task_name(entry: NewEntry) -> str:
    return f"二次录入：{entry.job.name or entry.job.activity_id}"


def audit_specs(entries: Sequence[NewEntry], actor: str | None) -> list[EventSpec]:
    return [("task.created", actor, {"task_id": e.job.id, "activity_id": e.job.activity_id, "manual_entry": True,
                                     "topic": e.topic.topic, "candidate_groups": [e.topic.department]})
            for e in entries]


def _due(topic: ManualTopic, now: datetime) -> datetime | None:
    if topic.due_workdays is None:
        return None
    try:
        return workcalendar.end_of_day(workcalendar.add_workdays(workcalendar.local_today(now), topic.due_workdays))
    except workcalendar.CalendarDataMissingError:
        return None  # as the statutory clock: no calendar data, no due date (never a guess)


def _configuration(topic: ManualTopic) -> dict[str, Any]:
    return {
        "topic": topic.topic, "department": topic.department, "system": topic.system,
        "instructions": topic.instructions, "description": topic.description,
        "variables_in": dict(topic.variables_in),
        "result_fields": [{"name": f.name, "label": f.label, "type": f.type, "required": f.required,
                           "pattern": f.pattern} for f in topic.result_fields],
    }


def open_tasks(session: Session, instance: CaseRecord, definition: LoadedDefinition,
               entries: Sequence[NewEntry]) -> None:
    """Park the jobs as MANUAL and open one human task per job for the department's clerks."""
    if not entries:
        return
    now = timesource.now()
    ids = [e.job.id for e in entries]
    session.execute(update(Job).where(Job.id.in_(ids)).values(state=MANUAL)
                    .execution_options(synchronize_session=False))
    task_rows.insert_tasks(session, [
        {
            "id": e.job.id, "instance_id": instance.id, "definition_id": definition.id,
            "definition_key": definition.key, "business_key": instance.business_key,
            "activity_id": e.job.activity_id, "name": _task_name(e), "description": e.topic.instructions,
            "state": "CREATED", "assignee": None, "owner": None, "candidate_groups": [e.topic.department],
            "candidate_users": [], "due": _due(e.topic, now), "follow_up": None, "priority": 50,
            "form_key": FORM_KEY, "properties": {PROPERTY: _configuration(e.topic)}, "created_at": now,
            "suspended": instance.state == "SUSPENDED",
        }
        for e in entries
    ])


def mark(runtime: CaseRuntime, entries: Sequence[NewEntry], ended_jobs: Mapping[str, bool]) -> dict[str, bool]:
    """Mark the new manual jobs in the case state; return the ended jobs that were manual (or may have been).

    The mark saves a statement on every other step: only a step that ends a manual job touches the task rows.
    """
    for entry in entries:
        runtime.mark_task(entry.job.id, PROPERTY)
    return {job_id: canceled for job_id, canceled in ended_jobs.items()
            if runtime.is_marked(job_id, PROPERTY) is not False}


def close_tasks(session: Session, ended_jobs: Mapping[str, bool], actor: str | None) -> None:
    """A manual job that ended (recorded, or canceled by a boundary event) closes its task."""
    if not ended_jobs:
        return
    now = timesource.now()
    for canceled in (False, True):
        ids = [job_id for job_id, was_canceled in ended_jobs.items() if was_canceled is canceled]
        if ids:
            task_rows.change_tasks(session, HumanTask.id.in_(ids),
                                   {"state": "CANCELED" if canceled else "COMPLETED", "ended_at": now,
                                    "completed_by": None if canceled else actor})


def _manual_task(session: Session, task_id: str) -> HumanTask:
    task = session.get(HumanTask, task_id)
    if task is None or task.form_key != FORM_KEY or PROPERTY not in (task.properties or {}):
        raise NotFoundError(f"二次录入任务不存在：{task_id}", f"No manual-entry task with id {task_id}", field="id")
    return task


def _fields(task: HumanTask) -> list[ResultField]:
    return [ResultField(f["name"], f["label"], f["type"], f["required"], f.get("pattern"))
            for f in task.properties[PROPERTY]["result_fields"]]


def _check(result_field: ResultField, value: Any) -> tuple[Any, str | None, str | None]:
    """The value as stored, or a problem in Chinese and English."""
    kind = result_field.type
    if kind == "string":
        if not isinstance(value, str):
            return None, "应为文本", "must be text"
        value = value.strip()
        if result_field.pattern and not re.fullmatch(result_field.pattern, value):
            return None, "格式不正确", f"does not match {result_field.pattern}"
        return value, None, None
    if kind == "integer":
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            return None, "应为整数", "must be an integer"
        return value, None, None
    if kind == "number":
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            return None, "应为数字", "must be a number"
        return value, None, None
    if kind == "boolean":
        if not isinstance(value, bool):
            return None, "应为是或否", "must be true or false"
        return value, None, None
    if not isinstance(value, str):  # date
        return None, "应为日期（YYYY-MM-DD）", "must be a date YYYY-MM-DD"
    try:
        return date.fromisoformat(value.strip()[:10]).isoformat(), None, None
    except ValueError:
        return None, "应为日期（YYYY-MM-DD）", "must be a date YYYY-MM-DD"


def validated_result(session: Session, task_id: str, variables: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded result fields as case variables; 400 `manual_entry.invalid` naming every bad field."""
    task = _manual_task(session, task_id)
    fields = _fields(task)
    known = {f.name for f in fields}
    problems: list[dict[str, str]] = []
    result: dict[str, Any] = {}
    for result_field in fields:
        value = variables.get(result_field.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if result_field.required:
                problems.append({"field": result_field.name, "label": result_field.label,
                                 "message_zh": "必填", "message_en": "is required"})
            continue
        checked, zh, en = _check(result_field, value)
        if zh is not None:
            problems.append({"field": result_field.name, "label": result_field.label, "message_zh": zh,
                             "message_en": f"{result_field.name} {en}"})
        else:
            result[result_field.name] = checked
    for name in sorted(set(variables) - known):
        problems.append({"field": name, "label": name, "message_zh": "不是本次二次录入要记录的结果",
                         "message_en": "is not a result field of this manual entry"})
    if problems:
        raise ManualEntryInvalidError(
            "二次录入结果有误：" + "；".join(f"{p['label']}：{p['message_zh']}" for p in problems),
            "Manual entry result is invalid: " + "; ".join(f"{p['field']} {p['message_en']}" for p in problems),
            field=problems[0]["field"], extra={"errors": problems},
        )
    if task.state != "CREATED":
        raise ConflictError("二次录入任务已办结或已取消", "Manual-entry task is no longer open", code="task.not_open")
    return result


def record(session: Session, runtime: CaseRuntime, task_id: str, variables: Mapping[str, Any]) -> dict[str, Any]:
    """Check the clerk's result, write it to the whole case, and complete the service task with it.

    Case scope first: a refusal (a branch holds its own value of a result field) changes nothing.
    """
    result = validated_result(session, task_id, variables)
    case_scope.write(runtime.workflow.data, runtime.all_tasks(), result, runtime.activity_of(task_id) or task_id)
    runtime.complete_external_task(task_id, result)
    return result


def _form(config: Mapping[str, Any], copy: list[dict[str, Any]]) -> dict[str, Any]:
    """A form-js schema for this task: what to do, the data to copy (read-only), the fields to record."""
    lines = "\n".join(f"- **{c['label']}**：{c['value'] if c['value'] is not None else '（无）'}" for c in copy)
    components: list[dict[str, Any]] = [
        {"type": "text", "id": "instructions",
         "text": f"### 在“{config['system']}”中录入\n\n{config['instructions']}"},
        {"type": "text", "id": "case_data", "text": f"#### 需要录入的办件信息\n\n{lines or '（无）'}"},
    ]
    for f in config["result_fields"]:
        component: dict[str, Any] = {"id": f"result_{f['name']}", "key": f["name"], "label": f["label"],
                                     "validate": {"required": f["required"]}}
        if f["type"] in ("integer", "number"):
            component["type"] = "number"
            component["decimalDigits"] = 0 if f["type"] == "integer" else None
        elif f["type"] == "boolean":
            component["type"] = "checkbox"
        elif f["type"] == "date":
            component.update(type="datetime", subtype="date", dateLabel=f["label"])
        else:
            component["type"] = "textfield"
            if f.get("pattern"):
                component["validate"]["pattern"] = f["pattern"]
        components.append(component)
    return {"type": "default", "id": "manual-entry", "schemaVersion": 16, "components": components}


def describe(session: Session, task_id: str) -> dict[str, Any]:
    """Everything the clerk needs: the system, the instructions, the case data to copy, the fields to record."""
    task = _manual_task(session, task_id)
    config = task.properties[PROPERTY]
    instance = session.get(ProcessInstance, task.instance_id)
    variables = instance.variables if instance is not None else {}
    copy = [{"variable": name, "label": label, "value": variables.get(name)}
            for name, label in config["variables_in"].items()]
    return {
        "task_id": task.id, "case_id": task.instance_id, "business_key": task.business_key,
        "bundle": task.definition_key, "activity_id": task.activity_id, "name": task.name, "state": task.state,
        "topic": config["topic"], "department": config["department"], "system": config["system"],
        "instructions": config["instructions"], "description": config.get("description") or None,
        "copy": copy,
        "result_fields": [{**f, "type_zh": RESULT_TYPES[f["type"]]} for f in config["result_fields"]],
        "due": task.due.astimezone(workcalendar.SHANGHAI).isoformat() if task.due else None,
        "due_utc": task.due.astimezone(UTC).isoformat() if task.due else None,
        "created_at": task.created_at.astimezone(workcalendar.SHANGHAI).isoformat(),
        "form_key": FORM_KEY, "form": _form(config, copy),
    }


__all__ = ["FORM_KEY", "MANUAL", "ManualEntryInvalidError", "NewEntry", "audit_specs", "close_tasks", "describe",
           "entries_for", "mark", "open_tasks", "record", "validated_result"]
