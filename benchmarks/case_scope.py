"""The case list of a supervisor below the top level (GET /engine-rest/process-instance) at 200,000 tasks.

Run: `.venv/bin/python -m benchmarks.case_scope --database-url postgresql://postgres@127.0.0.1:5432/t_case_scope`
(PostgreSQL only; the database is dropped and created anew unless `--reuse` finds it filled).

The fill is the task-queue benchmark's (benchmarks/task_queue.py: 26 departments, one case per four tasks),
then three tasks in four are completed by one of 40 reviewers and leave the department queues, as a
year of cases does. A township supervisor's scope (services/queries.py `_cases_in`) reaches a case through
a task of its department (`human_task.department`), one it holds, owns or completed, or a candidate row;
the page of 50 and the count are read through `queries.list_instances` / `count_instances`, with the
case-scope indexes (migration 0011) and without them. The plans are printed with the timings.
"""

from __future__ import annotations

import argparse
import os

from sqlalchemy import Engine, Index, text
from sqlalchemy.orm import Session

from benchmarks.task_queue import REVIEWER_GROUP, fill, timed

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/t_case_scope"
SCOPE_INDEXES = ("ix_human_task_department", "ix_human_task_owner", "ix_human_task_completed_by")


def complete_most(engine: Engine) -> None:
    """Three tasks in four completed (by a reviewer, kept with their department), their candidate rows gone."""
    with engine.begin() as conn:
        conn.execute(text("""UPDATE human_task SET state = 'COMPLETED', ended_at = now(), assignee = NULL,
                                 completed_by = 'reviewer-' || (abs(hashtext(id)) % 40), limit_state = 'STOPPED'
                             WHERE abs(hashtext('done' || id)) % 4 <> 0"""))
        conn.execute(text("DELETE FROM human_task_candidate c USING human_task t "
                          "WHERE c.task_id = t.id AND t.state = 'COMPLETED'"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE human_task, human_task_candidate, process_instance"))


def scope_indexes() -> list[Index]:
    from orchestrator.models import HumanTask

    return [i for i in HumanTask.__table__.indexes if i.name in SCOPE_INDEXES]  # type: ignore[attr-defined]


def plan(session: Session, statement: object) -> str:
    compiled = statement.compile(dialect=session.get_bind().dialect,  # type: ignore[attr-defined]
                                 compile_kwargs={"literal_binds": True})
    rows = session.connection().exec_driver_sql(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {compiled}").all()
    return "\n".join(str(row[0]) for row in rows)


def measure(session: Session, runs: int, show_plans: bool) -> dict[str, tuple[float, float, object]]:
    from orchestrator.auth.access import CaseScope
    from orchestrator.services import queries

    supervisor = queries.InstanceFilter(scope=CaseScope("supervisor-t", False, frozenset({REVIEWER_GROUP})))
    reviewer = queries.InstanceFilter(scope=CaseScope("reviewer-7", False, frozenset({REVIEWER_GROUP})))
    if show_plans:
        page = queries._instance_query(supervisor).order_by(text("started_at, id")).limit(50)
        print(plan(session, page))
    return {
        "township supervisor, page of 50": timed(lambda: len(queries.list_instances(session, supervisor, 0, 50)),
                                                  runs),
        "township supervisor, count": timed(lambda: queries.count_instances(session, supervisor), runs),
        "reviewer (holds/completed + department), count": timed(
            lambda: queries.count_instances(session, reviewer), runs),
    }


def prepared(url: str, tasks: int, reuse: bool) -> Engine:
    """The scratch database, filled anew unless `reuse` and it already holds `tasks` tasks."""
    from benchmarks.parallel_cases import fresh_database
    from orchestrator.db import make_engine
    from orchestrator.migrations import upgrade

    engine = make_engine(url)
    if reuse:
        with engine.connect() as conn:
            if conn.scalar(text("SELECT count(*) FROM human_task")) == tasks:
                return engine
    engine.dispose()
    fresh_database(url)
    upgrade(url)
    engine = make_engine(url)
    fill(engine, tasks)
    complete_most(engine)
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--reuse", action="store_true", help="keep a database already filled with --tasks tasks")
    parser.add_argument("--plans", action="store_true", help="print the page query's plan with and without")
    args = parser.parse_args()

    engine = prepared(args.database_url, args.tasks, args.reuse)
    results = {}
    for label, indexed in (("indexed", True), ("no index", False)):
        with engine.begin() as conn:
            for index in scope_indexes():
                index.create(conn, checkfirst=True) if indexed else index.drop(conn, checkfirst=True)
            conn.execute(text("ANALYZE human_task"))
        if args.plans:
            print(f"-- {label}")
        with Session(engine) as session:
            results[label] = measure(session, args.runs, args.plans)
    with engine.begin() as conn:  # leave the database as the migrations made it
        for index in scope_indexes():
            index.create(conn, checkfirst=True)

    print(f"\n{'query (ms)':<48} {'indexed p50':>12} {'p95':>8} {'no index p50':>13} {'p95':>8}  cases")
    for name, (p50, p95, result) in results["indexed"].items():
        b50, b95, bare_result = results["no index"][name]
        assert result == bare_result, f"{name}: {result} with indexes, {bare_result} without"
        print(f"{name:<48} {p50:>12.2f} {p95:>8.2f} {b50:>13.2f} {b95:>8.2f}  {result}")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\n({args.tasks:,} tasks, {args.runs} runs each; load average now {load})")


if __name__ == "__main__":
    main()
