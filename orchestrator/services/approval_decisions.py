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

from orchestrator.auth.principal import Principal
from orchestrator.errors import InvalidRequestError
from orchestrator.models import HumanTask
from orchestrator.services import approval_records
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
           signature: tuple[str, bytes] | None, variables: Mapping[str, Any], principal: Principal) -> dict[str, Any]:
    """Check the decision, then complete the task through the same check as any completion.

    Only the assignee decides (a candidate of an unclaimed task claims it in the same transaction),
    never while the task is delegated (task_claims.ensure_can_complete, under the case lock).
    """
    row = approval_records.open_task(session, task_id)
    who = principal.username
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
    decided = ("approval.decided", who, {"task_id": task_id, "activity_id": row.activity_id, "decision": decision,
                                     "opinion": text, "signed": signature is not None})
    instance = complete_task(session, task_id, values, who, as_user=principal, events=[decided])
    record = approval_records.add_opinion(session, instance.id, row, who, kind="decision", decision=decision,
                                          opinion=text, signature=signature)
    return {"task_id": task_id, "opinion_id": record.id, "decision": decision,
            "variables": sorted(values)}
