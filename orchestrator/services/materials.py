"""Materials of a case or of one of its tasks: checked uploads, kept in storage, downloaded by those allowed.

Each upload and each download is an audit event on the case's chain (materials carry personal data).
The file is written before the row; if the transaction then rolls back, the file is removed again.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from orchestrator.config import PROJECT_ROOT
from orchestrator.errors import ConflictError, LianbanError, NotFoundError
from orchestrator.materials import MaterialRules, check_file
from orchestrator.materials.storage import LocalStorage
from orchestrator.models import Material
from orchestrator.services import case_store
from orchestrator.services.audit import record_event
from orchestrator.services.cases import ACTIVE, SUSPENDED, lock_case
from orchestrator.services.forms import open_task
from orchestrator.workcalendar import SHANGHAI


@dataclass
class MaterialSettings:
    """Where the rules file and the stored files are (set by the app factory from configuration)."""

    rules_path: Path = PROJECT_ROOT / "materials.json"
    storage_root: Path = PROJECT_ROOT / "var" / "materials"
    _rules: tuple[tuple[int, int], MaterialRules] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def rules(self) -> MaterialRules:
        stat = self.rules_path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._rules is None or self._rules[0] != stamp:
                self._rules = (stamp, MaterialRules.from_file(self.rules_path))
            return self._rules[1]

    def storage(self) -> LocalStorage:
        return LocalStorage(self.storage_root)


settings = MaterialSettings()


def upload(session: Session, *, kind: str | None, filename: str | None, content: bytes, actor: str | None,
           instance_id: str | None = None, task_id: str | None = None) -> Material:
    """Check and store one file for a case (or for an open task of it)."""
    if task_id is not None:
        instance_id = open_task(session, task_id).instance_id
    assert instance_id is not None
    instance = lock_case(session, instance_id)
    if instance.state not in (ACTIVE, SUSPENDED):
        raise ConflictError("办件已结束，不能再上传材料", "The case has ended; no more materials",
                            code="instance.ended")
    rules = settings.rules()
    material_kind = rules.kind(kind)
    checked = check_file(rules, material_kind, filename, content)
    material = Material(
        id=str(uuid.uuid4()), instance_id=instance.id, task_id=task_id, kind=material_kind.key,
        filename=checked.filename, content_type=checked.file_type.content_type, size=len(content),
        sha256=hashlib.sha256(content).hexdigest(), uploaded_by=actor, uploaded_at=datetime.now(UTC),
    )
    material.storage_key = f"{instance.id}/{material.id}"
    storage = settings.storage()
    storage.put(material.storage_key, content)
    event.listen(session, "after_rollback", lambda _s: storage.delete(material.storage_key), once=True)
    session.add(material)
    record_event(session, instance, "material.uploaded", actor, {
        "material_id": material.id, "task_id": task_id, "kind": material.kind, "filename": material.filename,
        "size": material.size, "sha256": material.sha256})
    case_store.save(session, instance)
    return material


def list_materials(session: Session, instance_id: str) -> list[dict[str, Any]]:
    if case_store.lock(session, instance_id) is None:
        raise NotFoundError(f"办件不存在：{instance_id}", f"No process instance with id {instance_id}", field="id")
    rows = session.scalars(select(Material).where(Material.instance_id == instance_id)
                           .order_by(Material.uploaded_at, Material.id))
    return [describe(m) for m in rows]


def describe(material: Material) -> dict[str, Any]:
    kinds = settings.rules().kinds
    return {
        "id": material.id, "instance_id": material.instance_id, "task_id": material.task_id,
        "kind": material.kind, "kind_name": kinds[material.kind].name if material.kind in kinds else material.kind,
        "filename": material.filename, "content_type": material.content_type, "size": material.size,
        "sha256": material.sha256, "uploaded_by": material.uploaded_by,
        "uploaded_at": material.uploaded_at.astimezone(SHANGHAI).isoformat(),
        "download": f"/api/materials/{material.id}",
    }


def get_material(session: Session, material_id: str) -> Material:
    material = session.get(Material, material_id)
    if material is None:
        raise NotFoundError(f"材料不存在：{material_id}", f"No material with id {material_id}", field="id")
    return material


def download(session: Session, material_id: str, actor: str | None) -> tuple[Material, bytes]:
    """The stored bytes, checked against the checksum taken at upload; the download is audited."""
    material = get_material(session, material_id)
    try:
        content = settings.storage().get(material.storage_key)
    except OSError:
        content = b""
    if hashlib.sha256(content).hexdigest() != material.sha256:
        raise LianbanError("材料文件缺失或已被改动（校验值不符），请联系管理员", "Stored file is missing or altered",
                           code="material.corrupt", status=500)
    instance = lock_case(session, material.instance_id)
    record_event(session, instance, "material.downloaded", actor,
                 {"material_id": material.id, "filename": material.filename})
    case_store.save(session, instance)
    return material, content
