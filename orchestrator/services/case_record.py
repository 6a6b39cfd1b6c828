"""The case record page (/cases/<id>): what a reader of the case sees in one place, read-only.

The bundle, the applicant (personal ID numbers masked as the APIs mask them), the time-limit clocks
(services.clock as GET /api/cases/{id}/clock), the steps with who did them and when, the official record of
审批意见 (approval_records.opinions as GET /api/cases/{id}/opinions) and the materials with their download
links (GET /api/materials/{id}, which checks the reader again). Whether the reader may see the case at all is
the route's `scope="case"` rule, the same as the APIs'.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.errors import NotFoundError
from orchestrator.models import HumanTask, Material, ProcessInstance
from orchestrator.services import approval_records, clock, materials, privacy
from orchestrator.services.workbench import LIMIT_LABELS, Names, field_labels, local_time

CASE_STATES = {"ACTIVE": "办理中", "SUSPENDED": "已挂起", "COMPLETED": "已办结", "TERMINATED": "已终止"}
STEP_STATES = {"CREATED": "办理中", "COMPLETED": "已办理", "CANCELED": "已撤销"}
CLOCK_STATES = {**LIMIT_LABELS, "PAUSED": "已暂停"}
OPINION_KINDS = {"decision": "审批", "send_back": "退回", "retract": "撤回", "transfer": "转办", "signers": "加签/减签"}
DECISIONS = {"approve": "准予", "reject": "不予", "correct": "补正", "send_back": "退回", "retract": "撤回",
             "transfer": "转办"}


def _iso_local(value: str | None) -> str:
    return local_time(datetime.fromisoformat(value)) if value else "—"


def case_record(session: Session, instance_id: str) -> dict[str, Any]:
    """The record of case `instance_id` as the case page shows it (404 for an unknown case)."""
    case = session.get(ProcessInstance, instance_id)
    if case is None:
        raise NotFoundError(f"办件不存在：{instance_id}", f"No process instance with id {instance_id}", field="id")
    names = Names.load(session)
    labels = field_labels()["fields"]
    data = case.variables or {}
    identity = [{"label": labels.get(name, name), "value": privacy.mask_document(data[name], True)}
                for name in sorted(data) if privacy.is_pii_name(name) and isinstance(data[name], str)]
    steps = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)
                            .order_by(HumanTask.created_at, HumanTask.id))
    files = session.scalars(select(Material).where(Material.instance_id == instance_id)
                            .order_by(Material.uploaded_at, Material.id))
    record: dict[str, Any] = privacy.mask_document({  # every ID number masked: applicant, an opinion, a file name
        "id": case.id, "business_key": case.business_key or "—", "bundle": names.bundle(case.definition_key),
        "state": CASE_STATES.get(case.state, case.state), "started": local_time(case.started_at),
        "ended": local_time(case.ended_at), "applicant": data.get("applicant_name") or "—", "identity": identity,
        "clocks": [{"kind": c["kind_name"], "limit_days": c["limit_days"], "deadline": _iso_local(c["deadline"]),
                    "state": c["status"], "label": CLOCK_STATES.get(c["status"], c["status"])}
                   for c in clock.describe(session, instance_id)["clocks"]],
        "steps": [{"id": t.id, "name": t.name or t.activity_id, "state": STEP_STATES.get(t.state, t.state),
                   "open": t.state == "CREATED", "department": names.department(t.department),
                   "who": t.completed_by or t.assignee or "—", "created": local_time(t.created_at),
                   "ended": local_time(t.ended_at)} for t in steps],
        "opinions": [{"name": s["activity_name"] or s["activity_id"], "department": names.department(s["department"]),
                      "opinions": [{"kind": OPINION_KINDS.get(o["kind"], o["kind"]),
                                    "decision": DECISIONS.get(o["decision"] or "", o["decision"] or ""),
                                    "opinion": o["opinion"], "actor": o["actor"] or "—", "at": _iso_local(o["at"]),
                                    "signature": (o["signature"] or {}).get("url")} for o in s["opinions"]]}
                     for s in approval_records.opinions(session, instance_id)["steps"]],
        "materials": [{**materials.describe(m), "uploaded": local_time(m.uploaded_at)} for m in files],
    })
    return record
