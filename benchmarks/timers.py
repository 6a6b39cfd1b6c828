"""Timers at scale: 100,000 pending timers in PostgreSQL, the scheduler against a naive scan.

Run: `DATABASE_URL=postgresql://postgres@127.0.0.1:5432/h_timelimits .venv/bin/python -m benchmarks.timers`
(options: `--timers`, `--backlog`, `--steady`, `--window-s`, `--threads`, `--interval-s`, `--sample`,
`--profile`, `--database-url`; the database's public schema is dropped and migrated anew).

How the 100,000 cases are made: one case of the diagram (start → timer catch `${due}` → user task → end)
is started through the service layer; its stored engine state is then cloned with fresh task ids and its
own due time per clone (`bulk_cases`), with the matching `timer` projection rows — what 100,000
`start_case` calls would leave, without spending an hour on them. Every firing then restores, fires and
saves a real workflow under the case lock, as in production.

Prints, in one run:
- backlog: the time to fire `--backlog` timers that are all due at once, and the scheduler's CPU per 1,000;
- steady state: `--steady` timers falling due over `--window-s` seconds while the production loop
  (`scheduler.run_forever`, limit scans included) runs: p50 / p99 lateness (fired − due, from
  `timer_firing`) and the process's CPU per 1,000 fired (at a low rate mostly the loop's own rounds);
- the naive baseline measured in the same run: a loop that restores every waiting case and asks the engine
  whether a timer is due. One pass over all cases is measured on a sample and extrapolated (labelled):
  its lateness is up to one full pass, its CPU per 1,000 timers is that of back-to-back passes at the
  steady run's rate;
- with `--profile N`: where one firing's time goes (restore, engine step, save, commit), under cProfile.

With `--celery` it measures the production Celery path instead: two real `celery -A workers.worker worker`
processes and `celery beat` on a real broker (`CELERY_BROKER_URL`, default Redis db 14), `--steady` timers
falling due over `--window-s` seconds, p50 / p99 lateness from `timer_firing` — first with the scheduler
leader (`workers/scheduler_leader.py`: one worker runs the loop, beat's timer task a fallback), then, as the
baseline in the same run, beat alone (`LIANBAN_WORKER_SCHEDULER=0`, no grace: `lianban.timers.fire_due`
once per `LIANBAN_SCHEDULER_INTERVAL_S`, as before the leader existed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import threading
import time
import uuid
import zlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, func, insert, select, text

DEFAULT_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/h_timelimits")
DIAGRAM = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="bench_timer" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait" />
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:timerEventDefinition><bpmn:timeDate>${due}</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="review" />
    <bpmn:userTask id="review" />
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
"""
PLACEHOLDER = "2099-01-01T00:00:00+00:00"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def fresh_ids(state_json: str) -> tuple[str, dict[str, str]]:
    """The same engine state with every task id replaced by a new one (ids are primary keys of projections)."""
    mapping: dict[str, str] = {}
    body = UUID_RE.sub(lambda m: mapping.setdefault(m.group(0), str(uuid.uuid4())), state_json)
    return body, mapping


def fresh_schema(url: str) -> None:
    from orchestrator.db import make_engine
    from orchestrator.migrations import upgrade

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(url)


