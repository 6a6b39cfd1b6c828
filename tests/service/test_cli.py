"""The command line deploys diagrams and verifies the audit chain, against the real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select, text

from benchmarks.diagrams import parallel_diagram
from orchestrator.db import transaction
from orchestrator.models import AuditEvent, HumanTask
from orchestrator.services import cases

ROOT = Path(__file__).resolve().parents[2]


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DATABASE_URL=database_url)
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_cli_deploys_a_diagram_once_and_refuses_a_broken_one(app: Flask, database_url: str, tmp_path: Path) -> None:
    diagram = tmp_path / "cli.bpmn"
    diagram.write_bytes(parallel_diagram(2, key="cli_key"))
    first = _cli(database_url, "deploy", str(diagram), "--name", "命令行部署")
    assert first.returncode == 0, first.stderr
    assert "新版本" in first.stdout and "cli_key:1:" in first.stdout
    again = _cli(database_url, "deploy", str(diagram))
    assert again.returncode == 0 and "未变化" in again.stdout

    broken = tmp_path / "broken.bpmn"
    broken.write_text("<definitions><process id='x'></definitions>")
    refused = _cli(database_url, "deploy", str(broken))
    assert refused.returncode == 2
    assert "部署失败" in refused.stderr and "broken.bpmn" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_audit_verification_finds_a_row_edited_in_the_database(app: Flask, database_url: str,
                                                                run_in_tx: Any) -> None:
    sessions = app.extensions["lianban.sessions"]
    with transaction(sessions) as session:
        from orchestrator.services.definitions import deploy

        deploy(session, {"p.bpmn": parallel_diagram(2, key="audited")})
    instance = run_in_tx(lambda s: cases.start_case(s, key="audited", actor="window-1"))
    with transaction(sessions) as session:
        task_id = session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance.id)).first()
    run_in_tx(lambda s: cases.complete_task(s, task_id, {"opinion": "同意"}, "reviewer-1"))

    intact = _cli(database_url, "verify-audit")
    assert intact.returncode == 0, intact.stderr

    with transaction(sessions) as session:
        target = session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance.id,
                                                          AuditEvent.event_type == "task.completed")).one()
        session.execute(text("UPDATE audit_event SET actor = 'someone-else' WHERE id = :id"), {"id": target.id})
    broken = _cli(database_url, "verify-audit")
    assert broken.returncode == 1
    assert f"事件 {target.id}" in broken.stderr and instance.id in broken.stderr


def test_cli_calendar_import_status_and_deadline(app: Flask, database_url: str, tmp_path: Path) -> None:
    deadline = _cli(database_url, "calendar", "deadline", "2026-09-25", "20")
    assert deadline.returncode == 0 and "2026-10-29" in deadline.stdout and "受理当日不计入期限" in deadline.stdout
    refused = _cli(database_url, "calendar", "deadline", "2026-12-28", "10")
    assert refused.returncode == 2 and "2027" in refused.stderr and "Traceback" not in refused.stderr

    bad = tmp_path / "bad.txt"
    bad.write_text("2027-01-01 休 元旦\n2027-01-32 休\n", encoding="utf-8")
    failed = _cli(database_url, "calendar", "import", str(bad))
    assert failed.returncode == 2 and "第 2 行" in failed.stderr

    good = tmp_path / "2027.txt"
    good.write_text("# 测试用\n2027-01-01 休 元旦\n2027-02-13 班 春节调休\n", encoding="utf-8")
    imported = _cli(database_url, "calendar", "import", str(good), "--source", "测试")
    assert imported.returncode == 0 and "2027" in imported.stdout, imported.stderr
    computed = _cli(database_url, "calendar", "deadline", "2026-12-28", "10")
    assert computed.returncode == 0 and "2027-01-12" in computed.stdout
    status = _cli(database_url, "calendar", "status")
    assert "2027" in status.stdout and status.returncode in (0, 1)
