"""The outbox runner: call the department system configured for a job's topic, and record the outcome.

A job row is the truth (design.md, "How a change flows"). After the commit that created it, a message
wakes a worker (`lianban.jobs.run`, only the job id); a sweeper re-publishes what was missed, what
waited out its back-off and what a dead worker left locked. A run is three steps:

1. claim, in one transaction under the case lock: READY → LOCKED with this worker's id and a lock
   that outlives the call (timeout + margin). Two round trips on PostgreSQL: `BEGIN; SELECT` of the
   case row FOR UPDATE together with the job's columns (its topic names the connector), then
   `UPDATE job; INSERT audit event; UPDATE case; COMMIT` written behind (hot_sql.batched), the job's
   UPDATE conditional on the row being as read;
2. the HTTP call, outside any transaction, with `Idempotency-Key: <job.idempotency_key>` — the same key
   on every attempt, so the department applies the effect once however often it is called;
3. record the outcome in a new transaction under the case lock, through the external-task services:
   complete with the mapped variables, a BPMN error for a business refusal, or a failure with
   exponential back-off and jitter (an incident when the retries run out).

A worker killed between 1 and 3 leaves the job LOCKED; when the lock expires the sweeper runs it again.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import timesource
from orchestrator.db import transaction
from orchestrator.errors import ConflictError, LianbanError, NotFoundError
from orchestrator.models import Job
from orchestrator.services import case_store, external_tasks, hot_sql
from orchestrator.services.audit import record_event
from orchestrator.services.cases import ACTIVE
from orchestrator.services.connectors import (
    PUBLISHER,
    Connector,
    Publisher,
    connector_for,
    load_connectors,
    publish_after_commit,
    wake,
)

log = logging.getLogger(__name__)

_JOBS: Table = Job.__table__  # type: ignore[assignment]
PUBLISH_GRACE_S = 5.0  # a never-run job younger than this is left to its after-commit message
MAX_BODY = 1024 * 1024

def worker_id() -> str:
    return f"connector:{socket.gethostname()}:{os.getpid()}"


def _now() -> datetime:
    """Lock expiry and retry back-off run on the one controllable clock, as the timers and limits do."""
    return timesource.now()


@dataclass(frozen=True)
class Claimed:
    job_id: str
    instance_id: str
    topic: str
    idempotency_key: str
    retries: int | None
    worker_id: str
    variables: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    kind: str  # completed | bpmn_error | failed
    variables: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    message: str | None = None
    details: str | None = None


# -- one run ---------------------------------------------------------------------------------------
_CLAIM_READ = ("topic", "state", "lock_expires_at", "retries", "suspended", "idempotency_key", "attempts")
_CLAIM = hot_sql.HotStatement(
    update(_JOBS).where(_JOBS.c.id == bindparam("job_id"), _JOBS.c.state == bindparam("read_state"),
                        _JOBS.c.attempts == bindparam("read_attempts"))
    .values(state=bindparam("new_state"), worker_id=bindparam("new_worker_id"),
            lock_expires_at=bindparam("new_lock_expires_at"), attempts=bindparam("new_attempts"))
)


class JobTakenError(ConflictError):
    """The job row changed between the locked read and the claim (a path that skipped the case lock)."""

    code = "job.taken"


def _taken() -> JobTakenError:
    return JobTakenError("任务已被其他工作者领取", "The job was taken by another worker")


def runnable(state: str, lock_expires_at: datetime | None, retries: int | None, suspended: bool,
             now: datetime) -> bool:
    """`external_tasks._fetchable`, decided on the job's row as read under the case lock."""
    if suspended or (retries is not None and retries <= 0):
        return False
    if state == external_tasks.READY:
        return lock_expires_at is None or lock_expires_at <= now
    return state == external_tasks.LOCKED and lock_expires_at is not None and lock_expires_at <= now


def claim(session: Session, job_id: str, worker: str, now: datetime) -> tuple[Connector, Claimed] | None:
    """READY (or LOCKED with an expired lock) → LOCKED by `worker`, under the case lock; None if not runnable.

    None too for a job whose topic has no connector (pulled by a department system, or 二次录入).
    """
    found = case_store.lock_owner_with(session, _JOBS, job_id, _CLAIM_READ)
    if found is None:
        return None
    case, (topic, state, lock_expires_at, retries, suspended, key, attempts) = found
    connector = connector_for(topic)
    if connector is None or case.state != ACTIVE or not runnable(state, lock_expires_at, retries, suspended, now):
        return None
    expires = now + timedelta(seconds=connector.timeout_s + connector.lock_margin_s)
    with hot_sql.batched(session):  # with the COMMIT: one round trip on PostgreSQL
        hot_sql.execute_checked(session, _CLAIM, {
            "job_id": job_id, "read_state": state, "read_attempts": attempts, "new_state": external_tasks.LOCKED,
            "new_worker_id": worker,
            "new_lock_expires_at": expires, "new_attempts": attempts + 1}, _taken)
        record_event(session, case, "job.locked", worker, {"job_id": job_id, "topic": topic, "connector": True,
                                                           "lock_expires_at": expires.isoformat()})
        case_store.save(session, case)
    return connector, Claimed(job_id, case.id, topic, key, retries, worker, dict(case.variables))


