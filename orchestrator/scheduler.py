"""The scheduler: fire due timers, scan time limits, run connector jobs.

Timers are claimed in batches: one statement finds due timers and locks their cases
(`FOR UPDATE … SKIP LOCKED` on PostgreSQL, so several threads or processes never claim the same case),
then each timer fires under that lock in the batch's transaction; if one fails, the batch is rolled back
and fired one transaction per timer, so that the failing one becomes an incident and the others fire.
A fired timer's row is deleted in the same transaction and its firing recorded with its lateness
(`timer_firing`): after any crash or restart every pending timer fires exactly once. The clock is
`orchestrator.timesource`, so tests control it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import timesource
from orchestrator.db import transaction
from orchestrator.errors import LianbanError
from orchestrator.models import ProcessInstance, Timer, TimerFiring
from orchestrator.services import case_store, cases, clock, connector_jobs, step_limits
from orchestrator.services.incidents import record_timer_incident

log = logging.getLogger(__name__)

BATCH_SIZE = 50
_CASES: Table = ProcessInstance.__table__  # type: ignore[assignment]
_TIMERS: Table = Timer.__table__  # type: ignore[assignment]
_FIRINGS: Table = TimerFiring.__table__  # type: ignore[assignment]


def _claim_statement(postgres: bool, one: bool = False) -> Any:
    query = (select(_CASES, _TIMERS.c.id.label("timer_id"), _TIMERS.c.activity_id.label("timer_activity"),
                    _TIMERS.c.due_at.label("timer_due"))
             .join(_TIMERS, _TIMERS.c.instance_id == _CASES.c.id)
             .where(_TIMERS.c.suspended.is_(False), _TIMERS.c.due_at <= bindparam("now"), _CASES.c.state == "ACTIVE"))
    if one:  # a single timer: wait for its case's lock
        return query.where(_TIMERS.c.id == bindparam("timer_id")).with_for_update(of=_CASES) if postgres else query
    query = query.order_by(_TIMERS.c.due_at).limit(bindparam("batch"))
    # SQLite: the transaction already holds the database's write lock (BEGIN IMMEDIATE).
    return query.with_for_update(of=_CASES, skip_locked=True) if postgres else query


_CLAIM = {True: _claim_statement(True), False: _claim_statement(False)}
_CLAIM_ONE = {True: _claim_statement(True, one=True), False: _claim_statement(False, one=True)}
_NEXT_DUE = select(func.min(_TIMERS.c.due_at)).where(_TIMERS.c.suspended.is_(False))


@dataclass
class BatchResult:
    claimed: int = 0
    fired: int = 0
    failed: int = 0


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _fire_rows(session: Session, rows: Sequence[Any]) -> int:
    """Fire claimed timers (their cases locked by the claim) and record each firing with its lateness."""
    firings: list[dict[str, Any]] = []
    records: dict[str, case_store.CaseRecord] = {}
    for row in rows:
        record = records.setdefault(row.id, case_store.from_locked_row(row))  # a case's later timers see its update
        if cases.fire_locked_timer(session, record, row.timer_id, row.timer_activity, row.timer_due):
            fired_at = timesource.now()
            firings.append({"timer_id": row.timer_id, "instance_id": row.id, "activity_id": row.timer_activity,
                            "due_at": row.timer_due, "fired_at": fired_at,
                            "lateness_s": max(0.0, (fired_at - row.timer_due).total_seconds())})
    if firings:
        session.execute(insert(_FIRINGS), firings)
    return len(firings)


def fire_batch(factory: sessionmaker[Session], now: datetime | None = None, batch: int = BATCH_SIZE) -> BatchResult:
    """Claim up to `batch` due timers and fire them in one transaction.

    If one of them fails, the batch's transaction rolls back and its timers are fired one transaction each,
    so that only the failing one becomes an incident (failures are rare: no savepoint round trips per timer).
    """
    result = BatchResult()
    moment = now or timesource.now()
    claimed: list[str] = []
    try:
        with transaction(factory) as session:
            rows = session.execute(_CLAIM[_is_postgres(session)], {"now": moment, "batch": batch}).all()
            claimed = [row.timer_id for row in rows]
            result.claimed = len(rows)
            result.fired = _fire_rows(session, rows)
        return result
    except LianbanError:
        result.fired = 0
    for timer_id in claimed:
        try:
            with transaction(factory) as session:
                rows = session.execute(_CLAIM_ONE[_is_postgres(session)],
                                       {"now": moment, "timer_id": timer_id}).all()
                result.fired += _fire_rows(session, rows)
        except LianbanError as error:  # parked with an incident instead of blocking the rest
            log.warning("timer %s failed: %s", timer_id, error.message_en)
            with transaction(factory) as session:
                record_timer_incident(session, timer_id, error)
            result.failed += 1
    return result


def fire_due_timers(factory: sessionmaker[Session], now: datetime | None = None, batch: int = BATCH_SIZE,
                    threads: int = 1) -> int:
    """Fire every timer due at `now` (default: the time source's now), in batches, on `threads` threads.

    Several threads only help on PostgreSQL (SKIP LOCKED); SQLite serialises writers anyway.
    """

    def drain() -> int:
        fired = 0
        while True:
            result = fire_batch(factory, now, batch)
            fired += result.fired
            # a batch of timers that were not due on the engine's clock must not spin the loop
            if result.claimed < batch or result.fired + result.failed == 0:
                return fired

    with transaction(factory) as session:
        postgres = _is_postgres(session)
    if threads <= 1 or not postgres:
        return drain()
    totals: list[int] = []

    def work() -> None:
        totals.append(drain())

    workers = [threading.Thread(target=work, name=f"lianban-timers-{n}") for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(totals)


def next_due(factory: sessionmaker[Session]) -> datetime | None:
    with transaction(factory) as session:
        due: datetime | None = session.scalar(_NEXT_DUE)
    return due


def _wait_seconds(factory: sessionmaker[Session], interval_s: float) -> float:
    """Sleep until the next timer is due, at most `interval_s` (so lateness stays well under the period)."""
    due = next_due(factory)
    if due is None:
        return interval_s
    return max(0.0, min(interval_s, (due - timesource.now()).total_seconds()))


def run_round(factory: sessionmaker[Session], threads: int = 1) -> None:
    """One round: timers, statutory clocks, step limits, connector jobs; each survives the others' failures."""
    rounds: list[tuple[str, Callable[[], int]]] = [
        ("timers", lambda: fire_due_timers(factory, threads=threads)),
        ("clock scan", lambda: clock.scan(factory, timesource.now())),
        ("step limits", lambda: step_limits.scan(factory, timesource.now())),
        ("connector sweep", lambda: connector_jobs.sweep(factory)),
    ]
    for name, work in rounds:
        try:
            work()
        except Exception:  # the loop must survive a database hiccup; the next round retries
            log.exception("scheduler %s failed", name)


def run_forever(factory: sessionmaker[Session], interval_s: float, stop: threading.Event | None = None,
                threads: int = 1) -> None:
    """Each round fires due timers, scans limits and runs due connector jobs (the embedded mode has no broker).

    A commit that creates connector jobs wakes the loop early (connectors.wake); otherwise it sleeps until
    the next timer is due, at most `interval_s`.
    """
    stop = stop or threading.Event()
    while not stop.is_set():
        run_round(factory, threads)
        try:
            wait = _wait_seconds(factory, interval_s)
        except Exception:
            log.exception("scheduler next-due query failed")
            wait = interval_s
        connector_jobs.wake.wait(wait + 0.001)  # just past the due moment: the engine compares strictly
        connector_jobs.wake.clear()


def start_in_thread(factory: sessionmaker[Session], interval_s: float) -> threading.Event:
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(factory, interval_s, stop), name="lianban-scheduler",
                              daemon=True)
    thread.start()
    return stop


__all__ = ["BATCH_SIZE", "BatchResult", "fire_batch", "fire_due_timers", "next_due", "run_forever", "run_round",
           "start_in_thread", "timedelta"]
