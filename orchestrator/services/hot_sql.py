"""The hot path's SQL: Core statements compiled once per dialect and run on the raw DBAPI cursor.

Every step of a case locks its row, appends audit events, writes the row back and updates a few
projection rows. SQLAlchemy's per-statement machinery (cache key, execution context, result set-up)
costs more than PostgreSQL spends on such statements, and each statement is a network round trip.
So these statements are compiled once per dialect and executed on the DBAPI connection the
session's transaction already holds (same connection, same transaction, same locks), and on
PostgreSQL the writes of a step are sent together in psycopg's pipeline mode.

The hot-path rules:
- A hot statement binds every value explicitly (`bindparam`); inserts go through `insert_rows`,
  which applies the columns' Python-side defaults as the ORM would.
- Inside `batched(session)` statements are queued and sent in one round trip when the block ends;
  a database error surfaces there. Code inside a batched block must not read rows at all (a
  SELECT through the session gets no rows in pipeline mode), nor flush ORM objects whose keys the
  database generates; the row counts of its statements are known only after the block.
- Listeners of the engine's `before_cursor_execute` / `after_cursor_execute` events still see every
  hot statement (with `context=None`), so statement counts stay honest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

Processor = Callable[[Any], Any]
_PIPELINE_KEY = "lianban.hot_sql.pipeline"


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # parameter names, in order for positional paramstyles
    positional: bool
    bind: tuple[tuple[str, Processor], ...]  # (name, processor) of the parameters that need one
    result: tuple[Processor | None, ...]  # per selected column


class HotStatement:
    """A Core statement with explicit bind parameters, compiled once per dialect."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = _compile(self.statement, dialect)
        return found


def _compile(statement: Executable, dialect: Dialect) -> _Compiled:
    # for_executemany: no RETURNING of generated keys; the hot path never reads them back.
    compiled: Any = statement.compile(dialect=dialect, compile_kwargs={}, for_executemany=True)  # type: ignore[attr-defined]
    binds = compiled.binds
    positional = bool(dialect.positional)
    names = tuple(compiled.positiontup) if positional else tuple(binds)
    bind = []
    for name in set(names):
        processor = binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            bind.append((name, processor))
    columns = getattr(statement, "selected_columns", None) or []
    result = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns)
    return _Compiled(compiled.string, names, positional, tuple(bind), result)


def _parameters(compiled: _Compiled, params: Mapping[str, Any]) -> Any:
    if compiled.bind:
        params = dict(params)
        for name, processor in compiled.bind:
            params[name] = processor(params[name])
    if compiled.positional:
        return tuple(params[name] for name in compiled.names)
    return params


def _connection(session: Session) -> tuple[Connection, Any]:
    connection = session.connection()  # begins the session's transaction if it has not begun
    return connection, connection.connection.driver_connection


def _run(session: Session, statement: HotStatement, rows: Sequence[Mapping[str, Any]], many: bool) -> Any:
    connection, raw = _connection(session)
    compiled = statement.compiled(connection.dialect)
    parameters = [_parameters(compiled, row) for row in rows]
    cursor = raw.cursor()
    dispatch = connection.dispatch
    if connection._has_events or connection.engine._has_events:
        dispatch.before_cursor_execute(connection, cursor, compiled.sql, parameters if many else parameters[0],
                                       None, many)
    try:
        if many:
            cursor.executemany(compiled.sql, parameters)
        else:
            cursor.execute(compiled.sql, parameters[0])
    except connection.dialect.loaded_dbapi.Error as error:
        raise _wrapped(connection, compiled.sql, parameters, error) from error
    if connection._has_events or connection.engine._has_events:
        dispatch.after_cursor_execute(connection, cursor, compiled.sql, parameters if many else parameters[0],
                                      None, many)
    return cursor


def _wrapped(connection: Connection, sql: str, parameters: Any, error: Any) -> StatementError:
    """Raise DBAPI errors as SQLAlchemy's, as a statement run through the session would."""
    disconnected = connection.dialect.is_disconnect(error, connection.connection.dbapi_connection, None)
    if disconnected:
        connection.invalidate(error)
    wrapped: StatementError = DBAPIError.instance(sql, parameters, error, connection.dialect.loaded_dbapi.Error,
                                                  connection_invalidated=disconnected, dialect=connection.dialect)
    return wrapped


def execute(session: Session, statement: HotStatement, params: Mapping[str, Any]) -> Any:
    """Run one statement; returns the DBAPI cursor (inside `batched`, its row count is set when the block ends)."""
    return _run(session, statement, [params], many=False)


def executemany(session: Session, statement: HotStatement, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        _run(session, statement, rows, many=True)


def fetch_one(session: Session, statement: HotStatement, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """Run a SELECT and return its first row with the column types' result processing applied."""
    cursor = execute(session, statement, params)
    row = cursor.fetchone()
    if row is None:
        return None
    processors = statement.compiled(session.get_bind().dialect).result
    return tuple(value if processor is None else processor(value)
                 for processor, value in zip(processors, row, strict=True))


class _InsertCache:
    """Insert statements by table and column set, with the Python-side defaults of the columns left out."""

    def __init__(self) -> None:
        self._statements: dict[tuple[str, frozenset[str]], tuple[HotStatement, dict[str, Any]]] = {}

    def get(self, table: Table, keys: frozenset[str]) -> tuple[HotStatement, dict[str, Any]]:
        found = self._statements.get((table.name, keys))
        if found is None:
            defaults: dict[str, Any] = {}
            for column in table.columns:
                default = column.default
                if column.name in keys or default is None or not hasattr(default, "arg"):
                    continue
                defaults[column.name] = default.arg  # a scalar, or a callable that takes the context
            columns = keys | set(defaults)
            statement = insert(table).values({name: bindparam(name) for name in sorted(columns)})
            found = self._statements[(table.name, keys)] = (HotStatement(statement), defaults)
        return found


_inserts = _InsertCache()


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows that share one set of keys; missing columns get their Python-side default."""
    if not rows:
        return
    statement, defaults = _inserts.get(table, frozenset(rows[0]))
    if defaults:
        rows = [{**{name: value(None) if callable(value) else value for name, value in defaults.items()}, **row}
                for row in rows]
    executemany(session, statement, rows)


@contextmanager
def batched(session: Session) -> Iterator[None]:
    """Queue the statements of the block and send them in one round trip at its end (PostgreSQL).

    Elsewhere (SQLite) the statements simply run one by one.
    """
    connection, raw = _connection(session)
    if not hasattr(raw, "pipeline") or session.info.get(_PIPELINE_KEY):
        yield
        return
    session.info[_PIPELINE_KEY] = True
    try:
        with raw.pipeline():
            yield
    except connection.dialect.loaded_dbapi.Error as error:
        raise _wrapped(connection, "(pipeline)", None, error) from error
    finally:
        session.info[_PIPELINE_KEY] = False
