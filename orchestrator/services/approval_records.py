"""The official record of a case (审批意见): every decision, send-back, retract and transfer, in order.

Opinions are grouped per step and department in the order the steps were first acted on; a
signature image is kept with its SHA-256 so that the record can be checked later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.errors import InvalidRequestError, NotFoundError
from orchestrator.models import ApprovalOpinion, HumanTask, ProcessInstance
from orchestrator.services.step_departments import department_names, own_department
from orchestrator.workcalendar import SHANGHAI

SIGNATURE_TYPES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
MAX_SIGNATURE_BYTES = 512 * 1024
PHRASES_PROPERTY = "opinion.phrases"
DEFAULT_PHRASES = ["同意。", "经审查，材料齐全，符合法定条件，准予许可。", "不同意，理由如下：",
                   "请补正材料后重新提交。"]


def decode_signature(raw: Any) -> tuple[str, bytes] | None:
    """`{"type": "image/png", "data": "<base64>"}` → (type, bytes); checked by magic bytes and size."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str) or not isinstance(raw.get("data"), str):
        raise InvalidRequestError("签名应为 {type, data}（data 为 Base64 编码的图片）",
                                  "signature must be an object {type, data}", field="signature")
    kind = raw["type"]
    if kind not in SIGNATURE_TYPES:
        raise InvalidRequestError("签名图片只支持 PNG 或 JPEG", "signature.type must be image/png or image/jpeg",
                                  field="signature.type")
    if len(raw["data"]) > MAX_SIGNATURE_BYTES * 4 // 3 + 4:
        raise InvalidRequestError("签名图片不能超过 512 KB", "signature is larger than 512 KB", field="signature.data")
    try:
        data = base64.b64decode(raw["data"], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError("签名图片不是有效的 Base64", "signature.data is not valid base64",
                                  field="signature.data") from None
    if not data.startswith(SIGNATURE_TYPES[kind]):
        raise InvalidRequestError("签名图片内容与类型不符", "signature.data does not match its type",
                                  field="signature.data")
    return kind, data


def add_opinion(session: Session, instance_id: str, task: HumanTask, actor: str | None, *, kind: str,
                decision: str | None, opinion: str, signature: tuple[str, bytes] | None = None) -> ApprovalOpinion:
    department = own_department(task.properties, task.candidate_groups or [])
    record = ApprovalOpinion(
        instance_id=instance_id, task_id=task.id, activity_id=task.activity_id, activity_name=task.name,
        department=str(department) if department else None, actor=actor, kind=kind, decision=decision,
        opinion=opinion, signature_type=signature[0] if signature else None,
        signature=signature[1] if signature else None,
        signature_sha256=hashlib.sha256(signature[1]).hexdigest() if signature else None,
        created_at=datetime.now(UTC),
    )
    session.add(record)
    session.flush()
    return record


def opinions(session: Session, instance_id: str) -> dict[str, Any]:
    """The official record: steps in the order they were first acted on, each with its departments' opinions."""
    if session.get(ProcessInstance, instance_id) is None:
        raise NotFoundError(f"办件不存在：{instance_id}", f"No process instance with id {instance_id}", field="id")
    rows = session.scalars(select(ApprovalOpinion).where(ApprovalOpinion.instance_id == instance_id)
                           .order_by(ApprovalOpinion.created_at, ApprovalOpinion.id))
    steps: dict[tuple[str, str | None], dict[str, Any]] = {}
    for row in rows:
        key = (row.activity_id, row.department)
        step = steps.setdefault(key, {"activity_id": row.activity_id, "activity_name": row.activity_name,
                                      "department": row.department, "opinions": []})
        step["opinions"].append({
            "id": row.id, "task_id": row.task_id, "kind": row.kind, "decision": row.decision,
            "opinion": row.opinion, "actor": row.actor, "at": row.created_at.astimezone(SHANGHAI).isoformat(),
            "signature": {"type": row.signature_type, "sha256": row.signature_sha256,
                          "url": f"/api/opinions/{row.id}/signature"} if row.signature_type else None,
        })
    names = department_names(session, (s["department"] for s in steps.values()))
    for step in steps.values():  # the department's name for people, beside the code that lines up with the lists
        step["department_name"] = names.get(step["department"], step["department"])
    return {"instance_id": instance_id, "steps": list(steps.values())}


def signature(session: Session, opinion_id: int) -> tuple[str, bytes]:
    row = session.get(ApprovalOpinion, opinion_id)
    if row is None or row.signature is None or row.signature_type is None:
        raise NotFoundError("没有该签名", f"No signature for opinion {opinion_id}", field="id")
    return row.signature_type, row.signature


def phrases_for(task: HumanTask) -> list[str]:
    """Stock phrases of a step: the diagram's `opinion.phrases` (separated by |), else the defaults."""
    raw = (task.properties or {}).get(PHRASES_PROPERTY)
    if raw:
        return [p.strip() for p in str(raw).split("|") if p.strip()]
    return list(DEFAULT_PHRASES)


def open_task(session: Session, task_id: str) -> HumanTask:
    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFoundError(f"任务不存在：{task_id}", f"No task with id {task_id}", field="id")
    return row
