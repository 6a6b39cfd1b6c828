"""The consolidated report of a joint step (联合评审 / 勘验 / 验收): every department's findings and signature.

A joint step is a user task with the property `joint` (`review`, `inspection` or `acceptance`),
drawn as a parallel multi-instance over the departments (one task per department, candidate group
`${department}`) that ends when all have signed or at the first rejection. Its form's decision
field (one with `reasonField`, e.g. `inspection_rejected` → `inspection_issues`) says whether a
department refused. `site_fields` (comma-separated case variables) names the site data every
department inspected.

The report is read from projections and the checked form submissions, never from engine state:
each round (a first inspection, a re-inspection after rectification) lists each department's
status, the values it entered (with the form's labels), who signed and when.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.errors import LianbanError, NotFoundError
from orchestrator.forms import registry
from orchestrator.forms.schema import FormSchema
from orchestrator.models import FormSubmission, HumanTask, ProcessInstance
from orchestrator.services.definitions import definition_cache
from orchestrator.workcalendar import SHANGHAI

JOINT_PROPERTY = "joint"
SITE_FIELDS_PROPERTY = "site_fields"
KINDS = {"review": "联合评审", "inspection": "联合勘验", "acceptance": "联合验收"}
STATUS_ZH = {"signed": "已签署", "pending": "待勘验", "not_inspected": "未勘验（已因其他部门不通过而结束）",
             "passed": "通过", "rejected": "不通过", "in_progress": "进行中", "not_started": "尚未开始"}


def _joint_steps(session: Session, definition_id: str) -> dict[str, Mapping[str, Any]]:
    """Activity id → properties of every joint step of the case's definition (from the cached spec)."""
    loaded = definition_cache.get(session, definition_id)
    steps: dict[str, Mapping[str, Any]] = {}
    for spec in loaded.spec.task_specs.values():
        properties = (getattr(spec, "extensions", None) or {}).get("properties") or {}
        if properties.get(JOINT_PROPERTY):
            steps[str(spec.bpmn_id)] = properties
    return steps


def _time(value: Any) -> str | None:
    return value.astimezone(SHANGHAI).isoformat() if value is not None else None


def report(session: Session, instance_id: str) -> dict[str, Any]:
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFoundError(f"办件不存在：{instance_id}", f"No process instance with id {instance_id}", field="id")
    steps = _joint_steps(session, instance.definition_id)
    if not steps:
        raise LianbanError("该办件的流程没有联合评审 / 勘验 / 验收环节", "The case's process has no joint step",
                           code="joint.none", status=404)
    tasks = list(session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                         HumanTask.activity_id.in_(steps))
                                 .order_by(HumanTask.created_at, HumanTask.id)))
    submissions = {s.task_id: s for s in session.scalars(
        select(FormSubmission).where(FormSubmission.instance_id == instance_id,
                                     FormSubmission.activity_id.in_(steps)))}
    variables = instance.variables or {}
    result_steps = []
    for activity_id, properties in steps.items():
        mine = [t for t in tasks if t.activity_id == activity_id]
        form = registry.for_key(mine[0].form_key) if mine else None
        rounds = _rounds(mine, submissions, form)
        site_keys = [k.strip() for k in str(properties.get(SITE_FIELDS_PROPERTY) or "").split(",") if k.strip()]
        status = rounds[-1]["status"] if rounds else "not_started"
        result_steps.append({
            "activity_id": activity_id,
            "kind": properties[JOINT_PROPERTY],
            "kind_zh": KINDS.get(str(properties[JOINT_PROPERTY]), str(properties[JOINT_PROPERTY])),
            "site": {key: variables.get(key) for key in site_keys},
            "status": status,
            "status_zh": STATUS_ZH[status],
            "rounds": rounds,
        })
    return {"instance_id": instance.id, "business_key": instance.business_key, "steps": result_steps}


def _rounds(tasks: list[HumanTask], submissions: Mapping[str, FormSubmission],
            form: FormSchema | None) -> list[dict[str, Any]]:
    """Group a joint step's tasks into rounds: the instances of one round are created in the same step."""
    batches: dict[Any, list[HumanTask]] = {}
    for task in tasks:
        batches.setdefault(task.created_at, []).append(task)
    decision = next((f for f in form.decisions), None) if form is not None else None
    labels = {f.key: f.label for f in form.fields} if form is not None else {}
    rounds = []
    for number, (created_at, batch) in enumerate(sorted(batches.items(), key=lambda item: item[0]), start=1):
        departments = []
        for task in sorted(batch, key=lambda t: (t.candidate_groups or [""])[0]):
            submission = submissions.get(task.id)
            values = dict(submission.values) if submission is not None else {}
            rejected = bool(values.get(decision.key)) if decision is not None and submission is not None else None
            if submission is not None:
                status = "signed"
            elif task.state == "CREATED":
                status = "pending"
            else:
                status = "not_inspected"
            departments.append({
                "department": task.candidate_groups[0] if task.candidate_groups else None,
                "task_id": task.id,
                "status": status,
                "status_zh": STATUS_ZH[status],
                "rejected": rejected,
                "reason": values.get(decision.reason_field) if decision is not None and decision.reason_field
                and rejected else None,
                "entries": [{"field": key, "label": labels.get(key, key), "value": value}
                            for key, value in values.items()],
                "signed_by": submission.submitted_by if submission is not None else None,
                "signed_at": _time(submission.submitted_at) if submission is not None else None,
            })
        if any(d["rejected"] for d in departments):
            status = "rejected"
        elif all(d["status"] == "signed" for d in departments):
            status = "passed"
        else:
            status = "in_progress"
        rounds.append({"round": number, "started_at": _time(created_at), "status": status,
                       "status_zh": STATUS_ZH[status], "departments": departments})
    return rounds
