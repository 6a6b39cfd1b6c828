"""Task forms for reviewers: the form with the case data to fill it, drafts, and submission.

Submitting goes through `cases.complete_task`, where every completion of a `lianban:` form is
checked (`task_forms`): the /api route and Camunda's /engine-rest complete obey the same rules.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from orchestrator.auth.principal import Principal
from orchestrator.errors import ConflictError, InvalidRequestError, LianbanError, NotFoundError
from orchestrator.forms import registry
from orchestrator.forms.schema import FormSchema
from orchestrator.forms.validation import FieldError, check, visible_fields
from orchestrator.models import FormDraft, HumanTask
from orchestrator.services import cases, manual_entry
from orchestrator.services.case_store import CaseRecord
from orchestrator.workcalendar import SHANGHAI

MAX_DRAFT_BYTES = 256 * 1024
OPEN = "CREATED"


def open_task(session: Session, task_id: str) -> HumanTask:
    """The task row, refusing unknown (404) and finished (409) tasks."""
    task = session.get(HumanTask, task_id)
    if task is None:
        raise NotFoundError(f"任务不存在：{task_id}", f"No task with id {task_id}", field="id")
    if task.state != OPEN:
        raise ConflictError("任务已办结或已取消", "Task is already completed or canceled", code="task.not_open")
    return task


def _form_of(task: HumanTask) -> FormSchema:
    form = registry.for_key(task.form_key)
    if form is None:
        raise LianbanError(f"该任务没有联办表单（formKey：{task.form_key or '无'}）",
                           f"Task has no lianban: form (formKey {task.form_key!r})", code="form.none", status=404)
    return form


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in json.loads(json.dumps(data, default=str)).items() if not key.startswith("_")}


def _local(value: datetime) -> str:
    return value.astimezone(SHANGHAI).isoformat()


def _is_manual_entry(task: HumanTask) -> bool:
    """二次录入 tasks (services/manual_entry.py) carry a form built from their topic, checked there."""
    return task.form_key == manual_entry.FORM_KEY


def _manual_entry_form(session: Session, task: HumanTask) -> dict[str, Any]:
    described = manual_entry.describe(session, task.id)
    draft = session.get(FormDraft, task.id)
    return {"task_id": task.id, "instance_id": task.instance_id, "task_name": task.name, "form_key": task.form_key,
            "schema": described["form"], "data": {}, "draft": _draft_json(draft), "hidden": [], "decisions": [],
            "manual_entry": described}


def task_form(session: Session, task_id: str) -> dict[str, Any]:
    """The form of an open task, the data it sees (case variables and its own locals), and the saved draft."""
    task = open_task(session, task_id)
    if _is_manual_entry(task):
        return _manual_entry_form(session, task)
    form = _form_of(task)
    case = cases.load_case(session, task.instance_id, for_change=False)
    data = _jsonable(case.runtime.task_data(task_id))
    draft = session.get(FormDraft, task_id)
    values = dict(draft.values) if draft is not None else {}
    _, hidden = visible_fields(form, data, values)
    return {
        "task_id": task.id,
        "instance_id": task.instance_id,
        "task_name": task.name,
        "form_key": task.form_key,
        "schema": form.document,
        "data": data,
        "draft": _draft_json(draft),
        "hidden": sorted(hidden),
        "decisions": [{"field": f.key, "reason_field": f.reason_field} for f in form.decisions],
    }


def _draft_json(draft: FormDraft | None) -> dict[str, Any] | None:
    if draft is None:
        return None
    return {"values": draft.values, "saved_by": draft.saved_by, "saved_at": _local(draft.saved_at),
            "saved_at_utc": draft.saved_at.isoformat()}


def save_draft(session: Session, task_id: str, values: Any, actor: str | None) -> dict[str, Any]:
    """Keep what a reviewer has entered so far; only the form's own fields, checked on submission."""
    task = open_task(session, task_id)
    if not isinstance(values, dict):
        raise InvalidRequestError("values 必须是对象（字段名 → 值）", "values must be an object", field="values")
    if _is_manual_entry(task):
        keys = {f["name"] for f in task.properties[manual_entry.PROPERTY]["result_fields"]}
        form = None
    else:
        form = _form_of(task)
        keys = set(form.keys)
    unknown = [FieldError(k, k, f"表单中没有字段“{k}”") for k in values if k not in keys]
    if unknown:
        raise InvalidRequestError("草稿中有表单之外的字段：" + "、".join(e.field for e in unknown),
                                  "The draft has fields the form does not have", code="form.draft_invalid",
                                  field=unknown[0].field, extra={"errors": [e.as_dict() for e in unknown]})
    if len(json.dumps(values, ensure_ascii=False).encode()) > MAX_DRAFT_BYTES:
        raise InvalidRequestError(f"草稿过大（上限 {MAX_DRAFT_BYTES // 1024} KiB）", "Draft too large",
                                  field="values", code="form.draft_too_large")
    draft = session.get(FormDraft, task_id)
    now = datetime.now(UTC)
    if draft is None:
        draft = FormDraft(task_id=task_id, instance_id=task.instance_id, form_key=str(task.form_key))
        session.add(draft)
    draft.values = dict(values)
    draft.saved_by = actor
    draft.saved_at = now
    # What would still be refused if it were submitted now: shown to the reviewer, never enforced on drafts.
    problems: tuple[FieldError, ...] = ()
    if form is not None:
        context = cases.load_case(session, task.instance_id, for_change=False).runtime.task_data(task_id)
        problems = check(form, context, values).errors
    return {**(_draft_json(draft) or {}), "problems": [p.as_dict() for p in problems]}


def get_draft(session: Session, task_id: str) -> dict[str, Any]:
    task = open_task(session, task_id)
    if not _is_manual_entry(task):
        _form_of(task)
    draft = session.get(FormDraft, task_id)
    if draft is None:
        raise NotFoundError("该任务还没有保存草稿", "No draft saved for this task", code="form.no_draft")
    return _draft_json(draft) or {}


def submit(session: Session, task_id: str, values: Any, actor: str | None, *,
           as_user: Principal | None = None) -> CaseRecord:
    """Complete a task with its form's values: checked on the server, all or nothing."""
    task = open_task(session, task_id)
    if not _is_manual_entry(task):
        _form_of(task)
    if not isinstance(values, dict):
        raise InvalidRequestError("values 必须是对象（字段名 → 值）", "values must be an object", field="values")
    return cases.complete_task(session, task_id, values, actor, as_user=as_user)
