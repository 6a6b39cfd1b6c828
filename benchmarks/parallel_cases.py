"""Cases per second on the 5-branch parallel diagram: Lianban's service layer vs bare SpiffWorkflow.

Run: `.venv/bin/python -m benchmarks.parallel_cases [--cases N] [--database-url URL]`
(default database: postgresql://postgres@127.0.0.1:5432/lianban_bench, created when missing).
Prints, from one run: bare SpiffWorkflow in memory, bare SpiffWorkflow with a JSON save/restore after
every step, the service layer on the database (one transaction per step, as the API does), their
ratios, SQL statements and commits per case, and the stored engine state per finished case.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import make_url

from benchmarks.diagrams import parallel_diagram

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/lianban_bench"


def bare_spiff(content: bytes, cases: int, save_every_step: bool) -> float:
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
    return cases / (time.perf_counter() - began)


def ensure_database(url: str) -> None:
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return
    admin = create_engine(parsed.set(database="postgres", drivername="postgresql+psycopg"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def service_layer(url: str, content: bytes, cases: int, workers: int = 1) -> dict[str, Any]:
    from orchestrator import create_app
    from orchestrator.db import transaction
    from orchestrator.migrations import upgrade
    from orchestrator.models import HumanTask, ProcessInstance
    from orchestrator.services import cases as case_service
    from orchestrator.services.definitions import deploy

    ensure_database(url)
    upgrade(url)
    app = create_app({"DATABASE_URL": url, "SEED_ON_START": False})
    sessions = app.extensions["lianban.sessions"]
    engine = app.extensions["lianban.engine"]
    with transaction(sessions) as session:
        deploy(session, {"parallel5.bpmn": content}, name="bench")
    counters = {"statements": 0, "commits": 0}

    @event.listens_for(engine, "before_cursor_execute")
    def _count_statement(*_args: Any) -> None:
        counters["statements"] += 1

    @event.listens_for(engine, "commit")
    def _count_commit(*_args: Any) -> None:
        counters["commits"] += 1

    ids: list[str] = []
    latencies: list[float] = []

    def run_cases(count: int) -> None:
        for _ in range(count):
            step = time.perf_counter()
            with transaction(sessions) as session:
                instance = case_service.start_case(session, key="parallel5", variables={"applicant": "bench"})
                task_ids = list(session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance.id)))
            latencies.append(time.perf_counter() - step)
            for task_id in task_ids:
                step = time.perf_counter()
                with transaction(sessions) as session:
                    case_service.complete_task(session, task_id, {"approved": True}, "bench")
                latencies.append(time.perf_counter() - step)
            ids.append(instance.id)

    began = time.perf_counter()
    if workers == 1:
        run_cases(cases)
    else:  # concurrent request streams, as the threads of one server process would run them
        threads = [threading.Thread(target=run_cases, args=(cases // workers,)) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        cases = len(ids)
    elapsed = time.perf_counter() - began
    with transaction(sessions) as session:
        rows = session.execute(select(ProcessInstance.state, ProcessInstance.engine_state)
                               .where(ProcessInstance.id.in_(ids))).all()
    assert all(state == "COMPLETED" for state, _ in rows), "every benchmark case must finish"
    sizes = [len(blob) for _, blob in rows]
    engine.dispose()
    return {
        "rate": cases / elapsed,
        # The task-id lookup above is the benchmark's own query, not the service's: subtract it.
        "statements": counters["statements"] / cases - 1,
        "commits": counters["commits"] / cases,
        "state_bytes": statistics.mean(sizes),
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": sorted(latencies)[int(len(latencies) * 0.95)] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--workers", type=int, default=2, help="concurrent request streams for the second figure")
    args = parser.parse_args()
    content = parallel_diagram(5)
    bare_spiff(content, 20, False)  # warm-up
    memory = bare_spiff(content, args.cases, save_every_step=False)
    saved = bare_spiff(content, args.cases, save_every_step=True)
    service = service_layer(args.database_url, content, args.cases)
    concurrent = service_layer(args.database_url, content, args.cases, workers=args.workers)
    dialect = make_url(args.database_url).get_backend_name()
    print(f"5-branch parallel diagram, {args.cases} cases each, one run")
    print(f"  bare SpiffWorkflow, in memory              {memory:8.1f} cases/s")
    print(f"  bare SpiffWorkflow, JSON save every step   {saved:8.1f} cases/s")
    print(f"  Lianban service layer on {dialect:<16} {service['rate']:8.1f} cases/s"
          f"  (step latency p50 {service['p50_ms']:.1f} ms, p95 {service['p95_ms']:.1f} ms)")
    print(f"  Lianban service layer, {args.workers} request streams     {concurrent['rate']:8.1f} cases/s"
          f"  (step latency p50 {concurrent['p50_ms']:.1f} ms, p95 {concurrent['p95_ms']:.1f} ms)")
    print(f"  ratio service / bare with save             {service['rate'] / saved:8.2f}  (target >= 0.50)")
    print(f"  ratio service ({args.workers} streams) / bare with save {concurrent['rate'] / saved:8.2f}")
    print(f"  ratio service / bare in memory             {service['rate'] / memory:8.2f}")
    print(f"  SQL statements per case                    {service['statements']:8.1f}")
    print(f"  commits per case                           {service['commits']:8.1f}")
    print(f"  stored engine state per finished case      {service['state_bytes']:8.0f} bytes  (target < 5000)")


if __name__ == "__main__":
    main()
