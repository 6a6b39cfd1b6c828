"""Shared by the tests that run third-party Camunda 7 external-task clients against a real Lianban server."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import COVERAGE_DIR
from tests.server_process import Server

TOPIC = "demo.topic"  # the topic of tests/bpmn/coverage/external_service_task.bpmn


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class ExternalTaskCases:
    """Cases of the external service task diagram on a server, each started with the client's `mode`."""

    def __init__(self, server: Server) -> None:
        self.server = server
        server.deploy("external_service_task.bpmn", (COVERAGE_DIR / "external_service_task.bpmn").read_bytes())

    def start(self, mode: str) -> str:
        body = {"variables": {"mode": {"value": mode, "type": "String"},
                              "applicant": {"value": "李娜", "type": "String"}}}
        status, instance = self.server.call("POST", "/engine-rest/process-definition/key/external_service_task/start",
                                            body)
        assert status == 200, instance
        return str(instance["id"])

    def ready(self, instance_id: str) -> list[str]:
        """The user tasks open in the case (task_after on success, task_handle_error after a BPMN error)."""
        status, tasks = self.server.call("GET", f"/engine-rest/task?processInstanceId={instance_id}")
        assert status == 200
        return sorted(t["taskDefinitionKey"] for t in tasks)

    def variables(self, instance_id: str) -> dict[str, Any]:
        status, values = self.server.call("GET", f"/engine-rest/process-instance/{instance_id}/variables")
        assert status == 200
        return {name: v["value"] for name, v in values.items()}

    def incidents(self, instance_id: str) -> list[dict[str, Any]]:
        status, items = self.server.call("GET", f"/engine-rest/incident?processInstanceId={instance_id}")
        assert status == 200
        return list(items)

    def external_tasks(self, instance_id: str) -> list[dict[str, Any]]:
        status, tasks = self.server.call("GET", f"/engine-rest/external-task?processInstanceId={instance_id}")
        assert status == 200
        return list(tasks)

    def check_retries_run_out_and_an_operator_retries(self, instance_id: str) -> None:
        """The failing case: an incident once its retries ran out; PUT retries resolves it and the worker fails
        the task once more."""
        wait_for(lambda: bool(self.incidents(instance_id)), "the incident after the retries ran out")
        [incident] = self.incidents(instance_id)
        assert incident["incidentType"] == "failedExternalTask" and "部门系统故障" in incident["incidentMessage"]
        tasks = self.external_tasks(instance_id)
        assert [(t["retries"], t["workerId"]) for t in tasks] == [(0, None)] and self.ready(instance_id) == []
        status, _ = self.server.call("PUT", f"/engine-rest/external-task/{tasks[0]['id']}/retries", {"retries": 1})
        assert status == 204 and self.incidents(instance_id) == []
        wait_for(lambda: bool(self.incidents(instance_id)), "the task to fail again on its last retry")


@contextmanager
def client_process(server: Server, command: list[str], cwd: Path, log_path: Path) -> Iterator[Path]:
    """A client's worker process beside `server`, its output in `log_path` (printed when the test fails); the
    worker is killed and the server stopped afterwards."""
    log = log_path.open("wb")
    worker: subprocess.Popen[bytes] | None = None
    try:
        worker = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        yield log_path
    except BaseException:
        log.flush()
        print(log_path.read_text(errors="replace")[-5000:])
        raise
    finally:
        if worker is not None:
            worker.kill()
            worker.wait(timeout=10)
        log.close()
        server.stop()
