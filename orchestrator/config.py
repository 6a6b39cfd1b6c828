"""Configuration from environment variables, with the embedded defaults of `make run`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _sqlite_default() -> str:
    var = PROJECT_ROOT / "var"
    return f"sqlite:///{var / 'lianban.db'}"


def _local_secret_key() -> str:
    """Without LIANBAN_SECRET_KEY, a random key kept in var/secret_key (0600) signs the session cookies."""
    import secrets

    path = PROJECT_ROOT / "var" / "secret_key"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process of the same server created it first
            else:
                with os.fdopen(fd, "w", encoding="ascii") as handle:
                    handle.write(secrets.token_urlsafe(48))
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return secrets.token_urlsafe(48)  # read-only tree: sessions last as long as the process


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read settings from the environment; `overrides` (tests) win over both."""
    config: dict[str, Any] = {
        "SECRET_KEY": os.environ.get("LIANBAN_SECRET_KEY") or _local_secret_key(),
        "DATABASE_URL": os.environ.get("DATABASE_URL") or _sqlite_default(),
        "BROKER_URL": os.environ.get("CELERY_BROKER_URL") or os.environ.get("BROKER_URL") or "memory://",
        "BPMN_DIR": os.environ.get("LIANBAN_BPMN_DIR", str(PROJECT_ROOT / "bpmn")),
        "FORMS_DIR": os.environ.get("LIANBAN_FORMS_DIR", str(PROJECT_ROOT / "forms")),
        "MATERIALS_CONFIG": os.environ.get("LIANBAN_MATERIALS", str(PROJECT_ROOT / "materials.json")),
        "MATERIALS_DIR": os.environ.get("LIANBAN_MATERIALS_DIR", str(PROJECT_ROOT / "var" / "materials")),
        "SEED_ON_START": os.environ.get("LIANBAN_SEED_ON_START", "1") == "1",
        "RUN_SCHEDULER": os.environ.get("LIANBAN_RUN_SCHEDULER", "0") == "1",
        "JOBS_SWEEP_INTERVAL_S": float(os.environ.get("LIANBAN_JOBS_SWEEP_INTERVAL_S", "5.0")),
        "SCHEDULER_INTERVAL_S": float(os.environ.get("LIANBAN_SCHEDULER_INTERVAL_S", "1.0")),
        "MAX_UPLOAD_BYTES": int(os.environ.get("LIANBAN_MAX_UPLOAD_BYTES", str(10 * 1024 * 1024))),
        # Cases kept deserialised in memory between steps (0: restore every step from the database).
        "WORKFLOW_CACHE_SIZE": int(os.environ.get("LIANBAN_WORKFLOW_CACHE_SIZE", "500")),
        # /api/test/clock (the controllable time source) outside tests: never in production.
        "TEST_HOOKS": os.environ.get("LIANBAN_TEST_HOOKS", "0") == "1",
        "SQL_ECHO": os.environ.get("LIANBAN_SQL_ECHO", "0") == "1",
        # `make run` seeds demo departments and one user per role (password lianban-demo).
        "DEMO_ACCOUNTS": os.environ.get("LIANBAN_DEMO_ACCOUNTS", "1") == "1",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("LIANBAN_SECURE_COOKIES", "0") == "1",
    }
    if overrides:
        config.update(overrides)
    return config
