"""Real Celery worker processes run connector jobs against a real fake department; one is SIGKILLed mid-call.

The broker is Redis when CELERY_BROKER_URL is set (CI), else the folder broker; the database is
PostgreSQL when DATABASE_URL is set, else SQLite.
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
from tests.worker.processes import celery, count, stop, wait_for
from workers.celery_app import celery_init_app

ROOT = Path(__file__).resolve().parents[2]
DIAGRAM = ROOT / "tests" / "bpmn" / "connectors" / "licence_connector.bpmn"
CASES = 4


@pytest.fixture()
def slow_samr() -> Iterator[FakeDepartment]:
    department = FakeDepartment("市场监管", latency_s=2.0).start()  # replies 2 s after applying the effect
    yield department
    department.stop()


def test_a_worker_killed_mid_call_loses_nothing_and_the_department_acts_once(
    app: Flask, database_url: str, sessions: sessionmaker[Session], run_in_tx: Any, tmp_path: Path,
    slow_samr: FakeDepartment, monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
    # Lock = timeout 3 s + margin 0.5 s: a job held by a dead worker is runnable again 3.5 s after its claim.
    connectors = write_connectors(tmp_path / "connectors.json", slow_samr, timeout_s=3, lock_margin_s=0.5)
    env_vars = {"CELERY_BROKER_URL": broker, "LIANBAN_BROKER_DIR": str(tmp_path / "broker"),
                "LIANBAN_CONNECTORS": str(connectors)}
    for name, value in env_vars.items():
        monkeypatch.setenv(name, value)
    env = dict(os.environ, DATABASE_URL=database_url, LIANBAN_SEED_ON_START="0", **env_vars)
    app.config["BROKER_URL"] = broker
    client = celery_init_app(app)  # this process publishes `lianban.jobs.run` after each commit

    run_in_tx(deploy, {DIAGRAM.name: DIAGRAM.read_bytes()})
    first = celery("worker", env, "--pool=threads", "--concurrency=4")
    second: subprocess.Popen[bytes] | None = None
    try:
        with app.app_context():
            ids = [run_in_tx(lambda s, n=n: cases.start_case(
                s, key="licence_connector", variables={"company_name": f"西宁第{n}有限公司"})).id
                for n in range(CASES)]
        locked = select(func.count()).select_from(Job).where(Job.state == "LOCKED")
        # The worker is inside the calls: the department has applied effects and is still replying.
        wait_for(lambda: len(slow_samr.effects) >= 2 and count(sessions, locked) >= 2, 45, "the worker to hold jobs")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        held = count(sessions, locked)
        assert held >= 2, "the killed worker held no jobs"

        second = celery("worker", env, "--pool=threads", "--concurrency=4")
        done = select(func.count()).select_from(ProcessInstance).where(ProcessInstance.id.in_(ids),
                                                                       ProcessInstance.state == "COMPLETED")
        # Celery beat's part, played by the test: sweep every tick (expired locks, never-delivered jobs).
        last_sweep = [0.0]

        def sweep() -> None:
            if time.monotonic() - last_sweep[0] >= 1.0:
                client.send_task("lianban.jobs.sweep")
                last_sweep[0] = time.monotonic()

        wait_for(lambda: count(sessions, done) == CASES, 60, "every case to reach its end", tick=sweep)

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
        repeated = [key for key in keys if called.count(key) > 1]
        assert len(repeated) >= held, "the jobs of the killed worker were not run again with their key"
    finally:
        stop(first)
        stop(second)
