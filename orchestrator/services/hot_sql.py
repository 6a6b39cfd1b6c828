"""The hot path's SQL: Core statements compiled once per dialect and run on the raw DBAPI cursor.

Every step of a case locks its row, appends audit events, writes the row back and updates a few
projection rows. SQLAlchemy's per-statement machinery (cache key, execution context, result set-up)
costs more than PostgreSQL spends on such statements, and on a busy machine every network round
trip costs far more than the statement. So these statements are compiled once per dialect and
executed on the DBAPI connection the session's transaction already holds (same connection, same
transaction, same locks), and on PostgreSQL (after `install(engine)`) a step is two round trips:

- the transaction's BEGIN travels with its first hot read, the case lock: `BEGIN; SELECT … FOR UPDATE`;
- the writes of `batched(session)` are written behind: rendered into the connection's buffer (values
  quoted as literals, standard_conforming_strings on) and sent as one message with the next
  statement of the transaction, or with its COMMIT: `INSERT …; UPDATE …; COMMIT`.
Nothing is durable before the commit either way, so a crash loses nothing more than it would have;
a rollback drops the buffer. On SQLite (a local file, no network) the statements just run.

The hot-path rules:
- A hot statement binds every value explicitly (`bindparam`); inserts go through `insert_rows`,
  which applies the columns' Python-side defaults as the ORM would.
- Inside `batched(session)` write only. A database error of a batched statement surfaces with the
  next statement of the transaction or at the commit, and so does the refusal of a statement that
  must change one row (`execute_checked`, checked by the database). Every later statement of the
  transaction, through the session or not, sends the buffer first, so reads after the block see
  the writes.
- Listeners of the engine's `before_cursor_execute` / `after_cursor_execute` events still see every
  hot statement (with `context=None`), so statement counts stay honest.
"""

from __future__ import annotations

import functools
import json
import re
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.dbapi20 import Binary as _Binary
from psycopg.types.json import Json as _Json
from sqlalchemy import Table, bindparam, event, insert
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from orchestrator.errors import InvalidRequestError

Processor = Callable[[Any], Any]
_BATCH_KEY = "lianban.hot_sql.batch"
_BUFFER_KEY = "lianban.hot_sql.buffer"
_BEGIN_KEY = "lianban.hot_sql.begin"
_AHEAD_KEY = "lianban.hot_sql.ahead"  # a read sent ahead whose result is not collected yet


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


# --- the write-behind buffer (PostgreSQL) ------------------------------------------------------------------


@dataclass
class _Buffer:
    """Rendered statements waiting for the next round trip of their connection's transaction."""

    statements: list[str] = field(default_factory=list)
    refusals: list[Callable[[], Exception]] = field(default_factory=list)  # of the checked statements

    def take(self) -> tuple[str, list[Callable[[], Exception]]]:
        text = ";\n".join(self.statements)
        refusals = self.refusals
        self.statements, self.refusals = [], []
        return text, refusals


_installed: weakref.WeakSet[Engine] = weakref.WeakSet()


def install(engine: Engine) -> None:
    """Let the engine's transactions write behind and begin with their first round trip (psycopg only).

    The connections run in psycopg's autocommit mode and the transaction is opened by an explicit
    BEGIN that travels with the transaction's first statement: a case step is then two round trips,
    `BEGIN; SELECT … FOR UPDATE` and `writes; COMMIT`. Call it right after creating the engine,
    before its first connection.
    """
    if engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg" or engine in _installed:
        return

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.autocommit = True  # BEGIN is ours: see on_begin

    def on_begin(connection: Connection) -> None:
        connection.info[_BEGIN_KEY] = True  # sent with the transaction's first statement

    def before_statement(connection: Connection, _cursor: Any, _statement: str, _parameters: Any,
                         context: Any, _many: bool) -> None:
        if context is not None:  # hot_sql's own statements pass no context and send the buffer themselves
            _send(connection)

    def on_commit(connection: Connection) -> None:
        _send(connection, commit=True)

    def on_rollback(connection: Connection) -> None:
        _abandon(connection.info)
        _forget(connection.info)

    def on_reset(_dbapi_connection: Any, record: Any, _reset_state: Any) -> None:
        _abandon(record.info)
        _forget(record.info)

    event.listen(engine.pool, "connect", on_connect)
    event.listen(engine, "begin", on_begin)
    event.listen(engine, "before_cursor_execute", before_statement)
    event.listen(engine, "commit", on_commit)
    event.listen(engine, "rollback", on_rollback)
    event.listen(engine.pool, "reset", on_reset)
    _installed.add(engine)


def _abandon(info: dict[str, Any]) -> None:
    """Drain a read sent ahead whose result nobody wants any more (the transaction is going away)."""
    pending = info.pop(_AHEAD_KEY, None)
    if pending is not None:
        pending.collect(quietly=True)


