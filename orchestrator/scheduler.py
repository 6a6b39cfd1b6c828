"""The scheduler: fire due timers, scan time limits, run connector jobs.

Timers are claimed in batches: one statement finds due timers and locks their cases
(`FOR UPDATE … SKIP LOCKED` on PostgreSQL, so several threads or processes never claim the same case),
then each timer fires under that lock in the batch's transaction; if one fails, the batch is rolled back
and fired one transaction per timer, so that the failing one becomes an incident and the others fire.
A fired timer's row is deleted in the same transaction and its firing recorded with its lateness
(`timer_firing`): after any crash or restart every pending timer fires exactly once. The clock is
`orchestrator.timesource`, so tests control it.

The claim reads the earliest due timers through the partial index `ix_timer_pending` (its predicate is the
models' `TIMER_PENDING`, the very expression the queries use) and finds their cases by primary key, so a
claim costs the same with 100 or 100,000 pending timers (`tests/service/test_timer_scheduler.py` checks the
plan; `benchmarks/timers.py` measures it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, any_, bindparam, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import timesource
from orchestrator.db import transaction
from orchestrator.errors import LianbanError
from orchestrator.models import TIMER_PENDING, ProcessInstance, Timer, TimerFiring
from orchestrator.services import calendar_alerts, case_store, cases, clock, connector_jobs, step_limits, timer_alarm
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
             .where(TIMER_PENDING, _TIMERS.c.due_at <= bindparam("now"), _CASES.c.state == "ACTIVE"))
    if one:  # a single timer: wait for its case's lock
        return query.where(_TIMERS.c.id == bindparam("timer_id")).with_for_update(of=_CASES) if postgres else query
    # The earliest due timers come from the partial index on their own (the subquery's LIMIT keeps the planner
    # from joining first); their cases are then found by primary key. On PostgreSQL the candidates are an
    # ARRAY(...) init plan: joined as a subquery, a planner without fresh statistics (a bulk load, a new table)
    # hashed every active case per claim. The scan is wider than the batch so that the SKIP LOCKED of a second
    # thread finds unlocked cases past the first thread's batch.
    candidates = (select(_TIMERS.c.id).where(TIMER_PENDING, _TIMERS.c.due_at <= bindparam("now"))
                  .order_by(_TIMERS.c.due_at).limit(bindparam("scan")))
    due = (_TIMERS.c.id == any_(func.array(candidates.scalar_subquery())) if postgres
           else _TIMERS.c.id.in_(candidates.scalar_subquery()))
    query = query.where(due).order_by(_TIMERS.c.due_at).limit(bindparam("batch"))
    # SQLite: the transaction already holds the database's write lock (BEGIN IMMEDIATE).
    return query.with_for_update(of=_CASES, skip_locked=True) if postgres else query


_CLAIM = {True: _claim_statement(True), False: _claim_statement(False)}
_CLAIM_ONE = {True: _claim_statement(True, one=True), False: _claim_statement(False, one=True)}
_NEXT_DUE = select(func.min(_TIMERS.c.due_at)).where(TIMER_PENDING)
SCAN_FACTOR = 4  # candidates read per claim, in batches


@dataclass
class BatchResult:
    claimed: int = 0
    fired: int = 0
    failed: int = 0


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _is_postgres_factory(factory: sessionmaker[Session]) -> bool:
    return bool(factory.kw["bind"].dialect.name == "postgresql")


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
            rows = session.execute(_CLAIM[_is_postgres(session)],
                                   {"now": moment, "batch": batch, "scan": batch * SCAN_FACTOR}).all()
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


def _more_due(result: BatchResult, batch: int) -> bool:
    # a batch of timers that were not due on the engine's clock must not spin the loop
    return result.claimed >= batch and result.fired + result.failed > 0


def fire_due_timers(factory: sessionmaker[Session], now: datetime | None = None, batch: int = BATCH_SIZE,
                    threads: int = 1) -> int:
    """Fire every timer due at `now` (default: the time source's now), in batches, on up to `threads` threads.

    The first batch runs on the calling thread; more threads start only when it was full (a backlog), and only
    on PostgreSQL (SKIP LOCKED), since SQLite serialises writers anyway. A round with one or no due timer, the
    steady case, is then one claim and no thread start.
    """

    def drain() -> int:
        fired = 0
        while True:
            result = fire_batch(factory, now, batch)
            fired += result.fired
            if not _more_due(result, batch):
                return fired

    first = fire_batch(factory, now, batch)
    if not _more_due(first, batch):
        return first.fired
    if threads <= 1 or not _is_postgres_factory(factory):
        return first.fired + drain()
    totals: list[int] = []

    def work() -> None:
        totals.append(drain())

    helpers = [threading.Thread(target=work, name=f"lianban-timers-{n}") for n in range(1, threads)]
    for helper in helpers:
        helper.start()
    fired = first.fired + drain()
    for helper in helpers:
        helper.join()
    return fired + sum(totals)


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


Scans = Callable[[sessionmaker[Session]], None]


def _run_scans(factory: sessionmaker[Session], rounds: list[tuple[str, Callable[[], int]]]) -> None:
    for name, work in rounds:
        try:
            work()
        except Exception:  # the loop must survive a database hiccup; the next round retries
            log.exception("scheduler %s failed", name)


def _scan_limits_and_jobs(factory: sessionmaker[Session]) -> None:
    """The embedded mode's periodic work: clocks, step limits, connector jobs (run here), the calendar horizon."""
    _run_scans(factory, [
        ("clock scan", lambda: clock.scan(factory, timesource.now())),
        ("step limits", lambda: step_limits.scan(factory, timesource.now())),
        ("connector sweep", lambda: connector_jobs.sweep(factory)),
        ("calendar horizon", lambda: calendar_alerts.check(factory, timesource.now())),
    ])


def _fire_timers(factory: sessionmaker[Session], threads: int) -> None:
    try:
        fire_due_timers(factory, threads=threads)
    except Exception:  # the loop must survive a database hiccup; the next round retries
        log.exception("scheduler timers failed")


def run_round(factory: sessionmaker[Session], threads: int = 1) -> None:
    """One round: timers, statutory clocks, step limits, connector jobs; each survives the others' failures."""
    _fire_timers(factory, threads)
    _scan_limits_and_jobs(factory)


def run_forever(factory: sessionmaker[Session], interval_s: float, stop: threading.Event | None = None,
                threads: int = 1, scans: Scans = _scan_limits_and_jobs) -> None:
    """Fire timers as they fall due; scan limits and run due connector jobs every `interval_s`.

    The loop sleeps until the next timer is due or the next scan, whichever is first. A commit that creates
    connector jobs, or a timer due before the planned wake-up (`timer_alarm`), wakes it early and runs a
    whole round. The scans do not run on a due timer's wake-up: with timers falling due every few
    milliseconds they would cost more than the firings. `scans` is the periodic work (the Celery leader
    leaves connector jobs and clock scans to their own tasks).
    """
    stop = stop or threading.Event()
    next_scan = 0.0
    try:
        while not stop.is_set():
            _fire_timers(factory, threads)
            if time.monotonic() >= next_scan:
                scans(factory)
                next_scan = time.monotonic() + interval_s
            timer_alarm.looking()
            try:
                wait = _wait_seconds(factory, max(0.0, next_scan - time.monotonic()))
            except Exception:
                log.exception("scheduler next-due query failed")
                wait = interval_s
            timer_alarm.plan(timesource.now() + timedelta(seconds=wait))
            if connector_jobs.wake.wait(wait + 0.001):  # just past the due moment: the engine compares strictly
                connector_jobs.wake.clear()
                next_scan = 0.0  # woken by a commit: new connector jobs run now, not at the next scan
    finally:
        timer_alarm.plan(None)


def start_in_thread(factory: sessionmaker[Session], interval_s: float) -> threading.Event:
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(factory, interval_s, stop), name="lianban-scheduler",
                              daemon=True)
    thread.start()
    return stop


__all__ = ["BATCH_SIZE", "BatchResult", "Scans", "fire_batch", "fire_due_timers", "next_due", "run_forever",
           "run_round", "start_in_thread", "timedelta"]
