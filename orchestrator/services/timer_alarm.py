"""The embedded scheduler's alarm: a commit that adds a timer due before the loop's planned wake-up wakes it.

The scheduler loop sleeps until the next due timer (or its next scan). A case step that creates a timer due
sooner — a `PT5S` boundary timer, a clock retimed by a pause — would otherwise wait for that planned moment,
up to a whole scheduler period late.

In a process without the loop (web workers, Celery pool processes) the loop runs elsewhere: in the Celery
worker that leads the scheduler (`workers/scheduler_leader.py`). A committed timer due within
`ELSEWHERE_WITHIN_S` is then announced to it after commit: `NOTIFY lianban_timer_due` on PostgreSQL, a
datagram to `<database>.scheduler.sock` on SQLite; the leader rings its own alarm (`ring`). Timers due later
cost one comparison: the loop reads the next due time at least once per period anyway.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from orchestrator import timesource
from orchestrator.services.connectors import wake

log = logging.getLogger(__name__)

CHANNEL = "lianban_timer_due"
ELSEWHERE_WITHIN_S = 60.0  # longer than any scheduler period: a later timer is found by the loop's own reads

_LOOKING = datetime.max  # the loop is reading the next due time: any new timer may be earlier
_lock = threading.Lock()
_planned: datetime | None = None


def plan(moment: datetime | None) -> None:
    """The loop's next wake-up (`None`: no loop waits in this process)."""
    global _planned
    with _lock:
        _planned = moment


def looking() -> None:
    """The loop is about to read the next due time: ring for every timer committed meanwhile."""
    plan(_LOOKING)


def _rings_for(due: datetime) -> bool:
    planned = _planned
    if planned is None:
        return False
    return planned is _LOOKING or due < planned


def ring(due: datetime) -> None:
    """A timer due at `due` was committed elsewhere: wake the loop if it plans to sleep past it."""
    if _rings_for(due):
        wake.set()


def socket_path(engine: Engine) -> str | None:
    """Where a SQLite database's scheduler leader listens (None: not a file database)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return os.path.abspath(f"{database}.scheduler.sock")


def _announce(engine: Engine, due: datetime) -> None:
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection:
                connection.execute(select(func.pg_notify(CHANNEL, due.isoformat())))
                connection.commit()
            return
        path = socket_path(engine)
        if path is not None:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
                sender.setblocking(False)
                sender.sendto(due.isoformat().encode(), path)
    except OSError:
        pass  # no leader listening (yet): it reads the next due time within one period
    except Exception:  # the timer is committed; only its promptness is at stake
        log.exception("could not announce a timer to the scheduler leader")


def ring_after_commit(session: Session, dues: Iterable[datetime]) -> None:
    """Wake the loop after this transaction commits if one of these new timers is due before its wake-up."""
    earliest = min(dues, default=None)
    if earliest is None:
        return
    if _planned is None:  # the loop runs in another process
        if (earliest - timesource.now()).total_seconds() < ELSEWHERE_WITHIN_S:
            engine = session.get_bind().engine
            event.listen(session, "after_commit", lambda _session: _announce(engine, earliest),
                         once=True)
        return
    if not _rings_for(earliest):
        return

    def ring(_session: Session) -> None:
        if _rings_for(earliest):
            wake.set()

    event.listen(session, "after_commit", ring, once=True)


__all__ = ["CHANNEL", "ELSEWHERE_WITHIN_S", "looking", "plan", "ring", "ring_after_commit", "socket_path"]
