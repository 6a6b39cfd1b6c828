"""On the Celery path one worker at a time runs the scheduler loop; when it dies another takes over.

Two real `celery worker` processes (prefork pool, no beat: the leader alone fires) on a real broker and the
test database. Each timer fires exactly once; `kill -9` of the leader hands the loop to the other worker.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import timesource
from orchestrator.db import transaction
from orchestrator.models import AuditEvent, HumanTask, Timer, TimerFiring
from orchestrator.services import cases
from orchestrator.services.definitions import deploy
from tests.worker.processes import ROOT, stop, wait_for
from tests.worker.test_celery_timers import TIMER_DIAGRAM
from workers.tasks import fire_due_timers

LEADER = re.compile(r"lianban scheduler: leader is pid (\d+)")


class Worker:
    """A `celery worker` whose log is kept, to tell which one leads."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "workers.worker", "worker", "--pool=prefork",
                 "--concurrency=1", "--loglevel=WARNING", "--without-gossip", "--without-mingle",
                 "--without-heartbeat"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def led(self) -> bool:
        return str(self.process.pid) in LEADER.findall(self.log.read_text(encoding="utf-8", errors="replace"))

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture()
def start_workers(tmp_path: Path, database_url: str) -> Iterator[Callable[..., list[Worker]]]:
    broker = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
    started: list[Worker] = []

    def start(count: int, **settings: str) -> list[Worker]:
        env = dict(os.environ, DATABASE_URL=database_url, LIANBAN_SEED_ON_START="0", CELERY_BROKER_URL=broker,
                   LIANBAN_BROKER_DIR=str(tmp_path / "broker"), **settings)
        started.extend(Worker(env, tmp_path / f"worker-{len(started) + 1}.log") for _ in range(count))
        return started

    yield start
    for worker in started:
        stop(worker.process)
    for worker in started:
        if worker.process.returncode not in (0, -signal.SIGKILL, None):
            print(worker.log.read_text(encoding="utf-8", errors="replace"))


def start_waiting_cases(run_in_tx: Any, count: int) -> list[str]:
    return [run_in_tx(lambda s: cases.start_case(s, key="wait_then_review")).id for _ in range(count)]


def all_reviewing(sessions: sessionmaker[Session], instance_ids: list[str]) -> bool:
    with transaction(sessions) as session:
        return session.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.instance_id.in_(instance_ids), HumanTask.activity_id == "review")) == len(instance_ids)


def assert_fired_once_each(sessions: sessionmaker[Session], instance_ids: list[str]) -> None:
    with transaction(sessions) as session:
        fired = session.execute(select(AuditEvent.instance_id, func.count()).where(
            AuditEvent.instance_id.in_(instance_ids), AuditEvent.event_type == "timer.fired")
            .group_by(AuditEvent.instance_id)).all()
        assert sorted(fired) == sorted((instance_id, 1) for instance_id in instance_ids)
        assert session.scalar(select(func.count()).select_from(TimerFiring).where(
            TimerFiring.instance_id.in_(instance_ids))) == len(instance_ids)
        assert session.scalar(select(func.count()).select_from(Timer).where(Timer.instance_id.in_(instance_ids))) == 0


def test_one_of_two_workers_fires_each_timer_once_and_the_other_takes_over_when_it_is_killed(
    sessions: sessionmaker[Session], run_in_tx: Any, start_workers: Callable[..., list[Worker]],
) -> None:
    run_in_tx(deploy, {"wait.bpmn": TIMER_DIAGRAM})
    workers = start_workers(2)
    wait_for(lambda: any(w.led() for w in workers), 60, "a worker to take the scheduler lease")
    wait_for(lambda: sum(w.led() for w in workers) == 1 and all(w.process.poll() is None for w in workers), 5,
             "exactly one leader")
    leader, other = workers if workers[0].led() else workers[::-1]

    first = start_waiting_cases(run_in_tx, 6)
    wait_for(lambda: all_reviewing(sessions, first), 60, "the leader to fire the first timers")
    assert_fired_once_each(sessions, first)
    assert not other.led()

    leader.kill()  # kill -9 the worker and its pool: its lock's connection (or file lock) goes with it
    second = start_waiting_cases(run_in_tx, 6)
    wait_for(lambda: all_reviewing(sessions, second), 90, "the other worker to take over and fire")
    assert other.led() and other.process.poll() is None
    assert_fired_once_each(sessions, first + second)


def test_a_timer_committed_in_another_process_wakes_the_sleeping_leader(
    sessions: sessionmaker[Session], run_in_tx: Any, start_workers: Callable[..., list[Worker]],
) -> None:
    """With a 10-minute scheduler period and nothing pending, the leader sleeps; this process's commit of a PT1S
    timer is announced to it (NOTIFY on PostgreSQL, a datagram on SQLite), so the timer does not wait 10 minutes."""
    run_in_tx(deploy, {"wait.bpmn": TIMER_DIAGRAM})
    (leader,) = start_workers(1, LIANBAN_SCHEDULER_INTERVAL_S="600")
    wait_for(leader.led, 60, "the worker to take the scheduler lease")
    time.sleep(3)  # its loop has found nothing due and sleeps for the period
    instance_ids = start_waiting_cases(run_in_tx, 1)
    wait_for(lambda: all_reviewing(sessions, instance_ids), 120, "the announced timer to fire")
    assert_fired_once_each(sessions, instance_ids)


def test_beats_fallback_fires_only_timers_the_leader_has_left_late(
    app: Flask, sessions: sessionmaker[Session], run_in_tx: Any,
) -> None:
    run_in_tx(deploy, {"wait.bpmn": TIMER_DIAGRAM})
    accepted = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    timesource.set_now(accepted)
    instance_ids = start_waiting_cases(run_in_tx, 1)  # its timer is due one second later
    with app.app_context():
        timesource.set_now(accepted + timedelta(seconds=4))  # 3 s late: the leader's business
        assert fire_due_timers.run(grace_s=5.0) == 0
        timesource.set_now(accepted + timedelta(seconds=7))  # 6 s late: no leader, the fallback fires it
        assert fire_due_timers.run(grace_s=5.0) == 1
    assert_fired_once_each(sessions, instance_ids)
