"""Celery task of the statutory clock: `lianban.clock.scan` moves due clocks to WARNING / OVERDUE.

`workers.worker` adds it to the beat schedule every `LIANBAN_CLOCK_SCAN_INTERVAL_S` (default 60 s);
each transition is written once, under the case's lock.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from celery import shared_task
from flask import current_app

BEAT_ENTRY: dict[str, Any] = {"task": "lianban.clock.scan",
                              "schedule": float(os.environ.get("LIANBAN_CLOCK_SCAN_INTERVAL_S", "60.0"))}


@shared_task(name="lianban.clock.scan", acks_late=True,  # type: ignore[untyped-decorator]
             time_limit=120, soft_time_limit=100)
def scan_clocks() -> int:
    """Scan the statutory clocks for warning (预警) and overdue (超期) transitions; never approves anything."""
    from orchestrator.services import clock

    return clock.scan(current_app.extensions["lianban.sessions"], datetime.now(UTC))
