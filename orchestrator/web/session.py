"""The request handler owns the transaction: `with unit_of_work() as session:` commits or rolls back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy.orm import Session

from orchestrator.db import transaction


@contextmanager
def unit_of_work() -> Iterator[Session]:
    with transaction(current_app.extensions["lianban.sessions"]) as session:
        yield session
