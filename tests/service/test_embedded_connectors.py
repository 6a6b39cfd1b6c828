"""The embedded mode (`make run`: no broker server): the scheduler thread runs connector jobs in-process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flask import Flask

from tests.fake_department import FakeDepartment, write_connectors
from tests.helpers import typed
from tests.server_process import Server

DIAGRAM = Path(__file__).resolve().parents[1] / "bpmn" / "connectors" / "licence_connector.bpmn"


def test_the_embedded_server_calls_the_department_and_the_case_completes(
    app: Flask, database_url: str, tmp_path: Path, samr: FakeDepartment, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIANBAN_CONNECTORS", str(write_connectors(tmp_path / "connectors.json", samr)))
    monkeypatch.setenv("CELERY_BROKER_URL", "memory://")
    # An hour between rounds: only the commit's wake-up can run the job before the deadline below.
    monkeypatch.setenv("LIANBAN_SCHEDULER_INTERVAL_S", "3600")
    server = Server(database_url)
    try:
        server.deploy(DIAGRAM.name, DIAGRAM.read_bytes())
        status, instance = server.call("POST", "/engine-rest/process-definition/key/licence_connector/start",
                                       {"variables": typed({"company_name": "西宁嵌入式有限公司"})})
        assert status == 200
        deadline = time.monotonic() + 120  # generous: the machine may be loaded; nothing here is timed
        state = None
        while time.monotonic() < deadline and state != "COMPLETED":
            _, history = server.call("GET", f"/engine-rest/history/process-instance/{instance['id']}")
            state = history["state"]
            time.sleep(0.1)
        assert state == "COMPLETED"
        assert len(samr.effects) == 1 and samr.effects[0].request == {"name": "西宁嵌入式有限公司"}
    finally:
        server.stop()
