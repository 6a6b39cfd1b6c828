"""Countersign rules (会签 / 或签 / 比例 / 票数 / 一票否决) on multi-instance user tasks.

Written on the user task as Camunda properties, so an analyst reads and edits them in the modeler:

- ``countersign.rule``: ``all`` (everyone signs; approved when nobody rejected), ``veto`` (ends at
  the first rejection; approved when everyone approved), ``any`` (ends at the first approval;
  rejected when everyone rejected), ``ratio:0.6`` (approved once the approving weight reaches 60 %
  of the total; rejected as soon as that can no longer happen), ``count:2`` (the same with an
  absolute approving weight).
- ``countersign.weight``: an expression for each signer's weight (default 1), evaluated with the
  signer's element variable and ``loopCounter``, e.g. ``${weights[signer]}``.
- ``countersign.result``: the variable that receives the outcome (true / false) when the step ends;
  default ``<activity id>_approved``.
- The decision of each signer is read from the variable ``decisionVariable`` (property), else
  ``<item_code>_decision``, else ``decision``: ``approve`` / ``true`` approves, ``reject`` /
  ``false`` rejects.

Without a rule, a completion condition may use the counters Camunda has (``nrOfInstances``,
``nrOfActiveInstances``, ``nrOfCompletedInstances``) and ``nrOfApproved`` / ``nrOfRejected``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import DiagramError

RULE_PROPERTY = "countersign.rule"
WEIGHT_PROPERTY = "countersign.weight"
RESULT_PROPERTY = "countersign.result"
CHANGES_PROPERTY = "countersign.signerChanges"  # "add,remove" (default), "add", "remove" or "none"
DECISION_PROPERTY = "decisionVariable"
RULE_KINDS = ("all", "veto", "any", "ratio", "count")
APPROVE = ("approve", "approved", "agree", "yes", True)
REJECT = ("reject", "rejected", "disagree", "no", False)


@dataclass(frozen=True)
class Rule:
    kind: str
    threshold: float = 0.0


@dataclass
class Tally:
    instances: int
    completed: int
    approved: int
    rejected: int
    approved_weight: float
    rejected_weight: float
    total_weight: float


def properties_of(spec: Any) -> dict[str, Any]:
    return dict((getattr(spec, "extensions", None) or {}).get("properties") or {})


def parse_rule(text: str | None, element_id: str) -> Rule | None:
    """The rule of a countersign step; a bad one is refused at deployment, naming the element."""
    if text is None or not str(text).strip():
        return None
    kind, _, argument = str(text).strip().partition(":")
    kind = kind.strip().lower()
    if kind not in RULE_KINDS:
        raise _bad(element_id, f"未知的会签规则“{text}”（可用：all、veto、any、ratio:0.6、count:2）",
                   f"unknown countersign rule {text!r}")
    if kind in ("ratio", "count"):
        try:
            threshold = float(argument)
        except ValueError:
            raise _bad(element_id, f"会签规则 {kind} 需要数值，例如 {kind}:{'0.6' if kind == 'ratio' else '2'}",
                       f"countersign rule {kind} needs a number") from None
        if (kind == "ratio" and not 0 < threshold <= 1) or (kind == "count" and threshold <= 0):
            raise _bad(element_id, f"会签规则 {text} 的数值超出范围", f"countersign rule {text} is out of range")
        return Rule(kind, threshold)
    if argument.strip():
        raise _bad(element_id, f"会签规则 {kind} 不带参数", f"countersign rule {kind} takes no argument")
    return Rule(kind)


def _bad(element_id: str, zh: str, en: str) -> DiagramError:
    return DiagramError(zh, en, code="bpmn.countersign_rule", element_id=element_id)


def decision_variable(spec: Any) -> str:
    properties = properties_of(spec)
    if properties.get(DECISION_PROPERTY):
        return str(properties[DECISION_PROPERTY])
    if properties.get("item_code"):
        return f"{properties['item_code']}_decision"
    return "decision"


def read_decision(value: Any) -> bool | None:
    """True: approves, False: rejects, None: neither (a missing or other value)."""
    if isinstance(value, str):
        value = value.strip().lower()
    if value in APPROVE:
        return True
    if value in REJECT:
        return False
    return None


def outcome(rule: Rule, tally: Tally) -> bool | None:
    """True approved, False rejected, None: not decided yet."""
    pending = tally.instances - tally.completed
    if rule.kind == "all":
        return tally.rejected == 0 if pending <= 0 else None
    if rule.kind == "veto":
        if tally.rejected:
            return False
        return True if pending <= 0 else None
    if rule.kind == "any":
        if tally.approved:
            return True
        return False if pending <= 0 else None
    target = rule.threshold * tally.total_weight if rule.kind == "ratio" else rule.threshold
    if tally.approved_weight >= target - 1e-9:
        return True
    if tally.total_weight - tally.rejected_weight < target - 1e-9 or pending <= 0:
        return False
    return None


def counters(tally: Tally, active: int) -> dict[str, Any]:
    return {"nrOfInstances": tally.instances, "nrOfActiveInstances": active,
            "nrOfCompletedInstances": tally.completed, "nrOfApproved": tally.approved,
            "nrOfRejected": tally.rejected}


def weight_of(value: Any, element_id: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise DiagramError(f"会签权重必须是非负数，实际为 {value!r}", f"countersign weight must be a non-negative "
                           f"number, got {value!r}", code="engine.countersign_weight", element_id=element_id)
    return float(value)


def result_variable(spec: Any, activity_id: str) -> str:
    return str(properties_of(spec).get(RESULT_PROPERTY) or f"{activity_id}_approved")


def allowed_changes(spec: Any) -> set[str]:
    raw = properties_of(spec).get(CHANGES_PROPERTY)
    if raw is None:
        return {"add", "remove"}
    return {part.strip() for part in str(raw).split(",") if part.strip() in ("add", "remove")}


def weights_total(weights: Mapping[str, float]) -> float:
    return float(sum(weights.values()))


def signer_kind(spec: Any, element_variable: str | None) -> str:
    """Whom a countersign's element variable names: ``group`` when it fills the candidate groups
    (a joint inspection signs per department), else ``user`` (the assignee, or a candidate user)."""
    groups = str((getattr(spec, "extensions", None) or {}).get("candidateGroups") or "")
    if element_variable and re.search(rf"\b{re.escape(element_variable)}\b", groups):
        return "group"
    return "user"
