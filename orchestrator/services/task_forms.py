"""The form check every completion of a task with a `lianban:` form goes through, /api and /engine-rest alike.

A submission that fails is refused as a whole (400 `form.validation_failed`, each field named in
Chinese) before the engine is touched, so nothing of the case changes. One that passes is what the
case receives: only the visible, editable fields of the form. It is kept as a `form_submission` row
(the record behind consolidated reports such as the joint inspection's), and every decision in it
becomes a `task.decided` audit event with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete
from sqlalchemy.orm import Session

from orchestrator.engine.runtime import CaseRuntime
from orchestrator.errors import InvalidRequestError
from orchestrator.forms import registry
from orchestrator.forms.schema import FormSchema
from orchestrator.forms.validation import FieldError, check
from orchestrator.models import FormDraft, FormSubmission
from orchestrator.services import hot_sql
from orchestrator.services.audit import EventSpec

_SUBMISSIONS = cast(Table, FormSubmission.__table__)
_DRAFTS = cast(Table, FormDraft.__table__)
_DELETE_DRAFT = hot_sql.HotStatement(delete(_DRAFTS).where(_DRAFTS.c.task_id == bindparam("draft_task_id")))


class FormValidationError(InvalidRequestError):
    """A submission that does not satisfy its form; `errors` lists every field at fault."""

    code = "form.validation_failed"

    def __init__(self, errors: tuple[FieldError, ...] | list[FieldError]) -> None:
        shown = "；".join(e.message for e in errors[:5]) + ("……" if len(errors) > 5 else "")
        super().__init__(
            f"表单校验未通过（{len(errors)} 处）：{shown}",
            f"Form validation failed for {len(errors)} field(s): {', '.join(e.field for e in errors)}",
            field=errors[0].field if errors else None,
            extra={"errors": [e.as_dict() for e in errors]},
        )


@dataclass(frozen=True)
class CheckedSubmission:
    form_key: str
    form: FormSchema
    values: dict[str, Any]
    decisions: list[dict[str, Any]] = field(default_factory=list)


def check_submission(runtime: CaseRuntime, task_id: str, variables: dict[str, Any]) -> CheckedSubmission | None:
    """Check what a task is completed with against its form; None for tasks without a `lianban:` form."""
    form_key = runtime.form_key_of(task_id)
    form = registry.for_key(form_key)
    if form is None or form_key is None:
        return None
    checked = check(form, runtime.task_data(task_id), variables)
    if not checked.ok:
        raise FormValidationError(checked.errors)
    decisions = []
    for decision in form.decisions:
        value = checked.values.get(decision.key)
        if value in (None, "", False) or not decision.reason_field:
            continue
        decisions.append({"field": decision.key, "label": decision.label, "value": value,
                          "value_label": decision.option_labels.get(str(value), str(value)),
                          "reason": str(checked.values.get(decision.reason_field, "")).strip()})
    return CheckedSubmission(form_key, form, checked.values, decisions)


def decision_events(task_id: str, activity_id: str | None, submission: CheckedSubmission,
                    actor: str | None) -> list[EventSpec]:
    """One `task.decided` audit event per decision taken, with its reason."""
    return [("task.decided", actor, {"task_id": task_id, "activity_id": activity_id, **decision})
            for decision in submission.decisions]


def submission_write(instance_id: str, task_id: str, activity_id: str | None, submission: CheckedSubmission,
                     actor: str | None) -> Callable[[Session], None]:
    """Keep the checked submission and drop the task's draft, in the step's batch (`LoadedCase.writes`)."""
    row = {"instance_id": instance_id, "task_id": task_id, "activity_id": activity_id or "",
           "form_key": submission.form_key, "values": submission.values, "submitted_by": actor,
           "submitted_at": datetime.now(UTC)}

    def write(session: Session) -> None:
        hot_sql.insert_rows(session, _SUBMISSIONS, [row])
        hot_sql.execute(session, _DELETE_DRAFT, {"draft_task_id": task_id})

    return write


def draft_removal(task_id: str) -> Callable[[Session], None]:
    """Drop a completed task's draft, in the step's batch (tasks whose form is checked elsewhere: 二次录入)."""

    def write(session: Session) -> None:
        hot_sql.execute(session, _DELETE_DRAFT, {"draft_task_id": task_id})

    return write
