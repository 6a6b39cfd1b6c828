"""Decide a task (审批): a decision, an opinion (stock phrase or own words) and an optional signature.

The decision and the opinion are written to the step's variables (``decisionVariable`` /
``opinionVariable`` properties, else ``<item_code>_decision`` / ``<item_code>_opinion``, else
``decision`` / ``opinion``) and the task is completed like any other; the opinion goes to the case's
official record in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from orchestrator.errors import InvalidRequestError
from orchestrator.models import HumanTask
from orchestrator.services import approval_access, approval_records
from orchestrator.services.cases import complete_task

OPTIONS_PROPERTY = "decision.options"
DEFAULT_OPTIONS = ("approve", "reject", "correct")


def _variable(task: HumanTask, kind: str) -> str:
    properties = task.properties or {}
    if properties.get(f"{kind}Variable"):
        return str(properties[f"{kind}Variable"])
    if properties.get("item_code"):
        return f"{properties['item_code']}_{kind}"
    return kind


def options(task: HumanTask) -> list[str]:
    raw = (task.properties or {}).get(OPTIONS_PROPERTY)
    if raw:
        return [o.strip() for o in str(raw).split(",") if o.strip()]
    return list(DEFAULT_OPTIONS)


def decide(session: Session, task_id: str, decision: str | None, opinion: str | None,
           signature: tuple[str, bytes] | None, variables: Mapping[str, Any], actor: str | None) -> dict[str, Any]:
    row = approval_records.open_task(session, task_id)
    who = approval_access.ensure_assignee(row, actor, "审批")
    allowed = options(row)
    if decision not in allowed:
        raise InvalidRequestError(f"审批决定应为 {'、'.join(allowed)} 之一", f"decision must be one of {allowed}",
                                  field="decision")
    text = (opinion or "").strip()
    if not text:
        raise InvalidRequestError("审批意见不能为空（可选用常用意见）", "opinion is required", field="opinion")
    if len(text) > 2000:
        raise InvalidRequestError("审批意见不能超过 2000 个字符", "opinion is longer than 2000 characters",
                                  field="opinion")
    values = dict(variables)
    values[_variable(row, "decision")] = decision
    values[_variable(row, "opinion")] = text
    instance = complete_task(session, task_id, values, who)
    record = approval_records.add_opinion(session, instance.id, row, who, kind="decision", decision=decision,
                                          opinion=text, signature=signature)
    return {"task_id": task_id, "opinion_id": record.id, "decision": decision,
            "variables": sorted(values)}
