"""External tasks with Camunda 7's contract: department systems fetch, lock and report their work.

A job row (the engine task id) is the truth. Every change of a job happens under its case's row lock,
so the case lock is the one mutex: fetchAndLock takes each candidate's case row with
`FOR UPDATE SKIP LOCKED` on PostgreSQL (a case busy in another step is skipped, its task fetched
next time), then claims the job with a conditional UPDATE; on SQLite the write transaction already
serialises. Holding the case lock also keeps its audit chain linear: every change writes an event.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, or_, select, update
from sqlalchemy.orm import Session

from orchestrator import timesource
from orchestrator.errors import LianbanError, NotFoundError
from orchestrator.models import Incident, Job, ProcessInstance
from orchestrator.services import case_store
from orchestrator.services.audit import record_event
from orchestrator.services.case_store import CaseRecord
from orchestrator.services.cases import ACTIVE, load_case, save_case

READY = "READY"
LOCKED = "LOCKED"
OPEN_STATES = (READY, LOCKED)
INCIDENT_TYPE = "failedExternalTask"
MAX_PAGE = 1000

_JOBS: Table = Job.__table__  # type: ignore[assignment]
_CASES: Table = ProcessInstance.__table__  # type: ignore[assignment]


class WrongWorkerError(LianbanError):
    """Camunda answers 400 when a worker acts on a task locked by another worker (or not locked)."""

    status = 400
    code = "external_task.wrong_worker"


@dataclass(frozen=True)
class TopicRequest:
    topic_name: str
    lock_duration_ms: int
    variables: list[str] | None = None  # None: every variable
    process_definition_key: str | None = None
    business_key: str | None = None
    process_variables: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FetchRequest:
    worker_id: str
    max_tasks: int
    topics: list[TopicRequest]
    use_priority: bool = False


@dataclass(frozen=True)
class LockedTask:
    job: Job
    variables: dict[str, Any]


@dataclass(frozen=True)
class ExternalTaskFilter:
    topic_name: str | None = None
    worker_id: str | None = None
    locked: bool = False
    not_locked: bool = False
    process_instance_id: str | None = None
    activity_id: str | None = None
    process_definition_key: str | None = None
    with_retries_left: bool = False
    no_retries_left: bool = False


def _now() -> datetime:
    """Lock expiry and retry back-off run on the one controllable clock, as the timers and limits do."""
    return timesource.now()


def _not_found(job_id: str) -> NotFoundError:
    return NotFoundError(f"外部任务不存在：{job_id}", f"External task {job_id} does not exist", field="id")


def _fetchable(now: datetime) -> ColumnElement[bool]:
    """READY and not waiting out a retryTimeout, or LOCKED with an expired lock; retries left; not suspended."""
    return and_(
        Job.suspended.is_(False),
        or_(Job.retries.is_(None), Job.retries > 0),
        or_(
            and_(Job.state == READY, or_(Job.lock_expires_at.is_(None), Job.lock_expires_at <= now)),
            and_(Job.state == LOCKED, Job.lock_expires_at <= now),
        ),
    )


def _lock_case_skip_locked(session: Session, instance_id: str) -> CaseRecord | None:
    statement = select(_CASES).where(_CASES.c.id == instance_id)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    row = session.execute(statement).first()
    return case_store._from_row(row) if row is not None else None


def fetch_and_lock(session: Session, request: FetchRequest, now: datetime | None = None) -> list[LockedTask]:
    """Lock up to maxTasks fetchable tasks of the requested topics for one worker."""
    now = now or _now()
    result: list[LockedTask] = []
    for topic in request.topics:
        if len(result) >= request.max_tasks:
            break
        query = select(Job.id, Job.instance_id).where(Job.topic == topic.topic_name, _fetchable(now))
        if topic.process_definition_key:
            query = query.where(Job.definition_key == topic.process_definition_key)
        if topic.business_key is not None:
            query = query.where(Job.business_key == topic.business_key)
        order = [Job.priority.desc(), Job.created_at, Job.id] if request.use_priority else [Job.created_at, Job.id]
        # Some candidates may be skipped (case busy, taken meanwhile): read a few more than needed.
        wanted = request.max_tasks - len(result)
        candidates = session.execute(query.order_by(*order).limit(wanted * 3 + 5)).all()
        for job_id, instance_id in candidates:
            if len(result) >= request.max_tasks:
                break
            locked = _claim(session, job_id, instance_id, topic, request.worker_id, now)
            if locked is not None:
                result.append(locked)
    return result


def _claim(session: Session, job_id: str, instance_id: str, topic: TopicRequest, worker_id: str,
           now: datetime) -> LockedTask | None:
    case = _lock_case_skip_locked(session, instance_id)
    if case is None or case.state != ACTIVE:
        return None
    if any(case.variables.get(name) != value for name, value in topic.process_variables.items()):
        return None
    expires = now + timedelta(milliseconds=topic.lock_duration_ms)
    claimed = session.execute(
        update(Job).where(Job.id == job_id, _fetchable(now))
        .values(state=LOCKED, worker_id=worker_id, lock_expires_at=expires, attempts=Job.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    record_event(session, case, "job.locked", worker_id,
                 {"job_id": job_id, "topic": topic.topic_name, "lock_expires_at": expires.isoformat()})
    case_store.save(session, case)
    job = session.get(Job, job_id, populate_existing=True)
    assert job is not None
    names = topic.variables
    variables = dict(case.variables) if names is None else {n: case.variables[n] for n in names
                                                            if n in case.variables}
    return LockedTask(job, variables)


def _lock_job(session: Session, job_id: str) -> tuple[CaseRecord, Job]:
    """Take the case lock of an open job, then read the job as it is under that lock."""
    case = case_store.lock_owner_of(session, _JOBS, job_id)
    if case is None:
        raise _not_found(job_id)
    job = session.get(Job, job_id, populate_existing=True)
    if job is None or job.state not in OPEN_STATES:
        raise _not_found(job_id)
    return case, job


@dataclass(frozen=True)
class _OwnedJob:
    """What a lock owner's report needs of its job, read with the case lock (no ORM load)."""

    id: str
    state: str
    worker_id: str | None
    activity_id: str


