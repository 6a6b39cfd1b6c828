"""Command line: `python -m orchestrator migrate|seed|deploy|serve|timers|verify-audit` (also `flask lianban …`)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy.orm import Session, sessionmaker

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
        click.echo(f"fired {fire_due_timers(_sessions(), datetime.now(UTC))}")


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
    click.echo(f"审计链断裂：事件 {broken.id}（{broken.event_type}，办件 {broken.instance_id}）"
               f" (broken link at event {broken.id})", err=True)
    sys.exit(1)


def register(app: Flask) -> None:
    app.cli.add_command(group)
