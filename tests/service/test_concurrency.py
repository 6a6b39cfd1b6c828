"""Parallel approvals of one case completed at the same moment: every result kept, the join fires once."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.diagrams import parallel_diagram
from orchestrator.db import transaction
from orchestrator.models import ActivityInstance, AuditEvent, HumanTask, ProcessInstance
from orchestrator.services import cases
from orchestrator.services.audit import verify_chain
from orchestrator.services.definitions import deploy

BRANCHES = 20


def test_twenty_threads_completing_twenty_parallel_tasks_keep_every_result(
    sessions: sessionmaker[Session], run_in_tx: Any
) -> None:
    run_in_tx(deploy, {"p20.bpmn": parallel_diagram(BRANCHES, key="p20")})
    instance = run_in_tx(lambda s: cases.start_case(s, key="p20", variables={"case_no": "C-1"}))
    with transaction(sessions) as session:
        task_ids = {t.activity_id: t.id for t in session.scalars(
            select(HumanTask).where(HumanTask.instance_id == instance.id))}
    assert len(task_ids) == BRANCHES

    barrier = threading.Barrier(BRANCHES)
    errors: list[BaseException] = []

    def reviewer(activity_id: str, task_id: str) -> None:
        try:
            barrier.wait(timeout=30)
            with transaction(sessions) as session:
                cases.complete_task(session, task_id, {f"result_{activity_id}": f"同意-{activity_id}"}, activity_id)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=reviewer, args=item) for item in task_ids.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []

    with transaction(sessions) as session:
        row = session.get(ProcessInstance, instance.id)
        assert row is not None and row.state == "COMPLETED"
        assert row.version == BRANCHES + 1  # one save per completion, none lost
        for activity_id in task_ids:
            assert row.variables[f"result_{activity_id}"] == f"同意-{activity_id}"
        joins = session.scalar(select(func.count()).select_from(ActivityInstance).where(
            ActivityInstance.instance_id == instance.id, ActivityInstance.activity_id == "join",
            ActivityInstance.ended_at.is_not(None), ActivityInstance.canceled.is_(False)))
        ends = session.scalar(select(func.count()).select_from(ActivityInstance).where(
            ActivityInstance.instance_id == instance.id, ActivityInstance.activity_id == "end"))
        assert joins == 1 and ends == 1
        completed = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.instance_id == instance.id, AuditEvent.event_type == "task.completed"))
        assert completed == BRANCHES
        assert verify_chain(session, instance.id) is None
