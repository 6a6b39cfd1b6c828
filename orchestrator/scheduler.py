"""The embedded scheduler: fire due timers, run connector jobs, each in its own transaction under its case's lock."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.errors import LianbanError
from orchestrator.services import cases, clock, connector_jobs
from orchestrator.services.incidents import record_timer_incident

log = logging.getLogger(__name__)


def fire_due_timers(factory: sessionmaker[Session], now: datetime, batch: int = 100) -> int:
    """Fire every timer due at `now`; a failing timer becomes an incident instead of blocking the rest."""
    fired = 0
    with transaction(factory) as session:
        due = cases.due_timer_ids(session, now, batch)
    for timer_id in due:
        try:
            with transaction(factory) as session:
                if cases.fire_timer(session, timer_id):
                    fired += 1
        except LianbanError as error:
            log.warning("timer %s failed: %s", timer_id, error.message_en)
            with transaction(factory) as session:
                record_timer_incident(session, timer_id, error)
    return fired


def run_forever(factory: sessionmaker[Session], interval_s: float, stop: threading.Event | None = None) -> None:
    """Each round fires due timers and runs due connector jobs (the embedded mode has no broker).

    A commit that creates connector jobs wakes the loop early (connectors.wake).
    """
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            fire_due_timers(factory, datetime.now(UTC))
        except Exception:  # the loop must survive a database hiccup; the next round retries
            log.exception("scheduler round failed")
        try:
            clock.scan(factory, datetime.now(UTC))  # statutory clocks: warning / overdue transitions
        except Exception:
            log.exception("clock scan failed")
        try:
            connector_jobs.sweep(factory)
        except Exception:
            log.exception("connector sweep failed")
        connector_jobs.wake.wait(interval_s)
        connector_jobs.wake.clear()


def start_in_thread(factory: sessionmaker[Session], interval_s: float) -> threading.Event:
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(factory, interval_s, stop), name="lianban-scheduler",
                              daemon=True)
    thread.start()
    return stop


__all__ = ["fire_due_timers", "run_forever", "start_in_thread", "time"]
