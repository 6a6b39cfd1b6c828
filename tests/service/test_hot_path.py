"""The hot path stays lean: statements and commits per case are counted, never timed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.diagrams import parallel_diagram
from orchestrator.db import transaction
from orchestrator.errors import ConflictError, InvalidRequestError
from orchestrator.models import AuditEvent, HumanTask, ProcessInstance
from orchestrator.services import case_store, cases, hot_sql
from orchestrator.services.audit import verify_chain
from orchestrator.services.definitions import deploy

BRANCHES = 5
# start: definition, audit, case, tasks, candidates, history; each completion: lock, audit, case, task,
# the task's candidate rows (the department queue's index holds open tasks only), history (the last one
# also inserts the join and end). 37 on this diagram; the bound leaves room for one more statement per
# case, not one more per step. On PostgreSQL a step's writes still go in one round trip.
MAX_STATEMENTS_PER_CASE = 38


@dataclass
class Counts:
    statements: list[str] = field(default_factory=list)
    commits: int = 0

    def selects(self) -> list[str]:
        return [s for s in self.statements if s.lstrip().upper().startswith("SELECT")]


@contextmanager
def counting(app: Flask) -> Iterator[Counts]:
    """Count what reaches the DBAPI: hot statements are dispatched to the same engine events."""
    engine = app.extensions["lianban.engine"]
    counts = Counts()

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE: transaction control, not work
            counts.statements.append(statement)

    def on_commit(_conn: Any) -> None:
        counts.commits += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)


def _task_ids(sessions: sessionmaker[Session], instance_id: str) -> list[str]:
    with transaction(sessions) as session:
        return list(session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance_id)
                                    .order_by(HumanTask.activity_id)))


def _run_case(sessions: sessionmaker[Session], app: Flask) -> tuple[Counts, list[Counts]]:
    with counting(app) as start:
        with transaction(sessions) as session:
            instance = cases.start_case(session, key="parallel5", variables={"applicant": "测试"})
    steps = []
    for task_id in _task_ids(sessions, instance.id):
        with counting(app) as step:
            with transaction(sessions) as session:
                cases.complete_task(session, task_id, {"approved": True}, "审批人")
        steps.append(step)
    with transaction(sessions) as session:
        row = session.get(ProcessInstance, instance.id)
        assert row is not None and row.state == "COMPLETED" and row.version == 1 + BRANCHES
    return start, steps


def test_a_parallel_case_takes_a_bounded_number_of_statements_and_one_commit_per_step(
    app: Flask, sessions: sessionmaker[Session], run_in_tx: Any
) -> None:
    run_in_tx(deploy, {"parallel5.bpmn": parallel_diagram(BRANCHES)})
    _run_case(sessions, app)  # the first case fills the definition cache
    start, steps = _run_case(sessions, app)
    assert len(steps) == BRANCHES
    assert start.commits == 1 and all(step.commits == 1 for step in steps)
    total = len(start.statements) + sum(len(step.statements) for step in steps)
    assert total <= MAX_STATEMENTS_PER_CASE, [start.statements] + [s.statements for s in steps]


def test_a_task_completion_reads_nothing_but_the_locked_case_row(
    app: Flask, sessions: sessionmaker[Session], run_in_tx: Any, is_postgres: bool
) -> None:
    run_in_tx(deploy, {"parallel5.bpmn": parallel_diagram(BRANCHES)})
    _run_case(sessions, app)  # the first case compiles the spec from the definition row, once per process
    start, steps = _run_case(sessions, app)
    assert len(start.selects()) == 1  # the latest definition; the state of a new case is never read back
    for step in steps:
        (lock,) = step.selects()
        assert "process_instance" in lock
        if is_postgres:
            assert "FOR UPDATE" in lock
        assert all("audit_event" not in s or s.startswith("INSERT") for s in step.statements)


@pytest.mark.parametrize("written_behind", [False, True])
def test_a_stale_write_of_a_case_is_refused_and_nothing_of_the_step_is_kept(
    sessions: sessionmaker[Session], run_in_tx: Any, written_behind: bool
) -> None:
    run_in_tx(deploy, {"parallel5.bpmn": parallel_diagram(BRANCHES)})
    instance = run_in_tx(lambda s: cases.start_case(s, key="parallel5"))
    with pytest.raises(ConflictError) as refused, transaction(sessions) as session:
        first = case_store.lock(session, instance.id)
        second = case_store.lock(session, instance.id)  # the same row read twice, as two writers would
        assert first is not None and second is not None
        # Written behind (PostgreSQL), the database checks the version and the commit refuses.
        with hot_sql.batched(session) if written_behind else nullcontext():
            first.state = "SUSPENDED"
            case_store.save(session, first)
            second.state = "TERMINATED"
            case_store.save(session, second)  # read at the old version: refused
    assert refused.value.code == "instance.concurrent_update"
    with transaction(sessions) as session:
        row = session.get(ProcessInstance, instance.id)
        assert row is not None and row.state == "ACTIVE" and row.version == 1


def test_a_database_error_in_a_batch_surfaces_as_sqlalchemy_error_and_rolls_the_step_back(
    sessions: sessionmaker[Session], run_in_tx: Any
) -> None:
    run_in_tx(deploy, {"parallel5.bpmn": parallel_diagram(BRANCHES)})
    instance = run_in_tx(lambda s: cases.start_case(s, key="parallel5"))
    with transaction(sessions) as session:
        before = len(list(session.scalars(select(AuditEvent.id).where(AuditEvent.instance_id == instance.id))))
        task = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)).first()
        assert task is not None
        duplicate = {c.name: getattr(task, c.key) for c in HumanTask.__table__.columns}
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        with hot_sql.batched(session):
            hot_sql.insert_rows(session, AuditEvent.__table__, [  # type: ignore[arg-type]
                {"instance_id": instance.id, "event_type": "test.lost", "actor": None, "at": task.created_at,
                 "payload": {}, "prev_hash": None, "hash": "0" * 64}])
            hot_sql.insert_rows(session, HumanTask.__table__, [duplicate])  # type: ignore[arg-type]
    with transaction(sessions) as session:
        after = len(list(session.scalars(select(AuditEvent.id).where(AuditEvent.instance_id == instance.id))))
        assert after == before


def test_values_written_behind_arrive_exactly_as_given(sessions: sessionmaker[Session], run_in_tx: Any) -> None:
    run_in_tx(deploy, {"parallel5.bpmn": parallel_diagram(BRANCHES)})
    nasty = {
        "quote": "O'Brien '' '; DROP TABLE audit_event; --",
        "backslash": "C:\\temp\\new \\x00ff \\'",
        "percent": "100%% %(id)s %s",
        "unicode": "张三 🧾 \u2028 e\u0301",
        "newline": "第一行\n第二行\r\n",
        "number": 12345678901234,
        "flag": False,
        "nothing": None,
        "nested": {"list": [1, "two", {"three": "'3'"}]},
    }
    instance = run_in_tx(lambda s: cases.start_case(s, key="parallel5", variables=nasty, business_key="B-'1'\\"))
    task_id = _task_ids(sessions, instance.id)[0]
    run_in_tx(lambda s: cases.complete_task(s, task_id, {"comment'\\": "同意"}, "审批人 'x'"))
    with transaction(sessions) as session:
        row = session.get(ProcessInstance, instance.id)
        assert row is not None and row.business_key == "B-'1'\\"
        assert {k: row.variables[k] for k in nasty} == nasty
        task = session.get(HumanTask, task_id)
        assert task is not None and task.completed_by == "审批人 'x'" and task.business_key == "B-'1'\\"
        assert verify_chain(session, instance.id) is None  # every payload stored as hashed


def test_a_nul_character_is_never_rendered_into_a_statement() -> None:
    # libpq would end the message at the NUL; the request layer refuses it first (tests/api/test_bad_input.py).
    with pytest.raises(InvalidRequestError) as refused:
        hot_sql._literal("同意\x00'; DROP TABLE audit_event; --", None)
    assert refused.value.code == "request.nul_character"
