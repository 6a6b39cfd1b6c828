"""A hot read sent ahead: PostgreSQL works on it while the caller computes, the caller collects it later.

A case step first locks its case row (`BEGIN; SELECT … FOR UPDATE`), then runs the engine. With the
case's workflow in the process's cache, the engine work does not need the row: the step sends the
lock, runs the engine on the cached workflow meanwhile, and then collects the row and checks that
its version is the one the cached workflow was saved at. If it is not, the work is thrown away and
done again on the stored state. Nothing is written before the row is locked and checked, so the
overlap changes the step's latency, not its outcome.

Only with `hot_sql.install`ed engines (psycopg, PostgreSQL); elsewhere the read runs at once.
The connection carries the sent read until it is collected; every other statement on the
connection collects it first (`hot_sql.settle`), and a rollback or a return to the pool drains it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import errors as pg_errors
from psycopg import generators
from psycopg.adapt import Transformer
from psycopg.pq import ExecStatus
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from orchestrator.services import hot_sql


class PendingRow:
    """The first row of a read, available when the database has answered."""

    def __init__(self, connection: Connection | None = None, raw: Any = None, text: str = "",
                 refusals: list[Any] | None = None, processors: tuple[Any, ...] = ()) -> None:
        self._connection, self._raw, self._text = connection, raw, text
        self._refusals = refusals or []
        self._processors = processors
        self._row: tuple[Any, ...] | None = None
        self._error: BaseException | None = None
        self._collected = connection is None

    @classmethod
    def ready(cls, row: tuple[Any, ...] | None) -> PendingRow:
        pending = cls()
        pending._row = row
        return pending

    def collect(self, quietly: bool = False) -> None:
        """Wait for the answer (once); errors are kept for `row()` unless `quietly`."""
        if self._collected:
            return
        self._collected = True
        raw, connection = self._raw, self._connection
        assert connection is not None
        try:
            results = raw.wait(generators.fetch_many(raw.pgconn))
            last = None
            for result in results:
                if result.status == ExecStatus.FATAL_ERROR:
                    raise pg_errors.error_from_result(result, encoding=raw.pgconn._encoding)
                last = result
            assert last is not None and last.status == ExecStatus.TUPLES_OK
            if last.ntuples:
                loader = Transformer(raw)
                loader.set_pgresult(last)
                values = loader.load_row(0, tuple)
                self._row = tuple(value if processor is None else processor(value)
                                  for processor, value in zip(self._processors, values, strict=True))
        except connection.dialect.loaded_dbapi.Error as error:
            if quietly:
                return
            try:
                hot_sql._raise_for(connection, self._text, self._refusals, error)
            except Exception as raised:  # noqa: BLE001 - kept and raised by row()
                self._error = raised
        except BaseException as error:  # noqa: BLE001 - kept and raised by row(): a broken connection
            if not quietly:
                self._error = error

    def row(self) -> tuple[Any, ...] | None:
        if self._connection is not None:
            hot_sql.settle(self._connection)  # collects this read if it is still the connection's
            self.collect()
        if self._error is not None:
            raise self._error
        return self._row


def fetch_one_ahead(session: Session, statement: hot_sql.HotStatement, params: Mapping[str, Any]) -> PendingRow:
    """Send a SELECT (with the transaction's BEGIN and buffered writes) now; collect its first row later."""
    connection = session.connection()
    if not hot_sql._writes_behind(connection):
        return PendingRow.ready(hot_sql.fetch_one(session, statement, params))
    hot_sql.settle(connection)
    raw: Any = connection.connection.driver_connection
    compiled = statement.compiled(connection.dialect)
    parameters = hot_sql._parameters(compiled, params)
    hot_sql._dispatch(connection, "before_cursor_execute", None, compiled.sql, [parameters], False)
    message = hot_sql._message(connection, then=hot_sql._render(raw, compiled.sql, parameters))
    assert message is not None
    text, refusals = message
    pending = PendingRow(connection, raw, text, refusals, compiled.result)
    try:
        raw.pgconn.send_query(text.encode(raw.info.encoding))
        raw.wait(generators.send(raw.pgconn))
    except connection.dialect.loaded_dbapi.Error as error:
        raise hot_sql._wrapped(connection, text, None, error) from error
    connection.info[hot_sql._AHEAD_KEY] = pending
    hot_sql._dispatch(connection, "after_cursor_execute", None, compiled.sql, [parameters], False)
    return pending
