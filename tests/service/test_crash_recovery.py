"""A server killed with SIGKILL mid-run leaves no half-written case; after restart every committed step is there."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.diagrams import parallel_diagram
from orchestrator.db import transaction
from orchestrator.models import HumanTask, ProcessInstance
from orchestrator.services import cases

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, database_url: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, DATABASE_URL=database_url, LIANBAN_SEED_ON_START="0")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "serve", "--port", str(self.port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.base}/healthz", timeout=1).read()
                return
            except OSError:
                time.sleep(0.2)
        self.process.kill()
        raise AssertionError("server did not start")

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
             content_type: str = "application/json") -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method,
                                         headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def deploy(self, name: str, content: bytes) -> None:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"data\"; filename=\"{name}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode()
        body += content + f"\r\n--{boundary}--\r\n".encode()
        status, _ = self.call("POST", "/engine-rest/deployment/create", raw=body,
                              content_type=f"multipart/form-data; boundary={boundary}")
        assert status == 200

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def test_sigkill_mid_run_loses_no_committed_step_and_leaves_no_half_written_case(
    app: Flask, database_url: str, sessions: sessionmaker[Session]
) -> None:
    server = Server(database_url)
    acknowledged_tasks: list[str] = []
    started: list[str] = []
    stop = threading.Event()
    try:
        server.deploy("crash.bpmn", parallel_diagram(5, key="crash"))

        def drive() -> None:
            while not stop.is_set():
                try:
                    status, instance = server.call("POST", "/engine-rest/process-definition/key/crash/start", {})
                    if status != 200:
                        return
                    started.append(instance["id"])
                    _, tasks = server.call("GET", f"/engine-rest/task?processInstanceId={instance['id']}")
                    for task in tasks:
                        status, _ = server.call("POST", f"/engine-rest/task/{task['id']}/complete", {})
                        if status == 204:
                            acknowledged_tasks.append(task["id"])
                except OSError:
                    return  # the server died under us

        driver = threading.Thread(target=drive)
        driver.start()
        time.sleep(3)
        server.kill()
        stop.set()
        driver.join(timeout=30)
    finally:
        server.stop()
    assert len(acknowledged_tasks) > 5, "the run should have made progress before the kill"

    # Every case in the database is whole: its state restores, and its projections match it.
    with transaction(sessions) as session:
        instances = list(session.scalars(select(ProcessInstance)))
        assert {i.id for i in instances} >= set(started[:-1])
        for instance in instances:
            loaded = cases.load_case(session, instance.id, for_change=False)
            open_rows = set(session.scalars(select(HumanTask.id).where(
                HumanTask.instance_id == instance.id, HumanTask.state == "CREATED")))
            assert open_rows == loaded.before.user_tasks
        acknowledged_open = session.scalars(select(HumanTask).where(
            HumanTask.id.in_(acknowledged_tasks), HumanTask.state != "COMPLETED")).all()
        assert acknowledged_open == []

    restarted = Server(database_url)
    try:
        for instance_id in {i.id for i in instances}:
            _, tasks = restarted.call("GET", f"/engine-rest/task?processInstanceId={instance_id}")
            for task in tasks:
                assert restarted.call("POST", f"/engine-rest/task/{task['id']}/complete", {})[0] == 204
            status, history = restarted.call("GET", f"/engine-rest/history/process-instance/{instance_id}")
            assert status == 200 and history["state"] == "COMPLETED"
    finally:
        restarted.stop()