def call_department(connector: Connector, claimed: Claimed) -> Outcome:
    """One HTTP call; the outcome is classified, never raised."""
    body = {name: claimed.variables[var] for var, name in connector.variables_in.items() if var in claimed.variables}
    try:
        headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json",
                   **connector.resolved_headers(), "Idempotency-Key": claimed.idempotency_key}
    except LianbanError as error:
        return Outcome("failed", message=error.message_zh, details=error.message_en)
    request = urllib.request.Request(connector.url, data=json.dumps(body, ensure_ascii=False).encode(),
                                     method=connector.method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=connector.timeout_s) as response:
            status, raw = int(response.status), response.read(MAX_BODY)
    except urllib.error.HTTPError as error:
        status, raw = int(error.code), error.read(MAX_BODY)
    except (OSError, ValueError) as error:  # refused, reset, timed out, bad URL
        return Outcome("failed", message=f"调用部门系统失败：{error}", details=f"{connector.url}: {error!r}")
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = None
    document: dict[str, Any] = data if isinstance(data, dict) else {}
    refusal = connector.error_codes.get(str(status))
    if refusal is None and isinstance(document.get("error_code"), str):
        refusal = connector.error_codes.get(document["error_code"])
    outputs = {var: document[name] for name, var in connector.variables_out.items() if name in document}
    if refusal is not None:
        message = document.get("message") or document.get("error_message") or f"HTTP {status}"
        return Outcome("bpmn_error", outputs, error_code=refusal, message=str(message))
    if 200 <= status < 300 and data is not None and (isinstance(data, dict) or not raw):
        return Outcome("completed", outputs)
    snippet = raw[:200].decode("utf-8", "replace")
    reason = "返回的不是 JSON 对象" if 200 <= status < 300 else f"返回 HTTP {status}"
    return Outcome("failed", message=f"部门系统{reason}", details=snippet)


def next_retry(connector: Connector, retries: int | None, now: datetime) -> tuple[int, datetime | None]:
    """Camunda's convention: retries unset → the configured count; then one less per failure, 0 → incident."""
    left = connector.retries if retries is None else max(retries - 1, 0)
    if left == 0:
        return 0, None
    attempt = connector.retries - left  # 0 for the first retry
    delay = min(connector.backoff_max_s, connector.backoff_s * (2 ** attempt))
    # Jitter spreads the retries of many jobs that failed together: `jitter` of the delay is random.
    delay *= 1 - connector.jitter * random.random()
    return left, now + timedelta(seconds=delay)


def record(session: Session, connector: Connector, claimed: Claimed, outcome: Outcome) -> str:
    """Write the outcome under the case lock, as the lock owner; returns what happened."""
    if outcome.kind == "completed":
        external_tasks.complete(session, claimed.job_id, claimed.worker_id, outcome.variables, {})
        return "completed"
    if outcome.kind == "bpmn_error":
        assert outcome.error_code is not None
        caught = external_tasks.bpmn_error(session, claimed.job_id, claimed.worker_id, outcome.error_code,
                                           outcome.message, outcome.variables)
        return "bpmn_error" if caught else "incident"
    left, at = next_retry(connector, claimed.retries, _now())
    timeout_ms = max(int((at - _now()).total_seconds() * 1000), 1) if at is not None else 0
    external_tasks.failure(session, claimed.job_id, claimed.worker_id, outcome.message, outcome.details,
                           left, timeout_ms)
    return "failed" if left else "incident"


def run_job(factory: sessionmaker[Session], job_id: str) -> str:
    """Claim, call, record. Returns skipped | completed | bpmn_error | failed | incident | lost."""
    try:
        with transaction(factory) as session:
            claim_result = claim(session, job_id, worker_id(), _now())
    except JobTakenError:
        claim_result = None
    if claim_result is None:
        # Gone, done, a pull-only topic, taken by another worker, waiting out a back-off, or its case is not active.
        return "skipped"
    connector, claimed = claim_result
    outcome = call_department(connector, claimed)
    try:
        with transaction(factory) as session:
            result = record(session, connector, claimed, outcome)
    except (external_tasks.WrongWorkerError, NotFoundError):
        # Our lock expired and another worker took the job, or the case moved on: its result stands.
        log.info("job %s: outcome %s dropped, the job is no longer ours", job_id, outcome.kind)
        return "lost"
    log.info("job %s (%s): %s", job_id, claimed.topic, result)
    return result


# -- the sweeper -----------------------------------------------------------------------------------
def due_job_ids(session: Session, topics: Iterable[str], now: datetime, grace_s: float,
                limit: int = 200) -> list[str]:
    """Connector jobs to run now: never run and older than the grace, back-off elapsed, or lock expired."""
    topics = list(topics)
    if not topics:
        return []
    query = (select(Job.id).where(Job.topic.in_(topics), external_tasks._fetchable(now),
                                  or_(Job.lock_expires_at.is_not(None),
                                      Job.created_at <= now - timedelta(seconds=grace_s)))
             .order_by(Job.priority.desc(), Job.created_at, Job.id).limit(limit))
    return list(session.scalars(query))


def sweep(factory: sessionmaker[Session], publish: Publisher | None = None, now: datetime | None = None) -> int:
    """Re-publish due connector jobs (with a broker) or run them here (embedded mode); returns how many."""
    now = now or _now()
    topics = load_connectors().keys()
    with transaction(factory) as session:
        due = due_job_ids(session, topics, now, PUBLISH_GRACE_S if publish is not None else 0.0)
    if not due:
        return 0
    if publish is not None:
        with transaction(factory) as session:  # shown by the operations API: when the sweeper last woke it
            session.execute(update(Job).where(Job.id.in_(due)).values(republished_at=now)
                            .execution_options(synchronize_session=False))
        publish(due)
        return len(due)
    for job_id in due:
        try:
            run_job(factory, job_id)
        except Exception:  # one broken job must not stop the others; it stays due for the next round
            log.exception("connector job %s failed to run", job_id)
    return len(due)


__all__ = ["PUBLISHER", "Claimed", "JobTakenError", "Outcome", "call_department", "claim", "due_job_ids",
           "next_retry", "publish_after_commit", "record", "run_job", "runnable", "sweep", "wake", "worker_id"]
