"""A server killed with SIGKILL mid-run leaves no half-written case; after restart every committed step is there."""

from __future__ import annotations

import threading
import time

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.diagrams import parallel_diagram
from orchestrator.db import transaction
from orchestrator.models import HumanTask, ProcessInstance
from orchestrator.services import cases
from tests.server_process import Server


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