_OWNED_COLUMNS = ("state", "worker_id", "activity_id")


def _lock_owned_job(session: Session, job_id: str) -> tuple[CaseRecord, _OwnedJob]:
    """`_lock_job` for reports that only read the job: its columns travel with the case lock (one round trip)."""
    found = case_store.lock_owner_with(session, _JOBS, job_id, _OWNED_COLUMNS)
    if found is None or found[1][0] not in OPEN_STATES:
        raise _not_found(job_id)
    case, (state, worker, activity_id) = found
    return case, _OwnedJob(job_id, state, worker, activity_id)


def _require_owner(job: Job | _OwnedJob, worker_id: str, action_zh: str, action_en: str) -> None:
    if job.state != LOCKED or job.worker_id != worker_id:
        holder = job.worker_id if job.state == LOCKED else None
        raise WrongWorkerError(
            f"外部任务 {job.id} 未被工作者“{worker_id}”锁定，不能{action_zh}（当前锁定者：{holder or '无'}）",
            f"External Task {job.id} cannot be {action_en} by worker '{worker_id}'. It is locked by worker "
            f"'{holder}'.",
            field="workerId",
        )


def complete(session: Session, job_id: str, worker_id: str, variables: Mapping[str, Any],
             local_variables: Mapping[str, Any]) -> CaseRecord:
    """The lock owner completes the task: its variables become process variables, the case runs on.

    Camunda keeps local variables on the activity's scope, which ends with the task: they are
    accepted and recorded in the audit event only.
    """
    case_row, job = _lock_owned_job(session, job_id)
    _require_owner(job, worker_id, "完成", "completed")
    case = load_case(session, case_row.id, instance=case_row)
    if job_id not in case.before.external_tasks:
        raise _not_found(job_id)
    case.runtime.complete_external_task(job_id, variables)
    case.audit("job.completed", worker_id, {"job_id": job_id, "activity_id": job.activity_id,
                                           "variables": sorted(variables), "local_variables": sorted(local_variables)})
    save_case(session, case, worker_id)
    return case.instance


