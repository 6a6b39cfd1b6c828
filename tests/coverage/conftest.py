"""Coverage tests restore every case from the database at every step (no in-process workflow cache)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestrator import timesource
from orchestrator.services import cases


@pytest.fixture(autouse=True)
def restore_every_step(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each step then deserialises the state its predecessor saved: save -> restore, every time."""
    monkeypatch.setattr(cases.workflow_cache, "take", lambda instance_id, version: None)
    yield


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    """Timers are due on a frozen clock that `Case.fire_timers(after=…)` moves on (the root conftest resets it)."""
    timesource.set_now(timesource.now())
    yield
