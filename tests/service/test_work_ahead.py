"""A completion works on the cached workflow while its lock travels; the lock decides whether that work counts.

These tests run with the workflow cache on (the rest of the suite runs without it, so that every
step restores its case from the database).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.diagrams import parallel_diagram
from orchestrator.db import transaction
from orchestrator.engine.runtime import CaseRuntime
from orchestrator.models import ActivityInstance, AuditEvent, HumanTask, ProcessInstance
from orchestrator.services import cases
from orchestrator.services.cases import workflow_cache
from orchestrator.services.definitions import deploy
from tests.api.test_task_claims import _case

BRANCHES = 5


@pytest.fixture()
def cached(app: Flask) -> Iterator[None]:
    workflow_cache.capacity = 100
    try:
        yield
    finally:
        workflow_cache.capacity = 0
        workflow_cache._entries.clear()
        workflow_cache._by_task.clear()


@pytest.fixture()
def restores(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The case states restored from the database (a cache miss, or work ahead thrown away)."""
    seen: list[str] = []
    original = CaseRuntime.restore

    def counting(state: bytes, *args: Any, **kwargs: Any) -> CaseRuntime:
        seen.append("restore")
        return original(state, *args, **kwargs)

    monkeypatch.setattr(CaseRuntime, "restore", staticmethod(counting))
    return seen


def _open_tasks(sessions: sessionmaker[Session], instance_id: str) -> list[str]:
    with transaction(sessions) as session:
        return list(session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance_id,
                                                               HumanTask.state == "CREATED")
                                    .order_by(HumanTask.activity_id)))


def test_work_ahead_on_a_workflow_cached_before_another_writer_is_thrown_away(
    cached: None, restores: list[str], sessions: sessionmaker[Session], run_in_tx: Any
) -> None:
    run_in_tx(deploy, {"parallel5.bpmn": parallel_diagram(BRANCHES)})
    instance = run_in_tx(lambda s: cases.start_case(s, key="parallel5"))
    first, second, third, *rest = _open_tasks(sessions, instance.id)
    run_in_tx(lambda s: cases.complete_task(s, first, {"approved": True}, "甲"))
    assert restores == []  # the started case was cached, and so is the state after the first step

    # Another server process completes the second task: this process's cached workflow is now stale.
    stale = workflow_cache.take(instance.id, 2)
    assert stale is not None
    workflow_cache.capacity = 0
    run_in_tx(lambda s: cases.complete_task(s, second, {"approved": True}, "乙"))
    workflow_cache.capacity = 100
    with transaction(sessions) as session:
        workflow_cache.put_after_commit(session, instance.id, 2, stale, frozenset(stale.snapshot().user_tasks))
    restores.clear()

    # The third completion works ahead on the stale workflow (where the second task is still open),
    # then the lock reads version 3: the work is thrown away and done again on the stored state.
    run_in_tx(lambda s: cases.complete_task(s, third, {"approved": True}, "丙"))
    assert restores == ["restore"]
    assert _open_tasks(sessions, instance.id) == rest  # the second task stayed completed
    for task_id in rest:
        run_in_tx(lambda s, task_id=task_id: cases.complete_task(s, task_id, {"approved": True}, "丁"))
    assert restores == ["restore"]  # the later steps found their workflow in the cache again
    with transaction(sessions) as session:
        row = session.get(ProcessInstance, instance.id)
        assert row is not None and row.state == "COMPLETED" and row.version == 1 + BRANCHES
        joins = session.scalars(select(ActivityInstance.activity_id).where(
            ActivityInstance.instance_id == instance.id, ActivityInstance.activity_id == "join"))
        assert len(list(joins)) == 1
        completed_by = dict(session.execute(select(HumanTask.id, HumanTask.completed_by)
                                            .where(HumanTask.instance_id == instance.id)).all())
        assert completed_by[second] == "乙" and completed_by[third] == "丙"


def test_a_completion_refused_after_working_ahead_changes_nothing(
    cached: None, client: FlaskClient, client_as: Callable[..., FlaskClient],
    sessions: sessionmaker[Session],
) -> None:
    case_id, task = _case(client)
    first = client_as("reviewer", departments=["township-tiantan"], username="first")
    second = client_as("reviewer", departments=["township-tiantan"], username="second")
    assert first.post(f"/engine-rest/task/{task['id']}/claim", json={}).status_code == 204
    with transaction(sessions) as session:
        before = session.get(ProcessInstance, case_id)
        assert before is not None
        state, version = before.engine_state, before.version
    assert case_id in workflow_cache._entries  # the refused completion will work ahead on it
    refused = second.post(f"/engine-rest/task/{task['id']}/complete", json={})
    assert refused.status_code == 403 and refused.get_json()["code"] == "task.not_assignee"
    with transaction(sessions) as session:
        after = session.get(ProcessInstance, case_id)
        assert after is not None and (after.engine_state, after.version) == (state, version)
        kinds = list(session.scalars(select(AuditEvent.event_type).where(AuditEvent.instance_id == case_id)))
        assert "task.completed" not in kinds
    # The refused step's workflow (completed in memory) never went back to the cache: the next
    # step restores the stored state and completes the task once.
    assert case_id not in workflow_cache._entries
    assert first.post(f"/engine-rest/task/{task['id']}/complete", json={}).status_code == 204
    with transaction(sessions) as session:
        kinds = list(session.scalars(select(AuditEvent.event_type).where(AuditEvent.instance_id == case_id)))
        assert kinds.count("task.completed") == 1


def test_a_start_on_the_version_last_seen_is_redone_when_a_newer_one_was_deployed_elsewhere(
    cached: None, sessions: sessionmaker[Session], run_in_tx: Any
) -> None:
    from orchestrator.services.definitions import definition_cache

    run_in_tx(deploy, {"p.bpmn": parallel_diagram(2, key="versioned")})
    first = run_in_tx(lambda s: cases.start_case(s, key="versioned"))  # this process now knows version 1
    # Another process deploys version 2 (three branches); this process has not read it yet.
    run_in_tx(deploy, {"p.bpmn": parallel_diagram(3, key="versioned")})
    seen = definition_cache.latest_seen("versioned")
    assert seen is not None and seen.id == first.definition_id
    second = run_in_tx(lambda s: cases.start_case(s, key="versioned"))  # runs ahead on version 1, then redoes
    assert second.definition_id != first.definition_id
    assert len(_open_tasks(sessions, second.id)) == 3 and len(_open_tasks(sessions, first.id)) == 2
    with transaction(sessions) as session:
        kinds = list(session.scalars(select(AuditEvent.event_type).where(AuditEvent.instance_id == second.id)))
    assert kinds.count("case.started") == 1