def _open_incident(session: Session, case: CaseRecord, job: Job, message: str, now: datetime) -> Incident:
    existing = session.scalar(select(Incident).where(Incident.configuration == job.id,
                                                     Incident.resolved_at.is_(None)))
    if existing is not None:
        existing.message = message
        return existing
    incident = Incident(id=str(uuid.uuid4()), instance_id=case.id, definition_id=case.definition_id,
                        activity_id=job.activity_id, incident_type=INCIDENT_TYPE, configuration=job.id,
                        message=message, created_at=now)
    session.add(incident)
    return incident


def _resolve_incidents(session: Session, job_id: str, now: datetime) -> list[str]:
    ids = list(session.scalars(select(Incident.id).where(Incident.configuration == job_id,
                                                         Incident.resolved_at.is_(None))))
    if ids:
        session.execute(update(Incident).where(Incident.id.in_(ids)).values(resolved_at=now)
                        .execution_options(synchronize_session=False))
    return ids


def failure(session: Session, job_id: str, worker_id: str, error_message: str | None, error_details: str | None,
            retries: int, retry_timeout_ms: int) -> None:
    """The worker could not do the task: release it, after retryTimeout; with no retries left, an incident."""
    now = _now()
    case, job = _lock_job(session, job_id)
    _require_owner(job, worker_id, "报告失败", "failed")
    job.state = READY
    job.worker_id = None
    job.retries = retries
    job.error_message = error_message
    job.failures += 1
    job.last_failed_at = now
    job.lock_expires_at = now + timedelta(milliseconds=retry_timeout_ms) if retry_timeout_ms > 0 else None
    payload: dict[str, Any] = {"job_id": job_id, "retries": retries, "retry_timeout_ms": retry_timeout_ms,
                               "error_message": error_message, "error_details": error_details}
    if retries == 0:
        incident = _open_incident(session, case, job, error_message or "外部任务失败，重试次数已用完", now)
        payload["incident_id"] = incident.id
    record_event(session, case, "job.failed", worker_id, payload)
    case_store.save(session, case)


def bpmn_error(session: Session, job_id: str, worker_id: str, error_code: str, error_message: str | None,
               variables: Mapping[str, Any]) -> bool:
    """The department reports a business refusal: an error boundary (or event sub-process) catches it.

    When nothing catches it the task stays, without retries, and an incident is opened (Camunda
    raises one for an unhandled BPMN error too). Returns whether it was caught.
    """
    now = _now()
    case_row, owned = _lock_owned_job(session, job_id)
    _require_owner(owned, worker_id, "抛出 BPMN 错误", "reported as BPMN error")
    case = load_case(session, case_row.id, instance=case_row)
    if job_id not in case.before.external_tasks:
        raise _not_found(job_id)
    payload = {"job_id": job_id, "error_code": error_code, "error_message": error_message,
               "variables": sorted(variables)}
    if case.runtime.throw_bpmn_error(job_id, error_code, error_message, variables):
        case.audit("job.bpmn_error", worker_id, payload)
        save_case(session, case, worker_id)
        return True
    # Nothing caught it: the engine state is unchanged; park the task behind an incident.
    job = session.get(Job, job_id, populate_existing=True)
    assert job is not None  # its case is locked: the row is as read above
    job.state = READY
    job.worker_id = None
    job.lock_expires_at = None
    job.retries = 0
    job.failures += 1
    job.last_failed_at = now
    job.error_message = f"未捕获的 BPMN 错误 {error_code}：{error_message or ''}".rstrip("：")
    incident = _open_incident(session, case_row, job, job.error_message, now)
    record_event(session, case_row, "job.bpmn_error_uncaught", worker_id, {**payload, "incident_id": incident.id})
    case_store.save(session, case_row)
    return False


