"""Fixtures over a real database: SQLite by default, PostgreSQL when DATABASE_URL points at one."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import create_app, timesource, workcalendar
from orchestrator.db import Base, make_engine, transaction
from tests.fake_department import FakeDepartment

ROOT = Path(__file__).resolve().parent.parent
COVERAGE_DIR = ROOT / "tests" / "bpmn" / "coverage"


def _database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'lianban-test.db'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A freshly migrated database for the whole run (migrations are exercised, not create_all)."""
    from orchestrator.migrations import upgrade

    url = _database_url(tmp_path_factory)
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgres")


def _clean(app: Flask) -> None:
    engine = app.extensions["lianban.engine"]
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture()
def app(database_url: str) -> Iterator[Flask]:
    # No workflow cache: every step of every test restores its case from the database (save → restore).
    app = create_app({"DATABASE_URL": database_url, "SEED_ON_START": False, "TESTING": True,
                      "WORKFLOW_CACHE_SIZE": 0})
    _clean(app)
    workcalendar.set_overrides({}, set())  # create_app loaded the previous test's calendar rows
    yield app
    app.extensions["lianban.engine"].dispose()


@pytest.fixture(autouse=True)
def system_clock() -> Iterator[None]:
    """Every test starts and ends on the system clock; tests that need another set `orchestrator.timesource`."""
    timesource.reset()
    yield
    timesource.reset()


@pytest.fixture()
def sessions(app: Flask) -> sessionmaker[Session]:
    return app.extensions["lianban.sessions"]  # type: ignore[no-any-return]


@pytest.fixture()
def run_in_tx(sessions: sessionmaker[Session]) -> Any:
    """Call a service function in its own committed transaction, as an entry point would."""

    def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        with transaction(sessions) as session:
            return fn(session, *args, **kwargs)

    return call


@pytest.fixture()
def samr() -> Iterator[FakeDepartment]:
    """A fake 市场监管 system: a real HTTP server on loopback that records every effect it applies."""
    department = FakeDepartment("市场监管").start()
    yield department
    department.stop()


def make_user(app: Flask, username: str, roles: list[str], departments: tuple[str, ...] | list[str] = (),
              **fields: Any) -> str:
    """Create a user (and any missing department, at city level) and return a bearer token for it."""
    from orchestrator.models import Department
    from orchestrator.services import accounts, signin

    with transaction(app.extensions["lianban.sessions"]) as session:
        known = set(session.scalars(select(Department.code)))
        for code in departments:
            if code not in known:
                accounts.create_department(session, code, code, "city", None, "test")
        user = accounts.create_user(session, accounts.UserInput(username=username, roles=roles,
                                                                departments=list(departments), **fields), "test")
        _, raw = signin.new_token(session, user, "test")
    return raw


def client_with_token(app: Flask, token: str) -> FlaskClient:
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return test_client


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    """An administrator's client (bearer token): may call every endpoint."""
    return client_with_token(app, make_user(app, "admin", ["administrator"]))


@pytest.fixture()
def client_as(app: Flask) -> Callable[..., FlaskClient]:
    """`client_as("reviewer", departments=["dept-fire-rescue"])`: a client signed in with that role."""
    counter = iter(range(1, 1_000_000))

    def make(*roles: str, departments: tuple[str, ...] | list[str] = (), username: str | None = None,
             **fields: Any) -> FlaskClient:
        name = username or f"{roles[0].replace('_', '-')}-{next(counter)}"
        return client_with_token(app, make_user(app, name, list(roles), departments, **fields))

    return make


@pytest.fixture()
def anonymous(app: Flask) -> FlaskClient:
    return app.test_client()
