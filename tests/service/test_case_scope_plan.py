"""The case list below the top level reads its tasks through indexes, not by filtering every task row.

A supervisor's or a reviewer's list of cases (GET /engine-rest/process-instance, services/queries.py) reaches
a case through a task of its departments, one it holds, owns or completed, or one offered to it; migration
0011 indexes department, owner and completed_by. Figures at 200,000 tasks: benchmarks/case_scope.py.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.auth.access import CaseScope
from orchestrator.db import transaction
from orchestrator.services import queries

SCOPE = CaseScope("supervisor-t", False, frozenset({"township-tiantan", "township-qinyuan"}))
INDEXES = ("ix_human_task_department", "ix_human_task_owner", "ix_human_task_completed_by",
           "ix_human_task_assignee_state", "ix_human_task_candidate_lookup")


def _plan(session: Session, statement: Any) -> str:
    """The database's plan (EXPLAIN on PostgreSQL with sequential scans off, so that the question is whether
    the indexes can be used at all, not the planner's choice on an empty table; EXPLAIN QUERY PLAN on SQLite)."""
    sql = str(statement.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL enable_seqscan = off"))
        return "\n".join(str(row[0]) for row in session.connection().exec_driver_sql(f"EXPLAIN {sql}"))
    return "\n".join(str(row[-1]) for row in session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))


def test_a_scoped_case_list_and_its_count_read_the_department_owner_and_completed_by_indexes(
        sessions: sessionmaker[Session]) -> None:
    query = queries._instance_query(queries.InstanceFilter(scope=SCOPE))
    page = query.order_by(text("started_at, id")).limit(50)
    count = select(func.count()).select_from(query.subquery())
    with transaction(sessions) as session:
        plans = [_plan(session, page), _plan(session, count)]
    for plan in plans:
        for index in INDEXES:
            assert index in plan, plan
        assert "Seq Scan on human_task" not in plan, plan
        assert not [line for line in plan.splitlines() if line.strip().startswith("SCAN human_task")], plan
