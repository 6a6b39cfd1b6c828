"""The timer scheduler on the controllable clock: due timers fire once, in batches, with their lateness recorded,
across threads (SKIP LOCKED on PostgreSQL) and across a killed and restarted scheduler process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import scheduler, timesource
from orchestrator.db import normalise_url, transaction
from orchestrator.models import AuditEvent, HumanTask, Incident, Timer, TimerFiring
from orchestrator.scheduler import fire_due_timers
from orchestrator.services import cases, connectors, timer_alarm
from orchestrator.services.definitions import deploy

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 10, 12, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai



def wait_then(process_id: str, duration: str, next_element: str) -> bytes:
    """start → timer catch (`duration`) → `next_element` (id "after") → end."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait" />
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:timerEventDefinition><bpmn:timeDuration>{duration}</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="after" />
    {next_element}
    <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
""".encode()


WAIT_AN_HOUR = wait_then("wait_an_hour", "PT1H", '<bpmn:userTask id="after" />')
WAIT_THEN_FAIL = wait_then("wait_then_fail", "PT30M",
                           '<bpmn:scriptTask id="after" scriptFormat="python"><bpmn:script>x = 1 / 0</bpmn:script>'
                           "</bpmn:scriptTask>")


def start_cases(sessions: sessionmaker[Session], key: str, count: int) -> list[str]:
    with transaction(sessions) as session:
        return [cases.start_case(session, key=key).id for _ in range(count)]


def count(sessions: sessionmaker[Session], query: Any) -> int:
    with transaction(sessions) as session:
        return int(session.scalar(query) or 0)


def test_a_timer_fires_once_the_controlled_clock_passes_its_due_time_and_its_lateness_is_recorded(
        sessions: sessionmaker[Session], run_in_tx: Any) -> None:
    run_in_tx(deploy, {"wait.bpmn": WAIT_AN_HOUR})
    timesource.set_now(T0)
    [instance_id] = start_cases(sessions, "wait_an_hour", 1)
    with transaction(sessions) as session:
        timer = session.scalars(select(Timer)).one()
        assert timer.due_at == T0 + timedelta(hours=1)

    timesource.set_now(T0 + timedelta(minutes=59, seconds=59))
    assert fire_due_timers(sessions) == 0
    timesource.set_now(T0 + timedelta(hours=1))  # due exactly now: the engine fires strictly after its due time
    assert fire_due_timers(sessions) == 0
    timesource.set_now(T0 + timedelta(hours=1, seconds=3))
    assert fire_due_timers(sessions) == 1
    assert fire_due_timers(sessions) == 0

    with transaction(sessions) as session:
        firing = session.scalars(select(TimerFiring)).one()
        assert (firing.instance_id, firing.activity_id) == (instance_id, "wait")
        assert firing.due_at == T0 + timedelta(hours=1)
        assert firing.fired_at == T0 + timedelta(hours=1, seconds=3)
        assert firing.lateness_s == pytest.approx(3.0)
        assert session.scalar(select(HumanTask.activity_id).where(HumanTask.instance_id == instance_id)) == "after"
        assert session.scalar(select(func.count()).select_from(Timer)) == 0


def test_due_timers_fire_once_each_in_batches_across_threads(sessions: sessionmaker[Session], run_in_tx: Any) -> None:
    run_in_tx(deploy, {"wait.bpmn": WAIT_AN_HOUR})
    timesource.set_now(T0)
    instance_ids = start_cases(sessions, "wait_an_hour", 120)
    timesource.set_now(T0 + timedelta(hours=2))

    assert fire_due_timers(sessions, batch=50, threads=3) == 120
    assert fire_due_timers(sessions, batch=50, threads=3) == 0

    assert count(sessions, select(func.count()).select_from(TimerFiring)) == 120
    assert count(sessions, select(func.count(func.distinct(TimerFiring.timer_id)))) == 120
    assert count(sessions, select(func.count(func.distinct(AuditEvent.instance_id)))
                 .where(AuditEvent.event_type == "timer.fired")) == 120
    assert count(sessions, select(func.count()).select_from(AuditEvent)
                 .where(AuditEvent.event_type == "timer.fired")) == 120
    assert count(sessions, select(func.count()).select_from(HumanTask)
                 .where(HumanTask.instance_id.in_(instance_ids), HumanTask.activity_id == "after")) == 120


def test_a_failing_timer_becomes_an_incident_and_the_rest_of_its_batch_still_fires(
        sessions: sessionmaker[Session], run_in_tx: Any) -> None:
    run_in_tx(deploy, {"wait.bpmn": WAIT_AN_HOUR, "fail.bpmn": WAIT_THEN_FAIL})
    timesource.set_now(T0)
    good = start_cases(sessions, "wait_an_hour", 3)
    [bad] = start_cases(sessions, "wait_then_fail", 1)
    timesource.set_now(T0 + timedelta(hours=2))

    assert fire_due_timers(sessions) == 3
    with transaction(sessions) as session:
        incident = session.scalars(select(Incident)).one()
        assert (incident.instance_id, incident.activity_id, incident.incident_type) == (bad, "wait", "failedTimer")
        parked = session.scalars(select(Timer)).one()
        assert parked.instance_id == bad and parked.suspended  # parked, not retried every round
        assert {r for r in session.scalars(select(TimerFiring.instance_id))} == set(good)
    assert fire_due_timers(sessions) == 0


@pytest.mark.timeout(240)
def test_after_the_scheduler_is_killed_and_restarted_every_pending_timer_fires_once(
        sessions: sessionmaker[Session], run_in_tx: Any, database_url: str) -> None:
    run_in_tx(deploy, {"wait.bpmn": WAIT_AN_HOUR})
    timesource.set_now(T0)
    total = 300
    start_cases(sessions, "wait_an_hour", total)
    env = dict(os.environ, DATABASE_URL=database_url, LIANBAN_SEED_ON_START="0", CELERY_BROKER_URL="memory://",
               LIANBAN_NOW=(T0 + timedelta(hours=2)).isoformat(), LIANBAN_SCHEDULER_INTERVAL_S="0.2")
    fired = select(func.count()).select_from(TimerFiring)
    # A plain reader: the app's SQLite sessions begin IMMEDIATE and would queue behind the scheduler's writes.
    reader = create_engine(normalise_url(database_url))

    def progress(query: Any) -> int:
        with reader.connect() as connection:
            return int(connection.scalar(query) or 0)

    def scheduler() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "orchestrator", "timers", "--loop"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    first = scheduler()
    try:
        while progress(fired) == 0:
            assert first.poll() is None, "the scheduler exited"
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)  # mid-run: its open batch transaction is lost with it
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    before_restart = progress(fired)
    assert 0 < before_restart < total

    second = scheduler()
    try:
        while progress(select(func.count()).select_from(Timer)) > 0:
            assert second.poll() is None, "the restarted scheduler exited"
            time.sleep(0.1)
    finally:
        second.kill()
        second.wait(timeout=30)
        reader.dispose()

    assert count(sessions, fired) == total
    assert count(sessions, select(func.count(func.distinct(TimerFiring.timer_id)))) == total
    assert count(sessions, select(func.count()).select_from(AuditEvent)
                 .where(AuditEvent.event_type == "timer.fired")) == total
    assert count(sessions, select(func.count()).select_from(HumanTask)
                 .where(HumanTask.activity_id == "after")) == total


def _plan(session: Session, statement: Any, params: dict[str, Any]) -> str:
    """The database's own plan for a statement, as text (EXPLAIN on PostgreSQL, EXPLAIN QUERY PLAN on SQLite)."""
    compiled = statement.compile(dialect=session.get_bind().dialect)
    values = compiled.construct_params(params)
    if session.get_bind().dialect.name == "postgresql":
        # Sequential scans off: what is measured is whether the predicate lets the index be used at all,
        # not the planner's choice on a near-empty test table.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        rows = session.connection().exec_driver_sql(f"EXPLAIN {compiled}", values).all()
    else:
        positional = tuple(values[name] for name in compiled.positiontup or ())
        rows = session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", positional).all()
    return "\n".join(str(row[-1]) for row in rows)


