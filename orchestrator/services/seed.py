"""Deploy the bundles in bpmn/ at start-up; identical diagrams keep their version."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.orm import Session

from orchestrator.services.definitions import deploy

log = logging.getLogger(__name__)


def seed_bundles(session: Session, directory: Path) -> tuple[int, int]:
    files = sorted(p for p in directory.glob("*.bpmn") if p.is_file())
    if not files:
        return 0, 0
    result = deploy(session, {p.name: p.read_bytes() for p in files}, name="bundles", source="seed", actor="seed")
    if result.warnings:  # one line: before the departments are registered every step would warn
        unknown = sorted({name for w in result.warnings for name in w["departments"]})
        first = result.warnings[0]
        log.warning("%s 个环节的 department 属性不是已登记的部门：%s（例如 %s 第 %s 行 %s）[bpmn.department_unknown]",
                    len(result.warnings), "、".join(unknown), first["filename"], first["line"], first["element_id"])
    return len(result.created), len(result.unchanged)