class Bench:
    def __init__(self, url: str) -> None:
        from orchestrator import create_app
        from orchestrator.db import transaction
        from orchestrator.models import ProcessInstance, Timer
        from orchestrator.services import cases
        from orchestrator.services.definitions import deploy

        self.app = create_app({"DATABASE_URL": url, "SEED_ON_START": False})
        self.sessions = self.app.extensions["lianban.sessions"]
        with transaction(self.sessions) as session:
            deploy(session, {"bench.bpmn": DIAGRAM}, name="bench")
        with transaction(self.sessions) as session:
            template = cases.start_case(session, key="bench_timer", variables={"due": PLACEHOLDER})
            timer = session.scalars(select(Timer).where(Timer.instance_id == template.id)).one()
        self.template = template
        self.template_json = zlib.decompress(template.engine_state).decode()
        assert PLACEHOLDER in self.template_json and timer.id in self.template_json
        self.timer_task_id = timer.id
        self.cases: Table = ProcessInstance.__table__  # type: ignore[assignment]
        self.timers: Table = Timer.__table__  # type: ignore[assignment]
        with transaction(self.sessions) as session:  # the template itself is not part of the measurement
            session.execute(self.timers.delete())
            session.execute(self.cases.update().values(state="COMPLETED"))

    def bulk_cases(self, dues: list[datetime]) -> None:
        """Clone the template case once per due time: fresh task ids, its own due time, a timer row."""
        from orchestrator.db import transaction

        base = self.template
        for start in range(0, len(dues), 5000):
            case_rows, timer_rows = [], []
            for due in dues[start:start + 5000]:
                body, mapping = fresh_ids(self.template_json)
                body = body.replace(PLACEHOLDER, due.isoformat())
                case_id = str(uuid.uuid4())
                case_rows.append({
                    "id": case_id, "definition_id": base.definition_id, "definition_key": base.definition_key,
                    "business_key": None, "state": "ACTIVE", "engine_state": zlib.compress(body.encode()),
                    "serializer_version": base.serializer_version, "variables": {"due": due.isoformat()},
                    "version": 1, "started_at": base.started_at, "ended_at": None, "started_by": None,
                    "end_reason": None, "audit_head": None})
                timer_rows.append({"id": mapping[self.timer_task_id], "instance_id": case_id, "activity_id": "wait",
                                   "kind": "date", "due_at": due, "suspended": False})
            with transaction(self.sessions) as session:
                session.execute(insert(self.cases), case_rows)
                session.execute(insert(self.timers), timer_rows)

    def firings(self, since_id: int) -> list[float]:
        from orchestrator.db import transaction
        from orchestrator.models import TimerFiring

        with transaction(self.sessions) as session:
            return list(session.scalars(select(TimerFiring.lateness_s).where(TimerFiring.id > since_id)))

    def last_firing_id(self) -> int:
        from orchestrator.db import transaction
        from orchestrator.models import TimerFiring

        with transaction(self.sessions) as session:
            return int(session.scalar(select(func.coalesce(func.max(TimerFiring.id), 0))) or 0)

    def pending_due(self) -> int:
        from orchestrator.db import transaction

        with transaction(self.sessions) as session:
            return int(session.scalar(select(func.count()).select_from(self.timers)
                                      .where(self.timers.c.due_at <= datetime.now(UTC))) or 0)

    def pending(self) -> int:
        from orchestrator.db import transaction

        with transaction(self.sessions) as session:
            return int(session.scalar(select(func.count()).select_from(self.timers)) or 0)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def backlog_run(bench: Bench, count: int, threads: int) -> dict[str, float]:
    from orchestrator.scheduler import fire_due_timers

    bench.bulk_cases([datetime.now(UTC) - timedelta(seconds=5)] * count)
    cpu, wall = time.process_time(), time.perf_counter()
    fired = fire_due_timers(bench.sessions, threads=threads)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert fired == count, (fired, count)
    return {"fired": fired, "wall_s": wall, "cpu_s_per_1000": cpu / fired * 1000}


def steady_run(bench: Bench, count: int, window_s: float, threads: int, interval_s: float) -> dict[str, float]:
    """The production loop (`scheduler.run_forever`: timers as they fall due, limit scans every period)."""
    from orchestrator.scheduler import run_forever
    from orchestrator.services.connectors import wake

    begin = datetime.now(UTC) + timedelta(seconds=3)
    bench.bulk_cases([begin + timedelta(seconds=window_s * i / count) for i in range(count)])
    since = bench.last_firing_id()
    stop = threading.Event()
    cpu = time.process_time()
    thread = threading.Thread(target=run_forever, args=(bench.sessions, interval_s, stop, threads))
    thread.start()
    deadline = begin + timedelta(seconds=window_s + 5)
    while datetime.now(UTC) < deadline:
        time.sleep(0.5)
    stop.set()
    wake.set()
    thread.join()
    cpu = time.process_time() - cpu
    lateness = bench.firings(since)
    assert len(lateness) == count, (len(lateness), count)
    return {"fired": len(lateness), "p50_s": percentile(lateness, 0.5), "p99_s": percentile(lateness, 0.99),
            "max_s": max(lateness), "cpu_s_per_1000": cpu / len(lateness) * 1000, "rate_per_s": count / window_s}


CELERY_START_S = 20.0  # the workers and beat start (and one of them leads) before the first timer is due


