"""Redis stopped and started again in the middle of a run: no job is lost and the department acts once per job.

The test runs its own memory-only redis-server on a free port (the shared one is never touched), a
real Celery worker process and a real Celery beat process (the sweeper, every second). Redis goes down
while jobs are queued and in flight, cases are started while it is down (their wake-up messages cannot
be published), and it comes back empty: every message it held is gone. The job rows are the truth:
the sweeper re-publishes what is due, and every case reaches its end with each effect applied once.
"""

from __future__ import annotations

import os
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
from tests.worker.processes import ROOT, celery, count, free_port, redis_server, stop, wait_for
from workers.celery_app import celery_init_app

DIAGRAM = ROOT / "tests" / "bpmn" / "connectors" / "licence_connector.bpmn"
BEFORE, DURING = 12, 4  # cases started before Redis stops, and while it is down


@pytest.fixture()
def samr() -> Iterator[FakeDepartment]:
    # Effects applied, replies still on the way; 12 jobs through 2 threads take ≥ 6 s, so Redis stops mid-run
    # even when this process gets the CPU late.
    department = FakeDepartment("市场监管", latency_s=1.0).start()
    yield department
    department.stop()


@pytest.mark.timeout(600)
def test_redis_stopped_and_restarted_mid_run_loses_no_job_and_duplicates_no_effect(
    app: Flask, database_url: str, sessions: sessionmaker[Session], run_in_tx: Any, tmp_path: Path,
    samr: FakeDepartment, monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    connectors = write_connectors(tmp_path / "connectors.json", samr, timeout_s=3, lock_margin_s=1)
    monkeypatch.setenv("LIANBAN_CONNECTORS", str(connectors))
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    env = dict(os.environ, DATABASE_URL=database_url, LIANBAN_SEED_ON_START="0", LIANBAN_CONNECTORS=str(connectors),
               CELERY_BROKER_URL=broker, LIANBAN_JOBS_SWEEP_INTERVAL_S="1", LIANBAN_SCHEDULER_INTERVAL_S="1")
    app.config["BROKER_URL"] = broker
    celery_init_app(app)  # this process publishes `lianban.jobs.run` after each commit

    run_in_tx(deploy, {DIAGRAM.name: DIAGRAM.read_bytes()})
    redis = redis_server(port)
    worker = celery("worker", env, "--pool=threads", "--concurrency=2")
    beat = celery("beat", env, "--schedule", str(tmp_path / "beat-schedule"))
    ids: list[str] = []

    def start_cases(count_: int, prefix: str) -> None:
        with app.app_context():
            for n in range(count_):
                ids.append(run_in_tx(lambda s, n=n: cases.start_case(
                    s, key="licence_connector", variables={"company_name": f"{prefix}第{n}有限公司"})).id)

    try:
        start_cases(BEFORE, "西宁")
        # Stop Redis while the worker is busy: some effects applied, the rest queued or in flight.
        wait_for(lambda: len(samr.effects) >= 2, 180, "the worker to start calling the department")
        stop(redis)
        applied_when_stopped = len(samr.effects)
        assert applied_when_stopped < BEFORE, "every job ran before Redis stopped: nothing was at risk"

        start_cases(DURING, "海东")  # accepted although no wake-up message can be published
        with transaction(sessions) as session:
            assert session.scalar(select(func.count()).select_from(ProcessInstance).where(
                ProcessInstance.id.in_(ids))) == BEFORE + DURING

        redis = redis_server(port)  # empty: the queued messages are gone
        done = select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.id.in_(ids), ProcessInstance.state == "COMPLETED")
        wait_for(lambda: count(sessions, done) == BEFORE + DURING, 300, "every case to reach its end")

        with transaction(sessions) as session:
            jobs = list(session.scalars(select(Job).where(Job.instance_id.in_(ids))))
            numbers = [session.get(ProcessInstance, i).variables["licence_number"]  # type: ignore[union-attr]
                       for i in ids]
        keys = sorted(job.idempotency_key for job in jobs)
        assert len(jobs) == BEFORE + DURING and all(job.state == "COMPLETED" for job in jobs)
        assert sorted(samr.keys_applied()) == keys  # each effect exactly once, none missing
        assert sorted(numbers) == sorted(effect.answer[1]["licence_number"] for effect in samr.effects)
        assert any(job.republished_at is not None for job in jobs), "the sweeper re-published nothing"
    finally:
        stop(beat)
        stop(worker)
        stop(redis)
