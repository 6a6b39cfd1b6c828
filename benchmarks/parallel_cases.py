"""Cases per second on the 5-branch parallel diagram: Lianban's service layer vs bare SpiffWorkflow.

Run: `.venv/bin/python -m benchmarks.parallel_cases [--cases N] [--rounds R] [--database-url URL]`
(default database: postgresql://postgres@127.0.0.1:5432/lianban_bench, dropped and created anew each run).

Prints, from one run: bare SpiffWorkflow in memory, bare SpiffWorkflow with a JSON save/restore after
every step, the service layer on the database (one transaction per step, as the API does), their
ratios, SQL statements, commits and network round trips per case, and the stored engine state per
finished case. The three are measured in interleaved rounds so that a noisy machine slows all of them
alike.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import make_url

from benchmarks.diagrams import parallel_diagram
from benchmarks.round_trips import count_round_trips

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/lianban_bench"


def bare_spiff(content: bytes) -> Callable[[int, bool], float]:
    """A runner of bare SpiffWorkflow cases; returns the seconds they took."""
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.camunda.parser import CamundaParser
    from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
    from SpiffWorkflow.util.task import TaskState

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "parallel5.bpmn"
        path.write_bytes(content)
        parser = CamundaParser()
        parser.add_bpmn_file(str(path))
        spec, subprocess_specs = parser.get_spec("parallel5"), parser.get_subprocess_specs("parallel5")
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(CAMUNDA_CONFIG))

    def run(cases: int, save_every_step: bool) -> float:
        began = time.perf_counter()
        for _ in range(cases):
            workflow = BpmnWorkflow(spec, subprocess_specs)
            workflow.do_engine_steps()
            state = serializer.serialize_json(workflow) if save_every_step else None
            for _step in range(5):
                if save_every_step:
                    workflow = serializer.deserialize_json(state)
                task = workflow.get_next_task(state=TaskState.READY, manual=True)
                task.data["approved"] = True
                task.run()
                workflow.do_engine_steps()
                if save_every_step:
                    state = serializer.serialize_json(workflow)
            assert workflow.is_completed()
        return time.perf_counter() - began

    return run


def fresh_database(url: str) -> None:
    """Start every run on a new, empty database so that runs compare (PostgreSQL only)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return
    admin = create_engine(parsed.set(database="postgres", drivername="postgresql+psycopg"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


class ServiceLayer:
    """Cases through Lianban's services: one committed transaction per step, as the REST API runs them."""

    def __init__(self, url: str, content: bytes) -> None:
        from orchestrator import create_app
        from orchestrator.db import transaction
        from orchestrator.migrations import upgrade
        from orchestrator.services.definitions import deploy

        upgrade(url)
        self.app = create_app({"DATABASE_URL": url, "SEED_ON_START": False})
        self.sessions = self.app.extensions["lianban.sessions"]
        self.engine = self.app.extensions["lianban.engine"]
        with transaction(self.sessions) as session:
            deploy(session, {"parallel5.bpmn": content}, name="bench")
        self.counters = {"statements": 0, "commits": 0}
        self.ids: list[str] = []
        self.latencies: list[float] = []
        event.listen(self.engine, "before_cursor_execute", self._count_statement)
        event.listen(self.engine, "commit", self._count_commit)

    def _count_statement(self, *_args: Any) -> None:
        self.counters["statements"] += 1

    def _count_commit(self, *_args: Any) -> None:
        self.counters["commits"] += 1

    def run_cases(self, count: int) -> None:
        from orchestrator.db import transaction
        from orchestrator.models import HumanTask
        from orchestrator.services import cases as case_service

        for _ in range(count):
            step = time.perf_counter()
            with transaction(self.sessions) as session:
                instance = case_service.start_case(session, key="parallel5", variables={"applicant": "bench"})
                # The benchmark's own lookup of the task ids; subtracted from the statement count below.
                task_ids = list(session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance.id)))
            self.latencies.append(time.perf_counter() - step)
            for task_id in task_ids:
                step = time.perf_counter()
                with transaction(self.sessions) as session:
                    case_service.complete_task(session, task_id, {"approved": True}, "bench")
                self.latencies.append(time.perf_counter() - step)
            self.ids.append(instance.id)

    def round_trips(self, count: int) -> float | None:
        """Network round trips per case, read from libpq's protocol trace (PostgreSQL only).

        The benchmark's own task lookup (inside the start transaction) is included.
        """
        turns = count_round_trips(self.engine, lambda: self.run_cases(count))
        return turns / count if turns is not None else None

    def timed(self, count: int, streams: int = 1) -> float:
        began = time.perf_counter()
        if streams == 1:
            self.run_cases(count)
        else:
            threads = [threading.Thread(target=self.run_cases, args=(count // streams,)) for _ in range(streams)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        return time.perf_counter() - began

    def summary(self) -> dict[str, float]:
        from orchestrator.db import transaction
        from orchestrator.models import ProcessInstance

        with transaction(self.sessions) as session:
            rows = session.execute(select(ProcessInstance.state, ProcessInstance.engine_state)
                                   .where(ProcessInstance.id.in_(self.ids))).all()
        assert len(rows) == len(self.ids) and all(state == "COMPLETED" for state, _ in rows), "cases must finish"
        cases = len(self.ids)
        return {
            "statements": self.counters["statements"] / cases - 1,
            "commits": self.counters["commits"] / cases,
            "state_bytes": statistics.mean(len(blob) for _, blob in rows),
            "p50_ms": statistics.median(self.latencies) * 1000,
            "p95_ms": sorted(self.latencies)[int(len(self.latencies) * 0.95)] * 1000,
        }


def _process_worker(args: tuple[str, bytes, int, Any]) -> float:
    url, content, cases, barrier = args
    service = ServiceLayer(url, content)
    service.run_cases(5)
    barrier.wait()
    return service.timed(cases)


def _multi_process_rate(url: str, content: bytes, processes: int, cases_each: int) -> float:
    """Cases/s of several server processes sharing the database, as a production deployment runs."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(processes)
        with context.Pool(processes) as pool:
            # Each process times its own cases from a common start (the barrier), not its start-up.
            durations = pool.map(_process_worker, [(url, content, cases_each, barrier)] * processes)
    return processes * cases_each / max(durations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=300, help="cases per contender")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--processes", type=int, default=2,
                        help="server processes for the last figure (as `gunicorn -w N` runs the service)")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()
    content = parallel_diagram(5)
    bare = bare_spiff(content)
    fresh_database(args.database_url)
    service = ServiceLayer(args.database_url, content)
    bare(20, False)
    service.run_cases(10)  # warm-up: caches, prepared statements
    service.ids.clear()
    service.latencies.clear()
    service.counters.update(statements=0, commits=0)
    per_round = max(args.cases // args.rounds, 1)
    seconds = {"memory": 0.0, "saved": 0.0, "service": 0.0}
    for _ in range(args.rounds):
        seconds["memory"] += bare(per_round, False)
        seconds["saved"] += bare(per_round, True)
        seconds["service"] += service.timed(per_round)
    total = per_round * args.rounds
    memory, saved, serial = (total / seconds[k] for k in ("memory", "saved", "service"))
    figures = service.summary()
    round_trips = service.round_trips(5)
    concurrent = _multi_process_rate(args.database_url, content, args.processes, per_round * 2)
    dialect = make_url(args.database_url).get_backend_name()
    print(f"5-branch parallel diagram, {total} cases per contender, {args.rounds} interleaved rounds")
    print(f"  bare SpiffWorkflow, in memory              {memory:8.1f} cases/s")
    print(f"  bare SpiffWorkflow, JSON save every step   {saved:8.1f} cases/s")
    print(f"  Lianban service layer on {dialect:<16} {serial:8.1f} cases/s"
          f"  (step latency p50 {figures['p50_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} ms)")
    print(f"  ratio service / bare with save             {serial / saved:8.2f}  (target >= 0.50)")
    print(f"  ratio service / bare in memory             {serial / memory:8.2f}")
    print(f"  SQL statements per case                    {figures['statements']:8.1f}")
    print(f"  commits per case                           {figures['commits']:8.1f}")
    if round_trips is not None:
        print(f"  network round trips per case               {round_trips:8.1f}")
    print(f"  stored engine state per finished case      {figures['state_bytes']:8.0f} bytes  (target < 5000)")
    print(f"  service layer, {args.processes} server processes       {concurrent:8.1f} cases/s"
          f"  (ratio to single-process bare with save {concurrent / saved:.2f})")


if __name__ == "__main__":
    main()
