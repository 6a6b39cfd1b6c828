"""Network round trips to PostgreSQL, counted from libpq's protocol trace (for the benchmarks' figures)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


def count_round_trips(engine: Engine, action: Callable[[], None]) -> int | None:
    """How many round trips `action` makes through `engine`'s pool; None when it is not PostgreSQL.

    A round trip is one turn from client messages (F) to server messages (B) in the trace.
    """
    if engine.dialect.name != "postgresql":
        return None
    from psycopg.pq import Trace

    with tempfile.TemporaryFile("w+") as trace:
        def on_checkout(dbapi_connection: Any, *_args: Any) -> None:
            dbapi_connection.pgconn.trace(trace.fileno())
            dbapi_connection.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)

        def on_checkin(dbapi_connection: Any, *_args: Any) -> None:
            dbapi_connection.pgconn.untrace()

        event.listen(engine.pool, "checkout", on_checkout)
        event.listen(engine.pool, "checkin", on_checkin)
        try:
            action()
        finally:
            event.remove(engine.pool, "checkout", on_checkout)
            event.remove(engine.pool, "checkin", on_checkin)
        trace.seek(0)
        turns, previous = 0, ""
        for line in trace:
            side = line[:1]
            if side == "B" and previous == "F":
                turns += 1
            if side in "FB":
                previous = side
    return turns
