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
    for warning in result.warnings:
        log.warning("%s (%s line %s) [%s]", warning["message_zh"], warning["filename"], warning["line"],
                    warning["code"])
    return len(result.created), len(result.unchanged)
