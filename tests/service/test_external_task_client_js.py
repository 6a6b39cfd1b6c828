"""The official camunda-external-task-client-js from npm, unchanged, works Lianban's external tasks.

Department systems written in JavaScript use Camunda's Node.js client (pinned in tests/clients/package-lock.json;
`make test` installs it with `npm ci`). A real server process and a real `node` process running the client's
subscribe loop (tests/clients/external_task_worker.mjs); the handler reads the case variable `mode`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from flask import Flask

from tests.server_process import ROOT, Server
from tests.service.external_clients import TOPIC, ExternalTaskCases, client_process, wait_for

CLIENTS = ROOT / "tests" / "clients"


def test_the_official_js_client_completes_extends_reports_bpmn_errors_and_fails_with_retries(
        app: Flask, database_url: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "node (Node.js) is needed for this test: apt-get install nodejs npm"
    assert (CLIENTS / "node_modules" / "camunda-external-task-client-js").is_dir(), \
        "the JS client is not installed: npm ci --prefix tests/clients (make test does it)"
    server = Server(database_url)
    command = [node, "external_task_worker.mjs", f"{server.base}/engine-rest", TOPIC]
    with client_process(server, command, CLIENTS, tmp_path / "worker.log") as log_path:
        diagram = ExternalTaskCases(server)  # the worker polls meanwhile
        cases = {mode: diagram.start(mode) for mode in ("complete", "extend", "error", "flaky", "fail")}
        wait_for(lambda: diagram.ready(cases["complete"]) == ["task_after"], "the completed case")
        values = diagram.variables(cases["complete"])
        assert (values["licence_no"], values["done_by"], values["issued_count"]) == ("JY-李娜", "js-client", 1)

        wait_for(lambda: diagram.ready(cases["extend"]) == ["task_after"], "the case whose lock was extended")
        assert diagram.variables(cases["extend"])["extended"] is True

        wait_for(lambda: diagram.ready(cases["error"]) == ["task_handle_error"], "the BPMN error to be caught")
        assert diagram.variables(cases["error"])["refusal_reason"] == "材料不全"

        wait_for(lambda: diagram.ready(cases["flaky"]) == ["task_after"], "the flaky case to succeed on its retry")
        assert diagram.variables(cases["flaky"])["recovered_after_retries"] == 2

        diagram.check_retries_run_out_and_an_operator_retries(cases["fail"])
        assert all(not diagram.incidents(cases[m]) for m in ("complete", "extend", "error", "flaky"))
        text = log_path.read_text(errors="replace")
        assert "extendLock:success" in text and "handleBpmnError:success" in text and "poll:error" not in text
