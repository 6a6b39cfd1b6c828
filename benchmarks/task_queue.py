"""The reviewer's department queue at a million open tasks: with the task-list indexes and without them.

Run: `.venv/bin/python -m benchmarks.task_queue --database-url postgresql://postgres@127.0.0.1:5432/h_accounts_bench`
(PostgreSQL only; the database is dropped and created anew unless `--reuse` finds it filled with the same
number of tasks).

The fill is one INSERT … SELECT over generate_series per table, in the shape the projection writes: 26
departments (a city level, 3 districts × 6 townships), one case per four tasks, each task offered to one
department (one in eight to two, as a joint step), one in ten also to a named candidate user, 30 % claimed,
2 % suspended, 5 % without a due date, due dates spread over 60 days, step-limit states mixed. The reviewer
belongs to one township; its queue (about 1/26 of the unclaimed tasks) is read through
`services.task_list` — the query function of GET /api/tasks?view=unclaimed — page of 50, due date
ascending, then the count; a district head (7 departments) as well. Then the task-list indexes are dropped
and the same queries timed again (fewer runs: each one scans the table), and the indexes are rebuilt.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, Index, text
from sqlalchemy.orm import Session

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/h_accounts_bench"
TOWNSHIPS = [f"township-{d}-{t}" for d in range(1, 4) for t in range(1, 7)]
DISTRICTS = [f"district-{d}" for d in range(1, 4)]
CITY = ["city-market", "city-fire", "city-housing", "city-health", "city-tax"]
DEPARTMENTS = [*CITY, *DISTRICTS, *TOWNSHIPS]
REVIEWER_GROUP = "township-2-3"
HEAD_GROUPS = ["district-2", *(t for t in TOWNSHIPS if t.startswith("township-2-"))]
# The indexes the task list reads (models/instances.py); ix_human_task_candidate_task_id stays: every
# change of a task finds its candidate rows through it.
TASK_LIST_INDEXES = ("ix_human_task_candidate_queue", "ix_human_task_candidate_lookup", "ix_human_task_open_queue",
                     "ix_human_task_open_due", "ix_human_task_assignee_state")


def fill(engine: Engine, tasks: int) -> None:
    """Cases, open tasks and their candidate rows, generated inside PostgreSQL."""
    groups = "ARRAY[" + ",".join(f"'{d}'" for d in DEPARTMENTS) + "]"
    statements = [
        "INSERT INTO deployment (id, name, source, deployed_at) VALUES ('bench', '基准', 'benchmark', now())",
        "INSERT INTO process_definition (id, key, version, name, deployment_id, resource_name, checksum, spec_json, "
        "message_start_names, properties, suspended, created_at) VALUES ('bench:1:1', 'bench', 1, '基准', 'bench', "
        "'bench.bpmn', 'x', '{}', '[]', '{}', false, now())",
        f"""INSERT INTO process_instance (id, definition_id, definition_key, business_key, state, engine_state,
               serializer_version, variables, version, started_at, started_by)
            SELECT md5('case' || c)::uuid::text, 'bench:1:1', 'bundle-' || (c % 6), 'CASE-' || c, 'ACTIVE',
                   '\\x00'::bytea, '1', '{{}}', 1, now() - interval '30 days', 'applicant-' || (c % 5000)
            FROM generate_series(1, {(tasks + 3) // 4}) AS c""",
        f"""INSERT INTO human_task (id, instance_id, definition_id, definition_key, business_key, applicant,
               activity_id, name, state, assignee, candidate_groups, candidate_users, due, priority, properties,
               created_at, suspended, limit_state, department)
            SELECT md5('task' || i)::uuid::text, md5('case' || ((i + 3) / 4))::uuid::text, 'bench:1:1',
                   'bundle-' || (((i + 3) / 4) % 6), 'CASE-' || ((i + 3) / 4), '申请人' || (i % 5000),
                   'review_' || (i % 4), '部门审查', 'CREATED',
                   CASE WHEN i % 10 < 3 THEN 'reviewer-' || (i % 40) END,
                   CASE WHEN i % 8 = 0 THEN json_build_array(g1, g2) ELSE json_build_array(g1) END,
                   CASE WHEN i % 10 = 5 THEN json_build_array('reviewer-' || (i % 40)) ELSE '[]'::json END,
                   CASE WHEN i % 20 <> 7 THEN now() + (hashint % 86400 - 43200) * interval '60 seconds' END,
                   50, '{{}}', now() - interval '1 day', i % 50 = 3,
                   (ARRAY['NORMAL', 'NORMAL', 'NORMAL', 'WARNING', 'OVERDUE'])[1 + i % 5], g1
            FROM (SELECT i, abs(hashtext(i::text)) AS hashint,
                         ({groups})[1 + abs(hashtext('g' || i)) % {len(DEPARTMENTS)}] AS g1,
                         ({groups})[1 + abs(hashtext('h' || i)) % {len(DEPARTMENTS)}] AS g2
                  FROM generate_series(1, {tasks}) AS i) AS s""",
        """INSERT INTO human_task_candidate (task_id, kind, value, due, assignee, suspended)
            SELECT DISTINCT t.id, 'group', g.value, t.due, t.assignee, t.suspended
            FROM human_task t, json_array_elements_text(t.candidate_groups) AS g(value)""",
        """INSERT INTO human_task_candidate (task_id, kind, value, due, assignee, suspended)
            SELECT t.id, 'user', u.value, t.due, t.assignee, t.suspended
            FROM human_task t, json_array_elements_text(t.candidate_users) AS u(value)""",
    ]
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE process_instance, human_task, human_task_candidate"))


def task_list_indexes() -> list[Index]:
    from orchestrator.models import HumanTask, HumanTaskCandidate

    tables = (HumanTask.__table__, HumanTaskCandidate.__table__)
    return [i for table in tables for i in table.indexes if i.name in TASK_LIST_INDEXES]  # type: ignore[attr-defined]


def timed(run: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    """p50 and p95 in milliseconds over `runs` calls (after two warm-up calls), and the last result."""
    result = None
    for _ in range(2):
        result = run()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        result = run()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))], result


