"""Command line: `python -m orchestrator migrate|seed|deploy|check|serve|timers|verify-audit|calendar|users …`.

The same commands run as `flask lianban …`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import timesource
from orchestrator.auth.roles import ROLE_LABELS
from orchestrator.db import transaction
from orchestrator.errors import LianbanError

group = AppGroup("lianban", help="Lianban administration commands.")


def _sessions() -> sessionmaker[Session]:
    return current_app.extensions["lianban.sessions"]  # type: ignore[no-any-return]


@group.command("migrate")
def migrate_command() -> None:
    """Bring the database schema to the latest migration."""
    from orchestrator.migrations import upgrade

    upgrade(current_app.config["DATABASE_URL"])
    click.echo("数据库已迁移到最新版本 (database migrated)")


@group.command("seed")
def seed_command() -> None:
    """Deploy every diagram in bpmn/ (unchanged ones keep their version)."""
    from orchestrator.services.seed import seed_bundles

    with transaction(_sessions()) as session:
        created, unchanged = seed_bundles(session, Path(current_app.config["BPMN_DIR"]))
    click.echo(f"已部署 {created} 个新版本，{unchanged} 个未变化 (deployed {created} new, {unchanged} unchanged)")


@group.command("deploy")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="Deployment name")
def deploy_command(files: tuple[Path, ...], name: str | None) -> None:
    """Deploy BPMN files as one deployment."""
    from orchestrator.services.definitions import deploy

    resources = {f.name: f.read_bytes() for f in files}
    try:
        with transaction(_sessions()) as session:
            result = deploy(session, resources, name=name, source="cli", actor="cli")
            for d in result.created:
                click.echo(f"新版本 (new)      {d.id}")
            for d in result.unchanged:
                click.echo(f"未变化 (unchanged) {d.id}")
            for w in result.warnings:
                click.echo(f"警告 (warning)    {w['message_zh']} [{w['code']}, {w['filename']} line {w['line']}]")
    except LianbanError as error:
        where = ", ".join(f"{k}={v}" for k in ("filename", "element_id", "line")
                          if (v := getattr(error, k)) is not None)
        click.echo(f"部署失败：{error.message_zh}\n{error.message_en} [{where}]", err=True)
        sys.exit(2)


@group.command("timers")
@click.option("--loop/--once", default=False, help="Keep firing due timers every second")
def timers_command(loop: bool) -> None:
    """Fire due timers (the embedded scheduler; production uses the Celery beat)."""
    from orchestrator.scheduler import fire_due_timers, run_forever

    if loop:
        run_forever(_sessions(), current_app.config["SCHEDULER_INTERVAL_S"])
    else:
        click.echo(f"fired {fire_due_timers(_sessions(), timesource.now())}")


@group.command("verify-audit")
@click.option("--instance", default=None, help="Case id; default: every chain")
def verify_audit_command(instance: str | None) -> None:
    """Verify the hash chain of the audit log; exit 1 naming the first broken link."""
    from orchestrator.services.audit import verify_all

    with transaction(_sessions()) as session:
        broken = verify_all(session, instance)
    if broken is None:
        click.echo("审计链完整 (audit chain intact)")
        return
    chain = f"办件 {broken.instance_id}" if broken.instance_id else "全局链（办件之外：登录、管理、部署、查看个人信息）"
    click.echo(f"审计链断裂：事件 {broken.id}（{broken.event_type}，{chain}）"
               f" (broken link at event {broken.id}, chain {broken.instance_id or 'global'})", err=True)
    sys.exit(1)


@group.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--quiet", is_flag=True, help="Only the tally, not a line per file")
def check_command(paths: tuple[Path, ...], quiet: bool) -> None:
    """Compile diagrams without deploying them: each one deploys or is refused, with the reason and a tally."""
    from collections import Counter

    from orchestrator.engine.parsing import compile_deployment
    from orchestrator.errors import DiagramError

    suffixes = (".bpmn", ".bpmn20.xml", ".xml")
    files = sorted({f for p in paths for f in ([p] if p.is_file() else p.rglob("*"))
                    if f.is_file() and f.name.lower().endswith(suffixes)})
    tally: Counter[str] = Counter()
    crashed = 0
    for file in files:
        try:
            processes = compile_deployment({file.name: file.read_bytes()})
            tally["deployable"] += 1
            line = f"可部署 (deployable) {file}: {', '.join(p.key for p in processes)}"
        except DiagramError as error:
            tally[error.code] += 1
            where = error.element_id or (f"line {error.line}" if error.line else "")
            line = f"拒绝 (refused) {file} [{error.code}] {where}: {error.message_zh}"
        except Exception as error:  # noqa: BLE001 - a crash is what this command exists to reveal
            crashed += 1
            line = f"崩溃 (crashed) {file}: {type(error).__name__}: {error}"
        if not quiet:
            click.echo(line)
    refused = len(files) - tally["deployable"] - crashed
    click.echo(f"共 {len(files)} 个文件：可部署 {tally['deployable']}，拒绝 {refused}，崩溃 {crashed}"
               f" ({len(files)} files: {tally['deployable']} deployable, {refused} refused, {crashed} crashed)")
    for code, count in tally.most_common():
        if code != "deployable":
            click.echo(f"  {count:5d}  {code}")
    if crashed:
        sys.exit(1)


calendar_group = AppGroup("calendar", help="Working-day calendar: import a year, data horizon, deadlines.")
group.add_command(calendar_group)


@calendar_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--partial", is_flag=True, help="Only add or change the listed dates (default: the file is the "
                                               "whole schedule of its years, which are then marked complete)")
@click.option("--source", default=None, help="Where the schedule comes from (the State Council notice)")
@click.option("--published-at", default=None, help="Publication date, YYYY-MM-DD")
def calendar_import_command(file: Path, partial: bool, source: str | None, published_at: str | None) -> None:
    """Import a schedule file: `2027-01-01 休 元旦` / `2027-02-07 班 春节调休`, one date a line."""
    from datetime import date

    from orchestrator.services.calendar import import_schedule, reload_overrides

    try:
        published = date.fromisoformat(published_at) if published_at else None
        with transaction(_sessions()) as session:
            summary = import_schedule(session, file.read_text(encoding="utf-8-sig"), "cli", complete=not partial,
                                      source=source, published_at=published)
    except (LianbanError, ValueError) as error:
        zh = error.message_zh if isinstance(error, LianbanError) else f"发布日期无效：{published_at}"
        click.echo(f"导入失败：{zh}", err=True)
        sys.exit(2)
    finally:
        reload_overrides(_sessions())
    years = "、".join(str(y) for y in summary["years"])
    click.echo(f"已导入 {years} 年：{summary['holidays']} 个休息日，{summary['makeup_workdays']} 个调休上班日"
               f"{'，已标记为完整' if summary['complete'] else ''}")


@calendar_group.command("status")
def calendar_status_command() -> None:
    """Show the last year with calendar data; exit 1 when the administrator must import the next year."""
    from orchestrator.services.calendar import data_horizon

    horizon = data_horizon()
    click.echo(horizon["message"])
    if horizon["warning"]:
        sys.exit(1)


@calendar_group.command("deadline")
@click.argument("start")
@click.argument("days", type=click.IntRange(0, 3650))
def calendar_deadline_command(start: str, days: int) -> None:
    """The deadline of DAYS working days from acceptance on START (YYYY-MM-DD)."""
    from datetime import date

    from orchestrator.services.calendar import deadline

    try:
        result = deadline(date.fromisoformat(start), days)
    except ValueError:
        click.echo(f"受理日期无效：{start}（应为 YYYY-MM-DD）", err=True)
        sys.exit(2)
    except LianbanError as error:
        click.echo(f"无法计算：{error.message_zh}", err=True)
        sys.exit(2)
    click.echo(f"{result['start']} 受理，{days} 个工作日，期限届满日：{result['deadline']}"
               f"（{result['deadline_weekday']}）\n规则：{result['rule']}")


users_group = AppGroup("users", help="Accounts: create a user, list users, issue an API token.")
group.add_command(users_group)


def _refuse(error: LianbanError) -> None:
    field = f"（{error.field}）" if error.field else ""
    click.echo(f"失败：{error.message_zh}{field}", err=True)
    sys.exit(2)


@users_group.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True,
              help="Role (repeatable): applicant, window_clerk, reviewer, department_head, supervisor, analyst, "
                   "administrator")
@click.option("--department", "departments", multiple=True, help="Department code (repeatable)")
@click.option("--display-name", default=None, help="Name shown to people (default: the user name)")
@click.option("--district", default=None, help="District code of an applicant (for assignment expressions)")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Password (asked for when omitted)")
def users_create_command(username: str, roles: tuple[str, ...], departments: tuple[str, ...],
                         display_name: str | None, district: str | None, password: str) -> None:
    """Create a user with roles and departments."""
    from orchestrator.services.accounts import UserInput, create_user

    data = UserInput(username=username, display_name=display_name, password=password, roles=list(roles),
                     departments=list(departments), district=district)
    try:
        with transaction(_sessions()) as session:
            create_user(session, data, "cli")
    except LianbanError as error:
        _refuse(error)
    click.echo(f"已创建用户 {username}（{'、'.join(ROLE_LABELS[r] for r in roles)}）")


@users_group.command("list")
def users_list_command() -> None:
    """List every user: name, roles, departments, whether active."""
    from orchestrator.services.accounts import list_all_users

    with transaction(_sessions()) as session:
        rows = list_all_users(session)
        for user, departments in rows:
            roles = "、".join(ROLE_LABELS.get(r, r) for r in user.roles)
            state = "启用" if user.active else "停用"
            click.echo(f"{user.username}\t{user.display_name}\t{roles}\t{','.join(departments) or '-'}\t{state}")
    click.echo(f"共 {len(rows)} 个用户")


@users_group.command("token")
@click.argument("username")
@click.option("--name", default="cli", help="What the token is for (shown in the token list)")
@click.option("--days", type=click.IntRange(1, 3650), default=None, help="Expires after this many days "
                                                                         "(default: never)")
def users_token_command(username: str, name: str, days: int | None) -> None:
    """Issue a bearer token for a user; it is printed once and stored only as a hash."""
    from datetime import timedelta

    from orchestrator.services.accounts import create_token, user_by_name

    expires = timesource.now() + timedelta(days=days) if days else None
    try:
        with transaction(_sessions()) as session:
            _, raw = create_token(session, user_by_name(session, username).id, name, "cli", expires)
    except LianbanError as error:
        _refuse(error)
    click.echo(raw)


def register(app: Flask) -> None:
    app.cli.add_command(group)
