"""One controllable clock for everything that asks "what time is it": the scheduler, the statutory clock,
step limits, the engine's timers and the working-day functions of expressions.

In production `now()` is the system clock. Tests (and the test-only HTTP hook `PUT /api/test/clock`,
available only when `TESTING` or `LIANBAN_TEST_HOOKS=1`) freeze it at a moment or shift it by an offset,
so that "20 working days later" can be tested without waiting 20 working days. The setting is
per process and can also be given to a child process (a Celery worker) in `LIANBAN_NOW` (ISO 8601:
frozen at that moment) or `LIANBAN_NOW_OFFSET_S` (seconds added to the system clock).

SpiffWorkflow reads `datetime.now(timezone.utc)` inside its timer module; `install_engine_clock()`
points that module at this clock, so an engine timer is due exactly when the scheduler thinks it is.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

_lock = threading.Lock()
_frozen: datetime | None = None
_offset = timedelta(0)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def now() -> datetime:
    """The current moment, timezone-aware UTC."""
    frozen = _frozen
    if frozen is not None:
        return frozen
    return datetime.now(UTC) + _offset


def is_controlled() -> bool:
    return _frozen is not None or _offset != timedelta(0)


def set_now(moment: datetime) -> None:
    """Freeze the clock at `moment` (naive values are UTC)."""
    global _frozen
    with _lock:
        _frozen = _aware(moment)


def set_offset(offset: timedelta) -> None:
    """Let the clock run, shifted by `offset` from the system clock."""
    global _frozen, _offset
    with _lock:
        _frozen, _offset = None, offset


def advance(delta: timedelta) -> datetime:
    """Move the clock forward (frozen: to a new frozen moment; running: a larger offset)."""
    global _frozen, _offset
    with _lock:
        if _frozen is not None:
            _frozen = _frozen + delta
            return _frozen
        _offset += delta
    return now()


def reset() -> None:
    """Back to the system clock."""
    global _frozen, _offset
    with _lock:
        _frozen, _offset = None, timedelta(0)


@contextmanager
def frozen_at(moment: datetime) -> Iterator[datetime]:
    """Freeze the clock for a block, then go back to what it was."""
    global _frozen, _offset
    with _lock:
        saved = (_frozen, _offset)
    set_now(moment)
    try:
        yield now()
    finally:
        with _lock:
            _frozen, _offset = saved


def describe() -> dict[str, Any]:
    return {"now": now().isoformat(), "frozen": _frozen is not None, "offset_s": _offset.total_seconds()}


def configure_from_env(environ: dict[str, str] | None = None) -> None:
    """Take a child process's clock from `LIANBAN_NOW` / `LIANBAN_NOW_OFFSET_S` (tests start workers so)."""
    env = environ if environ is not None else dict(os.environ)
    fixed = env.get("LIANBAN_NOW", "").strip()
    offset = env.get("LIANBAN_NOW_OFFSET_S", "").strip()
    if fixed:
        set_now(datetime.fromisoformat(fixed.replace("Z", "+00:00")))
    elif offset:
        set_offset(timedelta(seconds=float(offset)))


class _EngineDatetime(datetime):
    """`datetime` whose `now()` is this module's clock: what SpiffWorkflow's timer module sees."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        moment = now()
        local = moment.astimezone(tz) if tz is not None else moment.astimezone().replace(tzinfo=None)
        return local


_installed = False


def install_engine_clock() -> None:
    """Point SpiffWorkflow's timer evaluation at this clock (idempotent)."""
    global _installed
    if _installed:
        return
    from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer

    spiff_timer.datetime = _EngineDatetime
    _installed = True


__all__ = ["advance", "configure_from_env", "describe", "frozen_at", "install_engine_clock", "is_controlled",
           "now", "reset", "set_now", "set_offset"]