def measure(session: Session, runs: int) -> dict[str, tuple[float, float, Any]]:
    from orchestrator.auth.principal import build_principal
    from orchestrator.services import task_list

    reviewer = build_principal(user_id=1, username="reviewer-7", display_name="审查员", roles=["reviewer"],
                               departments=[REVIEWER_GROUP], subtree=[REVIEWER_GROUP], top_level=False,
                               district=None, via="basic")
    head = build_principal(user_id=2, username="head-2", display_name="区负责人", roles=["department_head"],
                           departments=["district-2"], subtree=HEAD_GROUPS, top_level=False, district=None,
                           via="basic")
    queue = task_list.TaskListQuery(view="unclaimed", size=50)
    return {
        "reviewer queue, page of 50": timed(lambda: len(task_list.list_page(session, reviewer, queue)), runs),
        "reviewer queue, count": timed(lambda: task_list.count_tasks(session, reviewer, queue), runs),
        "district head (7 departments), page of 50": timed(
            lambda: len(task_list.list_page(session, head, queue)), runs),
        "district head (7 departments), count": timed(lambda: task_list.count_tasks(session, head, queue), runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200, help="timed runs with the indexes")
    parser.add_argument("--runs-without", type=int, default=20, help="timed runs without the indexes")
    parser.add_argument("--reuse", action="store_true", help="keep a database already filled with --tasks tasks")
    args = parser.parse_args()

    from benchmarks.parallel_cases import fresh_database
    from orchestrator.db import make_engine
    from orchestrator.migrations import upgrade

    engine = make_engine(args.database_url)
    filled = 0
    if args.reuse:
        try:
            with engine.connect() as conn:
                filled = int(conn.scalar(text("SELECT count(*) FROM human_task WHERE state = 'CREATED'")) or 0)
        except Exception:  # noqa: BLE001 - no such database or table: fill anew
            filled = 0
    if filled != args.tasks:
        engine.dispose()
        fresh_database(args.database_url)
        upgrade(args.database_url)
        engine = make_engine(args.database_url)
        began = time.perf_counter()
        fill(engine, args.tasks)
        print(f"filled {args.tasks:,} open tasks in {time.perf_counter() - began:.1f} s")
    with engine.connect() as conn:
        candidates = conn.scalar(text("SELECT count(*) FROM human_task_candidate"))
        unclaimed = conn.scalar(text("SELECT count(*) FROM human_task_candidate WHERE kind = 'group' AND value = "
                                     ":g AND assignee IS NULL AND NOT suspended"), {"g": REVIEWER_GROUP})
    print(f"{args.tasks:,} open tasks, {candidates:,} candidate rows; {unclaimed:,} unclaimed in the reviewer's "
          f"department ({REVIEWER_GROUP})")

    with Session(engine) as session:
        indexed = measure(session, args.runs)
    with engine.begin() as conn:
        for index in task_list_indexes():
            index.drop(conn)
        conn.execute(text("ANALYZE human_task, human_task_candidate"))
    try:
        with Session(engine) as session:
            bare = measure(session, args.runs_without)
    finally:
        with engine.begin() as conn:
            for index in task_list_indexes():
                index.create(conn)
            conn.execute(text("ANALYZE human_task, human_task_candidate"))

    print(f"\n{'query (ms)':<44} {'indexed p50':>12} {'p95':>8} {'no index p50':>13} {'p95':>8}  rows")
    for name, (p50, p95, result) in indexed.items():
        b50, b95, bare_result = bare[name]
        assert result == bare_result, f"{name}: {result} with indexes, {bare_result} without"
        print(f"{name:<44} {p50:>12.2f} {p95:>8.2f} {b50:>13.2f} {b95:>8.2f}  {result}")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\n({args.runs} runs with the indexes, {args.runs_without} without; target: queue page p95 < 20 ms; "
          f"load average now {load})")


if __name__ == "__main__":
    main()
