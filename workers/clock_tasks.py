"""Celery task of the time limits: `lianban.clock.scan` moves due case clocks and steps to WARNING / OVERDUE.

`workers.worker` adds it to the beat schedule every `LIANBAN_CLOCK_SCAN_INTERVAL_S` (default 60 s);
each transition is written once, under the case's lock.
"""

from __future__ import annotations

import os
from typing import Any

from celery import shared_task
from flask import current_app

from orchestrator import timesource

BEAT_ENTRY: dict[str, Any] = {"task": "lianban.clock.scan",
                              "schedule": float(os.environ.get("LIANBAN_CLOCK_SCAN_INTERVAL_S", "60.0"))}


@shared_task(name="lianban.clock.scan", acks_late=True,  # type: ignore[untyped-decorator]
             time_limit=120, soft_time_limit=100)
def scan_clocks() -> int:
    """Scan the statutory clocks and the step limits for warning (预警) and overdue (超期) transitions, escalating
    overdue ones to 督办; never approves anything."""
    from orchestrator.services import clock, step_limits

    sessions = current_app.extensions["lianban.sessions"]
    return clock.scan(sessions, timesource.now()) + step_limits.scan(sessions, timesource.now())
