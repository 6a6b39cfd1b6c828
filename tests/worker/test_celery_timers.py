"""A real Celery worker process on a real broker fires a due timer once, under the case lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.models import AuditEvent, HumanTask, Timer
from orchestrator.services import cases
from orchestrator.services.definitions import deploy
from tests.worker.processes import broker_url
from workers.celery_app import celery_init_app

ROOT = Path(__file__).resolve().parents[2]

TIMER_DIAGRAM = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="wait_then_review" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait" />
    <bpmn:intermediateCatchEvent id="wait" name="\xe7\xad\x89\xe5\xbe\x85">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="review" />
    <bpmn:userTask id="review" />
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture()
def broker_env(tmp_path: Path) -> dict[str, str]:
    url = broker_url()
    return {"CELERY_BROKER_URL": url, "LIANBAN_BROKER_DIR": str(tmp_path / "broker")}


def test_a_celery_worker_fires_a_due_timer_exactly_once(
    app: Flask, database_url: str, sessions: sessionmaker[Session], run_in_tx: Any, broker_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_in_tx(deploy, {"wait.bpmn": TIMER_DIAGRAM})
    instance = run_in_tx(lambda s: cases.start_case(s, key="wait_then_review"))
    with transaction(sessions) as session:
        assert session.scalar(select(func.count()).select_from(Timer).where(Timer.instance_id == instance.id)) == 1

    env = dict(os.environ, DATABASE_URL=database_url, LIANBAN_SEED_ON_START="0", **broker_env)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.worker", "worker", "--pool=solo", "--concurrency=1",
         "--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for name, value in broker_env.items():
            monkeypatch.setenv(name, value)
        app.config["BROKER_URL"] = broker_env["CELERY_BROKER_URL"]
        client = celery_init_app(app)
        time.sleep(1.2)  # the timer is due now
        for _ in range(3):  # the same message three times: the timer must fire once
            client.send_task("lianban.timers.fire_due")
        deadline = time.monotonic() + 60
        review = None
        while time.monotonic() < deadline and review is None:
            with transaction(sessions) as session:
                review = session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id))
            time.sleep(0.3)
        assert review is not None and review.activity_id == "review", "the worker did not fire the timer"
        time.sleep(1.5)  # let the duplicate messages run
        with transaction(sessions) as session:
            fired = session.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.instance_id == instance.id, AuditEvent.event_type == "timer.fired"))
            assert fired == 1
            assert session.scalar(select(func.count()).select_from(Timer).where(Timer.instance_id == instance.id)) == 0
    finally:
        worker.terminate()
        worker.wait(timeout=20)
