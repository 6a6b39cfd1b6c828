"""The embedded scheduler's alarm: a commit that adds a timer due before the loop's planned wake-up wakes it.

The scheduler loop sleeps until the next due timer (or its next scan). A case step that creates a timer due
sooner — a `PT5S` boundary timer, a clock retimed by a pause — would otherwise wait for that planned moment,
up to a whole scheduler period late. Outside the embedded loop (web workers, Celery) nothing is planned
and this costs one comparison per step that adds timers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.orm import Session

from orchestrator.services.connectors import wake

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


def ring_after_commit(session: Session, dues: Iterable[datetime]) -> None:
    """Wake the loop after this transaction commits if one of these new timers is due before its wake-up."""
    earliest = min(dues, default=None)
    if earliest is None or not _rings_for(earliest):
        return

    def ring(_session: Session) -> None:
        if _rings_for(earliest):
            wake.set()

    event.listen(session, "after_commit", ring, once=True)


__all__ = ["looking", "plan", "ring_after_commit"]