def celery_run(bench: Bench, url: str, count: int, window_s: float, leader: bool) -> dict[str, float]:
    """Timers falling due while two real Celery workers and beat run: lateness as the deployment sees it."""
    import signal
    import subprocess
    import sys

    env = dict(os.environ, DATABASE_URL=url, LIANBAN_SEED_ON_START="0",
               CELERY_BROKER_URL=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14"))
    if not leader:
        env.update(LIANBAN_WORKER_SCHEDULER="0", LIANBAN_TIMER_FALLBACK_GRACE_S="0")
    worker = [sys.executable, "-m", "celery", "-A", "workers.worker", "worker", "--pool=prefork", "--concurrency=1",
              "--loglevel=ERROR", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    beat = [sys.executable, "-m", "celery", "-A", "workers.worker", "beat", "--loglevel=ERROR",
            "--schedule", f"/tmp/lianban-bench-beat-{os.getpid()}"]
    begin = datetime.now(UTC) + timedelta(seconds=CELERY_START_S)
    bench.bulk_cases([begin + timedelta(seconds=window_s * i / count) for i in range(count)])
    since = bench.last_firing_id()
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True) for command in (worker, worker, beat)]
    try:
        while datetime.now(UTC) < begin + timedelta(seconds=window_s + 5) or bench.pending_due():
            time.sleep(0.5)
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
    lateness = bench.firings(since)
    assert len(lateness) == count, (len(lateness), count)
    return {"fired": len(lateness), "p50_s": percentile(lateness, 0.5), "p99_s": percentile(lateness, 0.99),
            "max_s": max(lateness)}


def celery_main(bench: Bench, url: str, count: int, window_s: float) -> None:
    with_leader = celery_run(bench, url, count, window_s, leader=True)
    beat_only = celery_run(bench, url, count, window_s, leader=False)
    print(json.dumps({"leader": with_leader, "beat_only": beat_only}, indent=1))
    print(f"{'Celery path, ' + format(count, ',') + ' due over ' + format(window_s, 'g') + ' s':<52} "
          f"{'p50 late':>10} {'p99 late':>10} {'max late':>10}")
    for label, run in (("scheduler leader in a worker (beat as fallback)", with_leader),
                       ("beat alone, lianban.timers.fire_due every period", beat_only)):
        print(f"{label:<52} {run['p50_s']:>8.3f} s {run['p99_s']:>8.3f} s {run['max_s']:>8.3f} s")
    print(f"target p99 lateness < 1 s with the leader: {'met' if with_leader['p99_s'] < 1 else 'NOT met'}")


def naive_pass(bench: Bench, sample: int) -> dict[str, float]:
    """Baseline: walk every waiting case, restore it and ask the engine whether a timer is due."""
    from orchestrator.db import transaction
    from orchestrator.engine.runtime import CaseRuntime
    from orchestrator.services.cases import script_engine
    from orchestrator.services.definitions import definition_cache

    with transaction(bench.sessions) as session:
        total = int(session.scalar(select(func.count()).select_from(bench.cases)
                                   .where(bench.cases.c.state == "ACTIVE")) or 0)
    cpu, wall, seen = time.process_time(), time.perf_counter(), 0
    with transaction(bench.sessions) as session:
        rows = session.execute(select(bench.cases.c.id, bench.cases.c.definition_id, bench.cases.c.engine_state)
                               .where(bench.cases.c.state == "ACTIVE").limit(sample)).all()
        for _id, definition_id, state in rows:
            definition = definition_cache.get(session, definition_id)
            runtime = CaseRuntime.restore(state, definition.spec, definition.subprocess_specs, script_engine())
            runtime.workflow.refresh_timers()  # nothing is due among these: the check is the cost
            seen += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"sampled": seen, "waiting": total, "pass_s": wall / seen * total, "pass_cpu_s": cpu / seen * total,
            "cpu_s_per_1000_cases": cpu / seen * 1000}


PROFILED = [  # (label, file suffix, function): one firing's phases, as cProfile sees them
    ("fire the claimed timers (per firing)", "orchestrator/scheduler.py", "_fire_rows"),
    ("  restore the engine state", "orchestrator/engine/runtime.py", "restore"),
    ("  engine step (fire, run to the next wait)", "orchestrator/engine/runtime.py", "fire_timers"),
    ("  save: diff, projections, audit, row", "orchestrator/services/cases.py", "save_case"),
    ("    serialise the engine state", "orchestrator/engine/runtime.py", "dump"),
    ("    projections", "orchestrator/services/projections.py", "apply_changes"),
    ("    audit events (hash chain)", "orchestrator/services/audit.py", "record_events"),
    ("commit (the batch's writes travel with it)", "orchestrator/db.py", "transaction"),
]


