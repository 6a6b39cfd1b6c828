"""Connector jobs per second through real Celery worker processes, against the same calls made directly.

Run: `.venv/bin/python -m benchmarks.jobs [--jobs N] [--database-url URL]`
(default database: postgresql://postgres@127.0.0.1:5432/lianban_jobs_bench, dropped and created anew).

One run prints:
- baseline: the department calls themselves (the connector's HTTP code, a new Idempotency-Key each),
  made in a loop by one process, with no database and no queue;
- 1 and 2 worker processes (`celery worker --pool=solo`, on a private redis-server): a backlog of N
  jobs (one case each, the licence diagram: start → service task → end) published at once; jobs/s
  from the publication to the last completion, each job claimed, called and recorded in its own
  transactions under the case lock;
- p50/p99 of job creation → completion, with jobs created at a steady pace below that capacity
  (half of it), so that the figure is the latency of a job and not the length of a queue;
- CPU milliseconds per job: of the baseline's loop, of `run_job` called in this process (claim, call,
  record; PostgreSQL's own CPU not included) and of the worker processes over the backlog (from
  /proc: the Celery process with its threads, including its idle loop);
- network round trips to PostgreSQL per job of `run_job` (claim and record), from libpq's trace.
The fake department (tests/fake_department.py, no added latency) runs in a process of its own.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from benchmarks.parallel_cases import fresh_database

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/lianban_jobs_bench"
ROOT = Path(__file__).resolve().parent.parent
DIAGRAM = ROOT / "tests" / "bpmn" / "connectors" / "licence_connector.bpmn"


def _serve_department(port: int, ready: Any) -> None:
    from tests.fake_department import FakeDepartment

    FakeDepartment("市场监管", port=port).start()
    ready.set()
    while True:
        time.sleep(3600)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * share), len(ordered) - 1)]


def direct_calls(connector: Any, count: int) -> tuple[float, list[float], float]:
    """The baseline: the connector's own HTTP call in a loop; returns calls/s, per-call seconds, CPU ms per call."""
    from orchestrator.services.connector_jobs import Claimed, call_department

    latencies: list[float] = []
    began, cpu = time.perf_counter(), time.process_time()
    for n in range(count):
        claimed = Claimed(str(n), "bench", connector.topic, uuid.uuid4().hex, None, "bench",
                          {"company_name": f"直连第{n}有限公司"})
        step = time.perf_counter()
        outcome = call_department(connector, claimed)
        latencies.append(time.perf_counter() - step)
        assert outcome.kind == "completed", outcome
    cpu_ms = (time.process_time() - cpu) * 1000 / count
    return count / (time.perf_counter() - began), latencies, cpu_ms


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    """The database, the broker and the worker processes of one run."""

    def __init__(self, url: str, connectors: Path, pool: list[str]) -> None:
        from orchestrator import create_app
        from orchestrator.db import transaction
        from orchestrator.migrations import upgrade
        from orchestrator.services.definitions import deploy
        from tests.worker.processes import free_port, redis_server
        from workers.celery_app import celery_init_app

        self.redis_port = free_port()
        self.redis = redis_server(self.redis_port)
        self.broker = f"redis://127.0.0.1:{self.redis_port}/0"
        upgrade(url)
        self.url = url
        self.connectors = connectors
        self.app = create_app({"DATABASE_URL": url, "SEED_ON_START": False, "BROKER_URL": self.broker})
        self.sessions = self.app.extensions["lianban.sessions"]
        celery_init_app(self.app)
        from orchestrator.services.connectors import PUBLISHER

        self.publish = self.app.extensions.pop(PUBLISHER)  # jobs are published by the benchmark, when it says
        with transaction(self.sessions) as session:
            deploy(session, {DIAGRAM.name: DIAGRAM.read_bytes()}, name="bench")
        self.serial = 0
        self.pool = pool

    def create_jobs(self, count: int, pace_s: float = 0.0) -> list[str]:
        """Start `count` cases (one job each); with a pace, publish each job as the API would, one every pace_s."""
        from orchestrator.db import transaction
        from orchestrator.models import Job
        from orchestrator.services import cases

        job_ids: list[str] = []
        began = time.perf_counter()
        for n in range(count):
            self.serial += 1
            with self.app.app_context(), transaction(self.sessions) as session:
                instance = cases.start_case(session, key="licence_connector",
                                            variables={"company_name": f"压测第{self.serial}有限公司"})
                job_id = session.scalar(select(Job.id).where(Job.instance_id == instance.id))
            assert job_id is not None
            job_ids.append(job_id)
            if pace_s:
                self.publish([job_id])
                delay = began + (n + 1) * pace_s - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
        return job_ids

    def wait_done(self, job_ids: list[str], timeout_s: float = 600) -> None:
        from orchestrator.db import transaction
        from orchestrator.models import Job

        deadline = time.monotonic() + timeout_s
        query = select(func.count()).select_from(Job).where(Job.id.in_(job_ids), Job.state == "COMPLETED")
        while time.monotonic() < deadline:
            with transaction(self.sessions) as session:
                if session.scalar(query) == len(job_ids):
                    return
            time.sleep(0.05)
        raise RuntimeError("jobs did not finish in time")

    def times(self, job_ids: list[str]) -> list[tuple[float, float]]:
        from orchestrator.db import transaction
        from orchestrator.models import Job

        with transaction(self.sessions) as session:
            rows = session.execute(select(Job.created_at, Job.ended_at).where(Job.id.in_(job_ids))).all()
        return [(created.timestamp(), ended.timestamp()) for created, ended in rows]

    def workers(self, processes: int) -> list[Any]:
        from tests.worker.processes import celery

        env = dict(os.environ, DATABASE_URL=self.url, CELERY_BROKER_URL=self.broker, LIANBAN_SEED_ON_START="0",
                   LIANBAN_CONNECTORS=str(self.connectors))
        started = [celery("worker", env, *self.pool, f"--hostname=bench{n}@%h") for n in range(processes)]
        warm = self.create_jobs(10 * processes)  # start-up, connections and caches: not measured
        self.publish(warm)
        self.wait_done(warm)
        return started

    def in_process(self, count: int) -> dict[str, float]:
        """`run_job` called here, one job after the other: jobs/s, CPU ms and round trips per job."""
        from benchmarks.round_trips import count_round_trips
        from orchestrator.services.connector_jobs import run_job

        def run_all(job_ids: list[str]) -> None:
            with self.app.app_context():
                for job_id in job_ids:
                    assert run_job(self.sessions, job_id) == "completed"

        logging.getLogger("orchestrator.services.connector_jobs").setLevel(logging.WARNING)  # a line per job
        run_all(self.create_jobs(10))  # connections and caches: not measured
        job_ids = self.create_jobs(count)
        began, cpu = time.perf_counter(), time.process_time()
        run_all(job_ids)
        figures = {"rate": count / (time.perf_counter() - began),
                   "cpu_ms": (time.process_time() - cpu) * 1000 / count}
        traced = self.create_jobs(20)
        turns = count_round_trips(self.app.extensions["lianban.engine"], lambda: run_all(traced))
        figures["round_trips"] = turns / len(traced) if turns is not None else float("nan")
        return figures

    def run(self, processes: int, count: int) -> dict[str, float]:
        from tests.worker.processes import stop

        started = self.workers(processes)
        try:
            backlog = self.create_jobs(count)
            cpu = sum(_cpu_seconds(process.pid) for process in started)
            began = time.time()
            self.publish(backlog)
            self.wait_done(backlog)
            cpu_ms = (sum(_cpu_seconds(process.pid) for process in started) - cpu) * 1000 / count
            last = max(ended for _, ended in self.times(backlog))
            rate = count / (last - began)
            paced = self.create_jobs(max(count // 2, 20), pace_s=2.0 / rate)  # arrivals at half the capacity
            self.wait_done(paced)
            latencies = [ended - created for created, ended in self.times(paced)]
        finally:
            for process in started:
                stop(process)
        return {"rate": rate, "p50": statistics.median(latencies) * 1000,
                "p99": _percentile(latencies, 0.99) * 1000, "cpu_ms": cpu_ms}

    def close(self) -> None:
        from tests.worker.processes import stop

        stop(self.redis)
        self.app.extensions["lianban.engine"].dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=300, help="jobs per contender")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--threads", type=int, default=4,
                        help="jobs each worker process runs at once (--pool=threads); 1: --pool=solo")
    args = parser.parse_args()
    pool = ["--pool=solo"] if args.threads <= 1 else ["--pool=threads", f"--concurrency={args.threads}"]

    from orchestrator.services.connectors import parse_connectors
    from tests.fake_department import FakeDepartment, write_connectors
    from tests.worker.processes import free_port

    port = free_port()
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    department = context.Process(target=_serve_department, args=(port, ready), daemon=True)
    department.start()
    ready.wait(30)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_connectors(Path(tmp) / "connectors.json", FakeDepartment("市场监管", port=port),
                                timeout_s=10, retries=3, backoff_s=0.5)
        connector = parse_connectors(path, path.read_text(encoding="utf-8"))["samr.issue_licence"]
        os.environ["LIANBAN_CONNECTORS"] = str(path)
        direct_calls(connector, 20)  # warm-up
        direct_rate, direct_latencies, direct_cpu_ms = direct_calls(connector, args.jobs)
        fresh_database(args.database_url)
        bench = Bench(args.database_url, path, pool)
        try:
            here = bench.in_process(args.jobs)
            figures = {processes: bench.run(processes, args.jobs) for processes in (1, 2)}
        finally:
            bench.close()
            department.terminate()
    direct_p50 = statistics.median(direct_latencies) * 1000
    direct_p99 = _percentile(direct_latencies, 0.99) * 1000
    print(f"connector jobs: licence diagram, fake department on loopback (no added latency), {args.jobs} jobs each;"
          f" worker processes run {' '.join(pool)}")
    print(f"  direct calls in a loop (baseline)   {direct_rate:8.1f} jobs/s  (CPU {direct_cpu_ms:.2f} ms per call;"
          f" call p50 {direct_p50:.1f} ms, p99 {direct_p99:.1f} ms)")
    print(f"  run_job in this process, one by one {here['rate']:8.1f} jobs/s  (CPU {here['cpu_ms']:.2f} ms per job;"
          f" {here['round_trips']:.1f} round trips per job; {here['rate'] / direct_rate:.2f} of direct)")
    for processes, figure in figures.items():
        label = f"{processes} worker process{'es' if processes > 1 else ''}"
        print(f"  {label:<36}{figure['rate']:8.1f} jobs/s  (CPU {figure['cpu_ms']:.2f} ms per job;"
              f" creation → completion p50 {figure['p50']:.1f} ms, p99 {figure['p99']:.1f} ms;"
              f" {figure['rate'] / direct_rate:.2f} of direct)")


if __name__ == "__main__":
    main()