def test_the_claim_and_next_due_queries_read_pending_timers_through_the_partial_due_time_index(
        sessions: sessionmaker[Session]) -> None:
    now = T0.isoformat() if sessions.kw["bind"].dialect.name == "sqlite" else T0
    with transaction(sessions) as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        claim = _plan(session, scheduler._CLAIM[postgres], {"now": now, "batch": 50, "scan": 200})
        next_due = _plan(session, scheduler._NEXT_DUE, {})
    for plan in (claim, next_due):
        assert "ix_timer_pending" in plan, plan
        assert "Seq Scan on timer" not in plan and "SCAN timer" not in plan, plan


WAIT_A_SECOND = wait_then("wait_a_second", "PT1S", '<bpmn:userTask id="after" />')


@pytest.mark.timeout(120)
def test_the_sleeping_loop_wakes_for_a_new_timer_due_before_its_planned_wake_up(
        sessions: sessionmaker[Session], run_in_tx: Any) -> None:
    run_in_tx(deploy, {"wait.bpmn": WAIT_A_SECOND})
    stop = threading.Event()
    loop = threading.Thread(target=scheduler.run_forever, args=(sessions, 600.0, stop))  # would sleep 10 minutes
    loop.start()
    try:
        while timer_alarm._planned in (None, timer_alarm._LOOKING):  # the loop is asleep once it planned
            time.sleep(0.01)
        [instance_id] = start_cases(sessions, "wait_a_second", 1)
        deadline = time.monotonic() + 90  # far short of the 600 s the loop had planned to sleep
        while count(sessions, select(func.count()).select_from(TimerFiring)) == 0:
            assert time.monotonic() < deadline, "the loop slept through the new timer"
            time.sleep(0.05)
    finally:
        stop.set()
        connectors.wake.set()
        loop.join(timeout=60)
    assert not loop.is_alive()
    assert timer_alarm._planned is None
    with transaction(sessions) as session:
        assert session.scalar(select(HumanTask.activity_id).where(HumanTask.instance_id == instance_id)) == "after"