def _forget(info: dict[str, Any]) -> None:
    info.pop(_BEGIN_KEY, None)
    info.pop(_BUFFER_KEY, None)


def _writes_behind(connection: Connection) -> bool:
    return connection.engine in _installed


def _message(connection: Connection, commit: bool = False,
             then: str | None = None) -> tuple[str, list[Callable[[], Exception]]] | None:
    """The text of the next round trip: the pending BEGIN, the buffered statements, then `then` or the COMMIT.

    None when there is nothing to send. Takes the BEGIN and the buffer off the connection.
    """
    info = connection.info
    parts = ["BEGIN"] if info.pop(_BEGIN_KEY, False) else []
    buffer: _Buffer | None = info.get(_BUFFER_KEY)
    refusals: list[Callable[[], Exception]] = []
    if buffer is not None and buffer.statements:
        text, refusals = buffer.take()
        parts.append(text)
    if then is not None:
        parts.append(then)
    elif not parts or parts == ["BEGIN"] and commit:
        return None  # nothing to send; a transaction that ran no statement has nothing to commit
    elif commit:
        parts.append("COMMIT")
    return ";\n".join(parts), refusals


def _raise_for(connection: Connection, text: str, refusals: list[Callable[[], Exception]], error: Any) -> None:
    if refusals and getattr(error, "sqlstate", None) == "22012":  # the check of `execute_checked`
        raise refusals[0]() from error
    raise _wrapped(connection, text, None, error) from error


def settle(connection: Connection) -> None:
    """Collect a read sent ahead on this connection (see `read_ahead`) before anything else is sent."""
    pending = connection.info.pop(_AHEAD_KEY, None)
    if pending is not None:
        pending.collect()


def _send(connection: Connection, commit: bool = False, then: str | None = None) -> Any:
    """One round trip: the pending BEGIN, the buffered statements, then `then` or the COMMIT.

    Sent as one simple-protocol message (values are quoted into the text). Returns the cursor, on
    the result of `then` when given.
    """
    settle(connection)
    message = _message(connection, commit, then)
    if message is None:
        return None
    text, refusals = message
    raw: Any = connection.connection.driver_connection
    cursor = raw.cursor()
    try:
        cursor.execute(text, prepare=False)
    except connection.dialect.loaded_dbapi.Error as error:
        _raise_for(connection, text, refusals, error)
    while cursor.nextset():
        pass  # on the last result: `then`'s
    return cursor


_PLACEHOLDER = re.compile(r"%\(([^)]+)\)s")


