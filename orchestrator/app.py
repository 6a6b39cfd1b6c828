"""The Flask application factory: nothing happens at import time."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask

from orchestrator import timesource
from orchestrator.config import load_config
from orchestrator.db import make_engine, make_session_factory


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, static_folder="web/static", template_folder="web/templates")
    app.config.update(load_config(test_config))
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_BYTES"]
    timesource.configure_from_env()  # LIANBAN_NOW / LIANBAN_NOW_OFFSET_S: a test's worker on the test's clock
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    engine = make_engine(app.config["DATABASE_URL"], echo=app.config["SQL_ECHO"])
    from orchestrator.services import hot_sql

    hot_sql.install(engine)  # PostgreSQL: transactions begin with their first round trip and write behind
    app.extensions["lianban.engine"] = engine
    app.extensions["lianban.sessions"] = make_session_factory(engine)

    from orchestrator.services.cases import workflow_cache

    workflow_cache.capacity = app.config["WORKFLOW_CACHE_SIZE"]

    from orchestrator.forms import registry as form_registry

    form_registry.directory = Path(app.config["FORMS_DIR"])

    from orchestrator.services.materials import settings as material_settings

    material_settings.rules_path = Path(app.config["MATERIALS_CONFIG"])
    material_settings.storage_root = Path(app.config["MATERIALS_DIR"])

    from orchestrator.auth import guard
    from orchestrator.web import (
        accounts,
        approval,
        calendar,
        clock,
        errors,
        login,
        openapi,
        operations,
        pages,
        supervision,
    )
    from orchestrator.web import forms as form_routes
    from orchestrator.web import materials as material_routes
    from orchestrator.web import tasks as task_routes
    from orchestrator.web.engine_rest import blueprint as engine_rest

    errors.register(app)
    guard.install(app)  # every blueprint: authenticate, then the endpoint's declared rule (deny by default)
    app.register_blueprint(login.blueprint)
    app.register_blueprint(accounts.blueprint)
    app.register_blueprint(engine_rest, url_prefix="/engine-rest")
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(calendar.blueprint)
    app.register_blueprint(clock.blueprint)
    app.register_blueprint(operations.blueprint)
    app.register_blueprint(approval.blueprint)
    app.register_blueprint(supervision.blueprint)
    app.register_blueprint(form_routes.blueprint)
    app.register_blueprint(material_routes.blueprint)
    app.register_blueprint(task_routes.blueprint)
    _load_calendar(app)

    if not app.config["BROKER_URL"].startswith("memory://"):
        # A broker server: commits that create connector jobs publish `lianban.jobs.run` to it.
        from workers.celery_app import celery_init_app

        celery_init_app(app)

    from orchestrator import cli

    cli.register(app)
    logging.basicConfig(level=logging.INFO)
    for noisy in ("spiff", "spiff.task", "spiff.workflow", "spiff.metrics"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return app


def _load_calendar(app: Flask) -> None:
    """Push the administrator's calendar overrides into the calculator (absent before the first migration)."""
    from sqlalchemy.exc import SQLAlchemyError

    from orchestrator.services.calendar import reload_overrides

    try:
        reload_overrides(app.extensions["lianban.sessions"])
    except SQLAlchemyError:
        logging.getLogger(__name__).warning("日历覆盖表尚不存在（数据库未迁移），暂只使用日历库数据")