def profile_firings(bench: Bench, count: int) -> None:
    """Where one firing's CPU goes: a backlog of `count` fired on one thread under cProfile (which inflates it
    about twofold); CPU rather than wall time, so that the machine's load does not move the shares."""
    import cProfile
    import pstats

    from orchestrator.scheduler import fire_due_timers

    bench.bulk_cases([datetime.now(UTC) - timedelta(seconds=5)] * count)
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    fired = fire_due_timers(bench.sessions, threads=1)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def spent(suffix: str, function: str) -> float:
        return max((entry[3] for (path, _line, name), entry in stats.items()
                    if name == function and path.endswith(suffix)), default=0.0) / fired * 1000

    batch = spent("orchestrator/scheduler.py", "fire_batch")
    print(f"one firing's CPU under cProfile ({fired:,} fired in batches on one thread; {batch:.2f} ms each in all):")
    for label, suffix, function in PROFILED:
        print(f"  {label:<46} {spent(suffix, function):>7.3f} ms")
    claim = batch - spent("orchestrator/scheduler.py", "_fire_rows")
    print(f"  {'claim, record the firings, commit (the rest)':<46} {claim:>7.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--timers", type=int, default=100_000, help="pending timers in the database")
    parser.add_argument("--backlog", type=int, default=1_000, help="timers all due at once")
    parser.add_argument("--steady", type=int, default=2_000, help="timers falling due during the steady run")
    parser.add_argument("--window-s", type=float, default=20.0, help="steady run: seconds over which they fall due")
    parser.add_argument("--threads", type=int, default=2, help="scheduler threads (SKIP LOCKED)")
    parser.add_argument("--interval-s", type=float, default=1.0, help="scheduler loop period")
    parser.add_argument("--sample", type=int, default=2_000, help="cases the naive baseline walks")
    parser.add_argument("--profile", type=int, default=0, help="also profile this many firings (cProfile)")
    parser.add_argument("--celery", action="store_true", help="measure the Celery path (workers + beat) instead")
    args = parser.parse_args()

    fresh_schema(args.database_url)
    bench = Bench(args.database_url)
    background = args.timers - args.backlog - args.steady
    later = datetime.now(UTC) + timedelta(days=30)
    started = time.perf_counter()
    bench.bulk_cases([later + timedelta(seconds=i) for i in range(background)])
    print(f"loaded {background:,} far-future timers in {time.perf_counter() - started:.1f} s")
    if args.celery:
        celery_main(bench, args.database_url, args.steady, args.window_s)
        return

    backlog = backlog_run(bench, args.backlog, args.threads)
    steady = steady_run(bench, args.steady, args.window_s, args.threads, args.interval_s)
    naive = naive_pass(bench, args.sample)
    print(json.dumps({"backlog": backlog, "steady": steady, "naive": naive}, indent=1))
    print()
    print(f"pending timers in PostgreSQL during the runs: {args.timers:,} (threads={args.threads})")
    print(f"{'contender':<52} {'fire all due':>14} {'p50 late':>10} {'p99 late':>10} {'CPU/1000':>10}")
    print(f"{'Lianban scheduler, backlog of ' + format(args.backlog, ',') + ' due at once':<52} "
          f"{backlog['wall_s']:>12.2f} s {'—':>10} {'—':>10} {backlog['cpu_s_per_1000']:>8.2f} s")
    print(f"{'Lianban scheduler, ' + format(args.steady, ',') + ' due over ' + format(args.window_s, 'g') + ' s':<52} "
          f"{'—':>14} {steady['p50_s']:>8.3f} s {steady['p99_s']:>8.3f} s {steady['cpu_s_per_1000']:>8.2f} s")
    # The naive loop walks every waiting case per pass, back to back; at the steady run's rate a pass fires
    # rate × pass time timers, so its CPU per 1,000 fired timers is one pass's CPU over that many.
    naive_cpu_per_1000 = naive["pass_cpu_s"] / (steady["rate_per_s"] * naive["pass_s"]) * 1000
    print(f"{'naive scan of every waiting case (one pass, est.)':<52} {naive['pass_s']:>12.1f} s "
          f"{naive['pass_s'] / 2:>8.1f} s {naive['pass_s'] * 0.99:>8.1f} s {naive_cpu_per_1000:>8.2f} s")
    print(f"  (naive: {naive['sampled']:,} of {naive['waiting']:,} waiting cases walked; a pass over all of them "
          "extrapolated; a timer waits on average half a pass, at worst a whole one; its CPU per 1,000 timers at "
          f"the steady rate of {steady['rate_per_s']:g}/s, passes back to back)")
    print(f"target p99 lateness < 1 s: {'met' if steady['p99_s'] < 1 else 'NOT met'}")
    print(f"still pending: {bench.pending():,}")
    if args.profile:
        profile_firings(bench, args.profile)


if __name__ == "__main__":
    main()
