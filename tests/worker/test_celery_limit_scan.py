"""A real Celery worker on the test's clock (`LIANBAN_NOW`) scans the limits: an overdue step is escalated once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import timesource
from orchestrator.db import transaction
from orchestrator.models import AuditEvent, HumanTask, SupervisionItem
from orchestrator.services import cases
from orchestrator.services.definitions import deploy
from orchestrator.workcalendar import SHANGHAI
from tests.worker.processes import broker_url
from workers.celery_app import celery_init_app

ROOT = Path(__file__).resolve().parents[2]
DIAGRAM = ROOT / "tests" / "bpmn" / "timelimits" / "step-limits.bpmn"


@pytest.mark.timeout(180)
def test_a_celery_worker_on_the_test_clock_escalates_an_overdue_step_once(
    app: Flask, database_url: str, sessions: sessionmaker[Session], run_in_tx: Any, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timesource.set_now(datetime(2026, 10, 9, 10, 0, tzinfo=SHANGHAI))  # review: 2 working days, due 10-12
    run_in_tx(deploy, {"step-limits.bpmn": DIAGRAM.read_bytes()})
    instance = run_in_tx(lambda s: cases.start_case(s, key="step_limits"))
    broker = {"CELERY_BROKER_URL": broker_url(),
              "LIANBAN_BROKER_DIR": str(tmp_path / "broker")}
    env = dict(os.environ, DATABASE_URL=database_url, LIANBAN_SEED_ON_START="0",
               LIANBAN_NOW="2026-10-13T09:00:00+08:00", **broker)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.worker", "worker", "--pool=solo", "--concurrency=1",
         "--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for name, value in broker.items():
            monkeypatch.setenv(name, value)
        app.config["BROKER_URL"] = broker["CELERY_BROKER_URL"]
        client = celery_init_app(app)
        for _ in range(3):  # the same scan three times: each transition is written once
            client.send_task("lianban.clock.scan")
        state = None
        while state != "OVERDUE":
            with transaction(sessions) as session:
                state = session.scalar(select(HumanTask.limit_state).where(HumanTask.instance_id == instance.id))
            time.sleep(0.3)
        time.sleep(1.5)  # let the duplicate messages run
        with transaction(sessions) as session:
            overdue = session.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.instance_id == instance.id, AuditEvent.event_type == "step.overdue"))
            assert overdue == 1
            assert session.scalar(select(func.count()).select_from(SupervisionItem)) == 1
    finally:
        worker.terminate()
        worker.wait(timeout=20)
