"""Real Celery worker processes run connector jobs against a real fake department; one is SIGKILLed mid-call.

The broker is the one CELERY_BROKER_URL names (CI runs this test on Redis and again on RabbitMQ), else the
folder broker; the database is PostgreSQL when DATABASE_URL is set, else SQLite. On RabbitMQ the test also
reads the broker's own counts: a worker consumes the queue, and the messages the killed worker held
unacknowledged (acks_late) are back in the queue at once, not after a visibility timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.models import Job, ProcessInstance
from orchestrator.services import cases
from orchestrator.services.definitions import deploy
from tests.fake_department import FakeDepartment, write_connectors
from tests.worker.processes import amqp_queue, broker_url, celery, count, is_amqp, rows, stop, wait_for
from workers.celery_app import celery_init_app

ROOT = Path(__file__).resolve().parents[2]
DIAGRAM = ROOT / "tests" / "bpmn" / "connectors" / "licence_connector.bpmn"
CASES = 4


@pytest.fixture()
def slow_samr() -> Iterator[FakeDepartment]:
    # Replies 4 s after applying the effect: a wide window in which the worker holds jobs whose effect is applied.
    department = FakeDepartment("市场监管", latency_s=4.0).start()
    yield department
    department.stop()


@pytest.mark.timeout(600)
def test_a_worker_killed_mid_call_loses_nothing_and_the_department_acts_once(
    app: Flask, database_url: str, sessions: sessionmaker[Session], run_in_tx: Any, tmp_path: Path,
    slow_samr: FakeDepartment, monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = broker_url()
    # Lock = timeout 8 s + margin 0.5 s: a job held by a dead worker is runnable again 8.5 s after its claim.
    connectors = write_connectors(tmp_path / "connectors.json", slow_samr, timeout_s=8, lock_margin_s=0.5)
    env_vars = {"CELERY_BROKER_URL": broker, "LIANBAN_BROKER_DIR": str(tmp_path / "broker"),
                "LIANBAN_CONNECTORS": str(connectors)}
    for name, value in env_vars.items():
        monkeypatch.setenv(name, value)
    env = dict(os.environ, DATABASE_URL=database_url, LIANBAN_SEED_ON_START="0", **env_vars)
    app.config["BROKER_URL"] = broker
    client = celery_init_app(app)  # this process publishes `lianban.jobs.run` after each commit
    client.control.purge()  # messages an earlier run left on a shared broker are not this test's

    run_in_tx(deploy, {DIAGRAM.name: DIAGRAM.read_bytes()})
    first = celery("worker", env, "--pool=threads", "--concurrency=4")
    second: subprocess.Popen[bytes] | None = None
    try:
        if is_amqp(broker):  # the worker really consumes from RabbitMQ
            wait_for(lambda: amqp_queue(broker)[1] == 1, 60, "the worker to consume the RabbitMQ queue")
        with app.app_context():
            ids = [run_in_tx(lambda s, n=n: cases.start_case(
                s, key="licence_connector", variables={"company_name": f"西宁第{n}有限公司"})).id
                for n in range(CASES)]
        locked = select(Job.id, Job.idempotency_key, Job.attempts).where(Job.instance_id.in_(ids),
                                                                         Job.state == "LOCKED")

        def held_with_effect() -> bool:
            """The worker is inside a call: the department applied a job's effect and is still replying."""
            keys = {row.idempotency_key for row in rows(sessions, locked)}
            return bool(keys & set(slow_samr.keys_applied()))

        wait_for(held_with_effect, 120, "the worker to hold a job whose effect is applied")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        # Read after the kill: nothing changes these rows until a lock expires and a new worker claims them.
        held = {row.id: (row.idempotency_key, row.attempts) for row in rows(sessions, locked)}
        called_before_kill = {key for _, key in slow_samr.calls}
        assert held, "the killed worker held no jobs"
        if is_amqp(broker):
            # RabbitMQ puts back what the dead connection held unacknowledged: at least one message per held job.
            wait_for(lambda: amqp_queue(broker)[0] >= len(held), 30,
                     "RabbitMQ to redeliver the killed worker's messages")
            assert amqp_queue(broker)[1] == 0, "the killed worker still consumes"

        second = celery("worker", env, "--pool=threads", "--concurrency=4")
        done = select(func.count()).select_from(ProcessInstance).where(ProcessInstance.id.in_(ids),
                                                                       ProcessInstance.state == "COMPLETED")
        # Celery beat's part, played by the test: sweep every tick (expired locks, never-delivered jobs).
        last_sweep = [0.0]

        def sweep() -> None:
            if time.monotonic() - last_sweep[0] >= 1.0:
                client.send_task("lianban.jobs.sweep")
                last_sweep[0] = time.monotonic()

        wait_for(lambda: count(sessions, done) == CASES, 180, "every case to reach its end", tick=sweep)

        with transaction(sessions) as session:
            jobs = list(session.scalars(select(Job).where(Job.instance_id.in_(ids))))
            numbers = [session.get(ProcessInstance, i).variables["licence_number"]  # type: ignore[union-attr]
                       for i in ids]
        keys = sorted(j.idempotency_key for j in jobs)
        assert all(j.state == "COMPLETED" for j in jobs)
        assert sorted(slow_samr.keys_applied()) == keys  # each effect exactly once
        assert sorted(numbers) == sorted(e.answer[1]["licence_number"] for e in slow_samr.effects)
        called = [key for _, key in slow_samr.calls]
        assert set(called) == set(keys)
        # Every job the dead worker held was claimed again once its lock expired ...
        attempts = {j.id: j.attempts for j in jobs}
        assert all(attempts[job_id] > before for job_id, (_, before) in held.items()), (held, attempts)
        # ... and a held job whose call had reached the department called it again with the same key.
        # (A held job killed before its request left has one call in all: its first one.)
        reached = [key for key, _ in held.values() if key in called_before_kill]
        assert reached, "no held job had reached the department"
        assert all(called.count(key) >= 2 for key in reached), (reached, called)
    finally:
        stop(first)
        stop(second)
