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


def test_cli_creates_a_user_lists_it_and_issues_a_token_that_signs_in(app: Flask, database_url: str) -> None:
    from tests.conftest import client_with_token

    with transaction(app.extensions["lianban.sessions"]) as session:
        from orchestrator.services.accounts import create_department

        create_department(session, "dept-fire-rescue", "消防救援支队", "city", None, "test")
    created = _cli(database_url, "users", "create", "fire-li", "--role", "reviewer", "--department",
                   "dept-fire-rescue", "--display-name", "李消防", "--password", "correct horse battery")
    assert created.returncode == 0, created.stderr
    assert "已创建用户 fire-li（部门审批人员）" in created.stdout
    again = _cli(database_url, "users", "create", "fire-li", "--role", "reviewer", "--password", "x" * 12)
    assert again.returncode == 2 and "用户名已存在" in again.stderr and "Traceback" not in again.stderr
    unknown = _cli(database_url, "users", "create", "nobody", "--role", "wizard", "--password", "x" * 12)
    assert unknown.returncode == 2 and "未知角色" in unknown.stderr

    listed = _cli(database_url, "users", "list")
    assert listed.returncode == 0, listed.stderr
    assert "fire-li\t李消防\t部门审批人员\tdept-fire-rescue\t启用" in listed.stdout.splitlines()

    token = _cli(database_url, "users", "token", "fire-li", "--name", "部门系统", "--days", "30")
    assert token.returncode == 0, token.stderr
    me = client_with_token(app, token.stdout.strip()).get("/api/me")
    assert me.status_code == 200 and me.get_json()["username"] == "fire-li"
    missing = _cli(database_url, "users", "token", "nobody")
    assert missing.returncode == 2 and "用户不存在" in missing.stderr


def test_audit_verification_covers_the_chain_outside_cases_and_names_its_first_broken_link(
        app: Flask, database_url: str) -> None:
    from orchestrator.services.accounts import create_department

    sessions = app.extensions["lianban.sessions"]
    with transaction(sessions) as session:
        for code in ("dept-a", "dept-b", "dept-c"):
            create_department(session, code, code, "city", None, "admin")
    assert _cli(database_url, "verify-audit").returncode == 0
    with transaction(sessions) as session:
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.instance_id.is_(None),
                                                               AuditEvent.event_type == "department.created")
                                      .order_by(AuditEvent.id)))
        session.execute(text("UPDATE audit_event SET actor = 'intruder' WHERE id = :id"), {"id": events[1].id})
        session.execute(text("UPDATE audit_event SET actor = 'intruder' WHERE id = :id"), {"id": events[2].id})
    broken = _cli(database_url, "verify-audit")
    assert broken.returncode == 1
    assert f"事件 {events[1].id}（department.created，全局链" in broken.stderr, broken.stderr
    assert f"事件 {events[2].id}" not in broken.stderr