@functools.lru_cache(maxsize=256)
def _template(sql: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split a pyformat statement into its text pieces and the parameter names between them."""
    pieces = _PLACEHOLDER.split(sql)
    return tuple(piece.replace("%%", "%") for piece in pieces[0::2]), tuple(pieces[1::2])


def _quote(text: str) -> str:
    if "\x00" in text:  # PostgreSQL text cannot hold it, and libpq would cut the message there
        raise InvalidRequestError("文本中不能包含空字符（NUL）", "Text values cannot contain NUL characters",
                                  code="request.nul_character")
    return "'" + text.replace("'", "''") + "'"


def _bytea(value: Any) -> str:
    return "'\\x" + bytes(value).hex() + "'::bytea"


def _json(value: _Json) -> str:
    # SQLAlchemy's JSON bind value; with no dumps of its own psycopg would json.dumps it too
    text = json.dumps(value.obj) if value.dumps is None else value.dumps(value.obj)
    return _quote(text if isinstance(text, str) else bytes(text).decode())


# By exact type: the hot path renders a few hundred values per case.
_LITERALS: dict[type, Callable[[Any], str]] = {
    type(None): lambda _value: "NULL",
    str: _quote,
    bool: lambda value: "true" if value else "false",
    int: str,
    datetime: lambda value: _quote(value.isoformat()),
    bytes: _bytea,
    bytearray: _bytea,
    memoryview: _bytea,
    _Json: _json,
    _Binary: lambda value: _literal(value.obj, None),
}


def _literal(value: Any, raw: Any) -> str:
    """A PostgreSQL literal (standard_conforming_strings on: a quote is doubled, a backslash is itself)."""
    render = _LITERALS.get(type(value))
    if render is not None:
        return render(value)
    for kind in (str, bool, int, datetime, bytes):  # subclasses (an enum.StrEnum, an IntEnum)
        if isinstance(value, kind):
            return _LITERALS[kind](value)
    from psycopg.sql import Literal  # anything else: psycopg's own adaptation

    return str(Literal(value).as_string(raw))


def _render(raw: Any, sql: str, parameters: Mapping[str, Any]) -> str:
    if raw.info.parameter_status("standard_conforming_strings") != "on":
        raise RuntimeError("hot_sql needs standard_conforming_strings = on")
    texts, names = _template(sql)
    out = [texts[0]]
    for name, text in zip(names, texts[1:], strict=True):
        out.append(_literal(parameters[name], raw))
        out.append(text)
    return "".join(out)


# --- execution ---------------------------------------------------------------------------------------------


def _connection(session: Session) -> tuple[Connection, Any]:
    connection = session.connection()  # begins the session's transaction if it has not begun
    return connection, connection.connection.driver_connection


def _dispatch(connection: Connection, when: str, cursor: Any, sql: str, parameters: Any, many: bool) -> None:
    if connection._has_events or connection.engine._has_events:
        getattr(connection.dispatch, when)(connection, cursor, sql, parameters if many else parameters[0], None, many)


def _run(session: Session, statement: HotStatement, rows: Sequence[Mapping[str, Any]], many: bool,
         refused: Callable[[], Exception] | None = None, read: bool = False) -> Any:
    """Buffer (a write inside `batched`, written behind), or execute now and return the cursor.

    A read that opens the transaction travels with its BEGIN (and any buffered writes): one round trip.
    """
    connection, raw = _connection(session)
    compiled = statement.compiled(connection.dialect)
    parameters = [_parameters(compiled, row) for row in rows]
    behind = _writes_behind(connection)
    if behind and not read and session.info.get(_BATCH_KEY):
        _dispatch(connection, "before_cursor_execute", None, compiled.sql, parameters, many)
        buffer = connection.info.setdefault(_BUFFER_KEY, _Buffer())
        sql = compiled.sql
        if refused is not None:  # fails with division_by_zero unless exactly one row changed
            sql = f"WITH changed AS ({sql} RETURNING 1) SELECT 1 / count(*) FROM changed"
            buffer.refusals.append(refused)
        buffer.statements.extend(_render(raw, sql, values) for values in parameters)
        return None
    if behind and read and _BEGIN_KEY in connection.info:
        _dispatch(connection, "before_cursor_execute", None, compiled.sql, parameters, many)
        cursor = _send(connection, then=_render(raw, compiled.sql, parameters[0]))
        _dispatch(connection, "after_cursor_execute", cursor, compiled.sql, parameters, many)
        return cursor
    if behind:
        _send(connection)
    cursor = raw.cursor()
    _dispatch(connection, "before_cursor_execute", cursor, compiled.sql, parameters, many)
    try:
        if many:
            cursor.executemany(compiled.sql, parameters)
        else:
            cursor.execute(compiled.sql, parameters[0])
    except connection.dialect.loaded_dbapi.Error as error:
        raise _wrapped(connection, compiled.sql, parameters, error) from error
    _dispatch(connection, "after_cursor_execute", cursor, compiled.sql, parameters, many)
    if refused is not None and cursor.rowcount != 1:
        raise refused()
    return cursor


def _wrapped(connection: Connection, sql: str, parameters: Any, error: Any) -> StatementError:
    """Raise DBAPI errors as SQLAlchemy's, as a statement run through the session would."""
    disconnected = connection.dialect.is_disconnect(error, connection.connection.dbapi_connection, None)
    if disconnected:
        connection.invalidate(error)
    wrapped: StatementError = DBAPIError.instance(sql, parameters, error, connection.dialect.loaded_dbapi.Error,
                                                  connection_invalidated=disconnected, dialect=connection.dialect)
    return wrapped


def execute(session: Session, statement: HotStatement, params: Mapping[str, Any]) -> None:
    _run(session, statement, [params], many=False)


def execute_checked(session: Session, statement: HotStatement, params: Mapping[str, Any],
                    refused: Callable[[], Exception]) -> None:
    """Run an UPDATE or DELETE that must change exactly one row, else raise `refused()`.

    Inside `batched` on PostgreSQL the check runs in the database, and the error is raised when the
    buffer is sent (at the latest with the COMMIT, which then does not happen).
    """
    _run(session, statement, [params], many=False, refused=refused)


def executemany(session: Session, statement: HotStatement, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        _run(session, statement, rows, many=True)


def fetch_one(session: Session, statement: HotStatement, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """Run a SELECT now and return its first row with the column types' result processing applied."""
    cursor = _run(session, statement, [params], many=False, read=True)
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
    """Write the block's hot statements behind (PostgreSQL): they go with the transaction's next round trip.

    Elsewhere (SQLite, a local file) the statements simply run one by one.
    """
    if session.info.get(_BATCH_KEY):
        yield
        return
    session.info[_BATCH_KEY] = True
    try:
        yield
    finally:
        session.info[_BATCH_KEY] = False