def extend_lock(session: Session, job_id: str, worker_id: str, new_duration_ms: int) -> None:
    now = _now()
    case, job = _lock_job(session, job_id)
    _require_owner(job, worker_id, "延长锁定", "extended")
    job.lock_expires_at = now + timedelta(milliseconds=new_duration_ms)
    record_event(session, case, "job.lock_extended", worker_id,
                 {"job_id": job_id, "lock_expires_at": job.lock_expires_at.isoformat()})
    case_store.save(session, case)


def unlock(session: Session, job_id: str, actor: str | None) -> None:
    case, job = _lock_job(session, job_id)
    previous = job.worker_id if job.state == LOCKED else None
    job.state = READY
    job.worker_id = None
    job.lock_expires_at = None
    record_event(session, case, "job.unlocked", actor, {"job_id": job_id, "previous_worker": previous})
    case_store.save(session, case)


def set_retries(session: Session, job_id: str, retries: int, actor: str | None) -> None:
    """Set the retries; above zero resolves the task's incident and makes it fetchable again."""
    now = _now()
    case, job = _lock_job(session, job_id)
    job.retries = retries
    payload: dict[str, Any] = {"job_id": job_id, "retries": retries}
    if retries > 0:
        payload["resolved_incidents"] = _resolve_incidents(session, job_id, now)
    else:
        payload["incident_id"] = _open_incident(session, case, job, job.error_message or "重试次数被设为 0", now).id
    record_event(session, case, "job.retries_set", actor, payload)
    case_store.save(session, case)


# -- queries ---------------------------------------------------------------------------------------
def _filtered(query: Any, f: ExternalTaskFilter, now: datetime) -> Any:
    query = query.where(Job.state.in_(OPEN_STATES))
    if f.topic_name:
        query = query.where(Job.topic == f.topic_name)
    if f.worker_id:
        query = query.where(Job.worker_id == f.worker_id)
    if f.process_instance_id:
        query = query.where(Job.instance_id == f.process_instance_id)
    if f.activity_id:
        query = query.where(Job.activity_id == f.activity_id)
    if f.process_definition_key:
        query = query.where(Job.definition_key == f.process_definition_key)
    if f.locked:
        query = query.where(Job.state == LOCKED, Job.lock_expires_at > now)
    if f.not_locked:
        query = query.where(or_(Job.state == READY, Job.lock_expires_at <= now))
    if f.with_retries_left:
        query = query.where(or_(Job.retries.is_(None), Job.retries > 0))
    if f.no_retries_left:
        query = query.where(Job.retries == 0)
    return query


def list_external_tasks(session: Session, f: ExternalTaskFilter, first: int = 0,
                        max_results: int = 100) -> list[Job]:
    query = _filtered(select(Job), f, _now()).order_by(Job.created_at, Job.id)
    return list(session.scalars(query.offset(max(first, 0)).limit(min(max(max_results, 0), MAX_PAGE))))


def count_external_tasks(session: Session, f: ExternalTaskFilter) -> int:
    return int(session.scalar(_filtered(select(func.count()).select_from(Job), f, _now())) or 0)


def get_external_task(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None or job.state not in OPEN_STATES:
        raise _not_found(job_id)
    return job


__all__ = [
    "ExternalTaskFilter", "FetchRequest", "LockedTask", "TopicRequest", "WrongWorkerError", "bpmn_error", "complete",
    "count_external_tasks", "extend_lock", "failure", "fetch_and_lock", "get_external_task", "list_external_tasks",
    "set_retries", "unlock",
]
