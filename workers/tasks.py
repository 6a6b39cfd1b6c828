"""Celery tasks: thin, retry-safe, ids in; the services do the work under the case lock."""

from __future__ import annotations

from datetime import UTC, datetime

from celery import shared_task
from flask import current_app


@shared_task(name="lianban.timers.fire_due", acks_late=True, time_limit=120)  # type: ignore[untyped-decorator]
def fire_due_timers() -> int:
    """Fire every timer that is due; each fires under its case's lock, exactly once."""
    from orchestrator.scheduler import fire_due_timers as fire

    return fire(current_app.extensions["lianban.sessions"], datetime.now(UTC))
