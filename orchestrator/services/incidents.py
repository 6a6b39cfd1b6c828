"""Incidents: a timer or job that failed and needs a person."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from orchestrator.errors import LianbanError
from orchestrator.models import Incident, ProcessInstance, Timer


def record_timer_incident(session: Session, timer_id: str, error: LianbanError) -> Incident | None:
    """Park the timer (suspended) and open an incident naming the element and the reason."""
    timer = session.get(Timer, timer_id)
    if timer is None:
        return None
    instance = session.get(ProcessInstance, timer.instance_id)
    existing = session.scalar(select(Incident).where(Incident.configuration == timer_id,
                                                     Incident.resolved_at.is_(None)))
    session.execute(update(Timer).where(Timer.id == timer_id).values(suspended=True))
    if existing is not None:
        return existing
    incident = Incident(
        id=str(uuid.uuid4()), instance_id=timer.instance_id,
        definition_id=instance.definition_id if instance else "", activity_id=timer.activity_id,
        incident_type="failedTimer", configuration=timer_id,
        message=f"{error.message_zh} / {error.message_en}", created_at=datetime.now(UTC),
    )
    session.add(incident)
    return incident
