"""What checking a form costs per submission: completing a task with a `lianban:` form vs. the same task without.

Run: `.venv/bin/python -m benchmarks.form_submit [--submissions N] [--rounds R] [--database-url URL]`
(default database: postgresql://postgres@127.0.0.1:5432/h_forms_bench, dropped and created anew each run;
a sqlite:/// URL works too).

Both contenders complete one user task per case through the service layer in its own transaction, as
`POST /engine-rest/task/{id}/complete` does, with the same values (the fire-safety review form's:
decision, reason, permit number). One task has `camunda:formKey="lianban:restaurant-fire-safety"`, so
its completion is checked against the form (visible fields, JSON Schema, decision reason) and its
submission recorded; the other has no form key. Prints p50 / mean per completion of each, their
difference (the cost of the form), and the check alone in memory, from interleaved rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from sqlalchemy import select

from benchmarks.diagrams import single_task_diagram
from benchmarks.parallel_cases import fresh_database

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/h_forms_bench"
VALUES = {"fire_safety_decision": "approve", "fire_safety_opinion": "疏散通道畅通，消防设施完好，准予。",
          "fire_safety_permit_no": "西消安检字〔2026〕第 0123 号"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=200, help="completions per contender")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()

    from orchestrator import create_app
    from orchestrator.db import transaction
    from orchestrator.forms import registry
    from orchestrator.forms.validation import check
    from orchestrator.migrations import upgrade
    from orchestrator.models import HumanTask
    from orchestrator.services.cases import complete_task, start_case
    from orchestrator.services.definitions import deploy

    fresh_database(args.database_url)
    upgrade(args.database_url)
    app = create_app({"DATABASE_URL": args.database_url, "SEED_ON_START": False})
    sessions = app.extensions["lianban.sessions"]
    keys = {"with form": "review_with_form", "without form": "review_without_form"}
    with transaction(sessions) as session:
        deploy(session, {"with.bpmn": single_task_diagram(keys["with form"], "lianban:restaurant-fire-safety"),
                         "without.bpmn": single_task_diagram(keys["without form"], None)}, name="form benchmark")

    def open_tasks(key: str, count: int) -> list[str]:
        ids = []
        for _ in range(count):
            with transaction(sessions) as session:
                instance = start_case(session, key=key, actor="bench")
                ids.append(session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance.id)).one())
        return ids

    def complete_all(task_ids: list[str]) -> list[float]:
        times = []
        for task_id in task_ids:
            began = time.perf_counter()
            with transaction(sessions) as session:
                complete_task(session, task_id, VALUES, "bench")
            times.append(time.perf_counter() - began)
        return times

    per_round = max(1, args.submissions // args.rounds)
    complete_all(open_tasks(keys["with form"], 10) + open_tasks(keys["without form"], 10))  # warm up
    measured: dict[str, list[float]] = {name: [] for name in keys}
    for _ in range(args.rounds):
        for name, key in keys.items():
            measured[name] += complete_all(open_tasks(key, per_round))

    form = registry.get("restaurant-fire-safety")
    checks = []
    for _ in range(per_round * args.rounds):
        began = time.perf_counter()
        result = check(form, {}, VALUES)
        checks.append(time.perf_counter() - began)
        assert result.ok

    def ms(values: list[float], fn: Any) -> float:
        return float(fn(values)) * 1000

    dialect = app.extensions["lianban.engine"].dialect.name
    print(f"task completion through the service layer on {dialect}, {len(measured['with form'])} per contender, "
          f"{args.rounds} interleaved rounds")
    for name, times in measured.items():
        print(f"  {name:<14} p50 {ms(times, statistics.median):7.2f} ms   mean {ms(times, statistics.fmean):7.2f} ms")
    p50_cost = ms(measured["with form"], statistics.median) - ms(measured["without form"], statistics.median)
    mean_cost = ms(measured["with form"], statistics.fmean) - ms(measured["without form"], statistics.fmean)
    print(f"  cost of the form per submission: p50 {p50_cost:+.2f} ms, mean {mean_cost:+.2f} ms "
          f"({mean_cost / ms(measured['without form'], statistics.fmean):+.0%} of a completion without it)")
    print(f"  the check alone, in memory: p50 {ms(checks, statistics.median):.3f} ms, "
          f"mean {ms(checks, statistics.fmean):.3f} ms")


if __name__ == "__main__":
    main()
