"""The official camunda-external-task-client-python3 from PyPI, unchanged, works Lianban's external tasks.

A real server process (`python -m orchestrator serve`) and a real worker process running the client's
`ExternalTaskWorker.subscribe` loop (this module run as `python -m`); the test kills the worker when done.
The handler reads the case variable `mode`: complete with a result, report a BPMN error the diagram
catches, fail once and succeed on the retry, or fail every time until the retries run out.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from flask import Flask

from tests.server_process import ROOT, Server
from tests.service.external_clients import TOPIC, ExternalTaskCases, client_process, wait_for

WORKER_ID = "tax-system-worker"


def handle(task: Any) -> Any:
    """What a department system's worker does with one task (runs inside the worker process)."""
    mode = task.get_variable("mode")
    if mode == "complete":
        return task.complete({"licence_no": f"JY-{task.get_variable('applicant')}", "done_by": "client"})
    if mode == "error":
        return task.bpmn_error("DEMO_ERROR", "部门系统拒绝：材料不全", {"refusal_reason": "材料不全"})
    if mode == "flaky" and task.get_task_id() not in _failed_once:
        _failed_once.add(task.get_task_id())
        return task.failure("部门系统暂时不可用", "HTTP 503", max_retries=2, retry_timeout=200)
    if mode == "flaky":
        return task.complete({"recovered_after_retries": task._context.get("retries")})
    return task.failure("部门系统故障", "HTTP 500 from department", max_retries=2, retry_timeout=200)


_failed_once: set[str] = set()


def run_worker(base_url: str) -> None:
    from camunda.external_task.external_task_worker import ExternalTaskWorker

    config = {"maxTasks": 1, "lockDuration": 10_000, "asyncResponseTimeout": 1_000, "retries": 2,
              "retryTimeout": 200, "sleepSeconds": 1, "httpTimeoutMillis": 10_000,
              # A department system signs in like Camunda 7 clients do: HTTP Basic, as a demo reviewer account.
              "auth_basic": {"username": "reviewer", "password": "lianban-demo"}}
    ExternalTaskWorker(worker_id=WORKER_ID, base_url=base_url, config=config).subscribe([TOPIC], handle)


def test_the_official_python_client_completes_reports_bpmn_errors_and_fails_with_retries(
        app: Flask, database_url: str, tmp_path: Path) -> None:
    server = Server(database_url)
    command = [sys.executable, "-m", "tests.service.test_external_task_client", f"{server.base}/engine-rest"]
    with client_process(server, command, ROOT, tmp_path / "worker.log"):
        diagram = ExternalTaskCases(server)  # the worker polls meanwhile
        cases = {mode: diagram.start(mode) for mode in ("complete", "error", "flaky", "fail")}
        wait_for(lambda: diagram.ready(cases["complete"]) == ["task_after"], "the completed case")
        values = diagram.variables(cases["complete"])
        assert values["licence_no"] == "JY-李娜" and values["done_by"] == "client"

        wait_for(lambda: diagram.ready(cases["error"]) == ["task_handle_error"], "the BPMN error to be caught")
        assert diagram.variables(cases["error"])["refusal_reason"] == "材料不全"

        wait_for(lambda: diagram.ready(cases["flaky"]) == ["task_after"], "the flaky case to succeed on its retry")
        assert diagram.variables(cases["flaky"])["recovered_after_retries"] == 2

        diagram.check_retries_run_out_and_an_operator_retries(cases["fail"])
        assert all(not diagram.incidents(cases[m]) for m in ("complete", "error", "flaky"))


def test_concurrent_workers_never_lock_the_same_task(app: Flask, database_url: str) -> None:
    """Four workers fetch at once against a real server (SKIP LOCKED on PostgreSQL): each task goes to one."""
    server = Server(database_url)
    try:
        ExternalTaskCases(server)
        started = set()
        for n in range(20):
            status, instance = server.call("POST", "/engine-rest/process-definition/key/external_service_task/start",
                                           {"variables": {"n": {"value": n, "type": "Integer"}}})
            assert status == 200
            started.add(instance["id"])
        got: dict[str, list[str]] = {}
        errors: list[Any] = []

        def fetch(worker: str) -> None:
            body = {"workerId": worker, "maxTasks": 3, "topics": [{"topicName": TOPIC, "lockDuration": 60_000}]}
            while True:
                status, tasks = server.call("POST", "/engine-rest/external-task/fetchAndLock", body)
                if status != 200:
                    errors.append((status, tasks))
                    return
                if not tasks:
                    return
                got.setdefault(worker, []).extend(t["processInstanceId"] for t in tasks)

        threads = [threading.Thread(target=fetch, args=(f"w{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        locked = [instance for ids in got.values() for instance in ids]
        assert sorted(locked) == sorted(started)  # every task once, none twice
        status, count = server.call("GET", "/engine-rest/external-task/count?locked=true")
        assert status == 200 and count == {"count": 20}
    finally:
        server.stop()


if __name__ == "__main__":
    run_worker(sys.argv[1])
