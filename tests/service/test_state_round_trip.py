"""Saved engine state restores to the very same state; the in-memory cache changes nothing stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.diagrams import parallel_diagram
from orchestrator.db import transaction
from orchestrator.engine.runtime import CaseRuntime
from orchestrator.models import ActivityInstance, HumanTask, ProcessInstance
from orchestrator.services import cases
from orchestrator.services.cases import script_engine, workflow_cache
from orchestrator.services.definitions import definition_cache, deploy


def _run_case(sessions: sessionmaker[Session], run_in_tx: Any) -> tuple[str, list[bytes]]:
    instance = run_in_tx(lambda s: cases.start_case(s, key="round_trip", variables={"n": 1}))
    states = []
    with transaction(sessions) as session:
        task_ids = sorted(session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance.id)))
    for index, task_id in enumerate(task_ids):
        run_in_tx(lambda s, t=task_id, i=index: cases.complete_task(s, t, {f"r{i}": i}, "tester"))
        with transaction(sessions) as session:
            row = session.get(ProcessInstance, instance.id)
            assert row is not None
            states.append(row.engine_state)
            loaded = definition_cache.get(session, row.definition_id)
            restored = CaseRuntime.restore(row.engine_state, loaded.spec, loaded.subprocess_specs, script_engine())
            assert restored.dump() == row.engine_state  # save → restore → save is the identity
    return instance.id, states


def test_every_saved_state_restores_to_itself_with_and_without_the_workflow_cache(
    sessions: sessionmaker[Session], run_in_tx: Any
) -> None:
    run_in_tx(deploy, {"rt.bpmn": parallel_diagram(4, key="round_trip")})
    assert workflow_cache.capacity == 0
    uncached_id, _ = _run_case(sessions, run_in_tx)
    workflow_cache.capacity = 100
    try:
        cached_id, _ = _run_case(sessions, run_in_tx)
    finally:
        workflow_cache.capacity = 0

    with transaction(sessions) as session:
        rows = {i: session.get(ProcessInstance, i) for i in (uncached_id, cached_id)}
        assert all(r is not None and r.state == "COMPLETED" for r in rows.values())
        assert rows[uncached_id].variables == rows[cached_id].variables  # type: ignore[union-attr]

        def path(instance_id: str) -> list[str]:
            return sorted(session.scalars(select(ActivityInstance.activity_id)
                                          .where(ActivityInstance.instance_id == instance_id)))

        assert path(uncached_id) == path(cached_id)
