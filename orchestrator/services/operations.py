"""Operations: what the jobs are doing, what failed, retrying an incident, and the Prometheus figures.

Everything here reads the projections (job, incident, timer, audit rows), never an engine state.
Times are stored in UTC and shown in Asia/Shanghai.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, Float, and_, case, cast, func, select, update
from sqlalchemy.orm import Session

from orchestrator.errors import ConflictError, InvalidRequestError, LianbanError, NotFoundError
from orchestrator.models import TIMER_PENDING, AuditEvent, Incident, Job, Timer
from orchestrator.services import case_store, external_tasks, manual_entry
from orchestrator.services.audit import record_event
from orchestrator.services.connectors import connector_for, load_connectors, publish_after_commit
from orchestrator.workcalendar import SHANGHAI

JOB_STATES = ("READY", "LOCKED", manual_entry.MANUAL, "COMPLETED", "CANCELED")
MAX_PAGE = 1000
# Seconds from a job's creation to its completion (outbox → worker → department → recorded).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, 86400.0)


@dataclass(frozen=True)
class JobFilter:
    states: tuple[str, ...] = ()
    topic: str | None = None
    instance_id: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _shown(value: datetime | None) -> str | None:
    return value.astimezone(SHANGHAI).isoformat() if value is not None else None


def parse_states(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    states = tuple(part.strip().upper() for part in raw.split(",") if part.strip())
    unknown = [s for s in states if s not in JOB_STATES]
    if unknown:
        raise InvalidRequestError(f"state 只能是 {'、'.join(JOB_STATES)}（可逗号分隔），不认识：{unknown[0]}",
                                  f"state must be one of {', '.join(JOB_STATES)}", field="state")
    return states


def _kind(job: Job, http_topics: Iterable[str]) -> str:
    if job.state == manual_entry.MANUAL:
        return "manual"
    return "connector" if job.topic in http_topics else "external"


def job_json(job: Job, http_topics: Iterable[str]) -> dict[str, Any]:
    return {
        "id": job.id, "case_id": job.instance_id, "bundle": job.definition_key, "business_key": job.business_key,
        "activity_id": job.activity_id, "activity_name": job.activity_name, "topic": job.topic,
        "kind": _kind(job, http_topics), "state": job.state, "suspended": job.suspended, "priority": job.priority,
        "retries": job.retries, "attempts": job.attempts, "failures": job.failures,
        "worker_id": job.worker_id, "lock_expires_at": _shown(job.lock_expires_at),
        "last_error": job.error_message, "last_failed_at": _shown(job.last_failed_at),
        "republished_at": _shown(job.republished_at), "created_at": _shown(job.created_at),
        "ended_at": _shown(job.ended_at), "idempotency_key": job.idempotency_key,
    }


def _http_topics() -> set[str]:
    try:
        return set(load_connectors())
    except LianbanError:
        return set()  # a broken connector file must not hide the job list


def _filtered(query: Any, f: JobFilter) -> Any:
    if f.states:
        query = query.where(Job.state.in_(f.states))
    if f.topic:
        query = query.where(Job.topic == f.topic)
    if f.instance_id:
        query = query.where(Job.instance_id == f.instance_id)
    return query


def list_jobs(session: Session, f: JobFilter, first: int = 0, max_results: int = 100) -> dict[str, Any]:
    """One page of jobs, newest first, with the total count."""
    if first < 0:
        raise InvalidRequestError("firstResult 不能为负数", "firstResult must be >= 0", field="firstResult")
    if not 1 <= max_results <= MAX_PAGE:
        raise InvalidRequestError(f"maxResults 应在 1 到 {MAX_PAGE} 之间", f"maxResults must be 1..{MAX_PAGE}",
                                  field="maxResults")
    rows = session.scalars(_filtered(select(Job), f).order_by(Job.created_at.desc(), Job.id)
                           .offset(first).limit(max_results))
    total = int(session.scalar(_filtered(select(func.count()).select_from(Job), f)) or 0)
    topics = _http_topics()
    return {"total": total, "first": first, "items": [job_json(job, topics) for job in rows]}


def get_job(session: Session, job_id: str) -> dict[str, Any]:
    """One job with its incidents and its history (the audit events of its case that name it)."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"作业不存在：{job_id}", f"No job with id {job_id}", field="id")
    events = session.scalars(select(AuditEvent).where(AuditEvent.instance_id == job.instance_id)
                             .order_by(AuditEvent.id))
    history = [{"at": _shown(e.at), "event": e.event_type, "actor": e.actor,
                "details": {k: v for k, v in (e.payload or {}).items() if k not in ("job_id", "task_id")}}
               for e in events if (e.payload or {}).get("job_id") == job_id
               or (e.payload or {}).get("task_id") == job_id]
    incidents = session.scalars(select(Incident).where(Incident.configuration == job_id)
                                .order_by(Incident.created_at))
    return {
        **job_json(job, _http_topics()),
        "incidents": [{"id": i.id, "type": i.incident_type, "message": i.message, "created_at": _shown(i.created_at),
                       "resolved_at": _shown(i.resolved_at)} for i in incidents],
        "history": history,
    }


def retry_incident(session: Session, incident_id: str, actor: str | None) -> dict[str, Any]:
    """Resolve an open incident and run its job or timer again (a connector job is published at once)."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFoundError(f"故障不存在：{incident_id}", f"No incident with id {incident_id}", field="id")
    if incident.resolved_at is not None:
        raise ConflictError("该故障已处理", "The incident is already resolved", code="incident.resolved")
    target = incident.configuration or ""
    if incident.incident_type == external_tasks.INCIDENT_TYPE:
        job = session.get(Job, target)
        if job is None or job.state not in external_tasks.OPEN_STATES:
            raise ConflictError("故障对应的作业已结束，无法重试", "The incident's job has ended",
                                code="incident.target_gone")
        connector = connector_for(job.topic)
        retries = connector.retries if connector is not None and connector.retries > 0 else 1
        external_tasks.set_retries(session, target, retries, actor)  # resolves the incident, records the event
        publish_after_commit(session, [job])
        return {"incident_id": incident_id, "job_id": target, "retries": retries}
    # A failed timer: release it; the scheduler fires it in its next round.
    case = case_store.lock_owner_of(session, Timer.__table__, target)  # type: ignore[arg-type]
    if case is None:
        raise ConflictError("故障对应的定时器已不存在，无法重试", "The incident's timer no longer exists",
                            code="incident.target_gone")
    session.execute(update(Timer).where(Timer.id == target).values(suspended=False))
    session.execute(update(Incident).where(Incident.id == incident_id).values(resolved_at=_now())
                    .execution_options(synchronize_session=False))
    record_event(session, case, "incident.retried", actor, {"incident_id": incident_id, "timer_id": target})
    case_store.save(session, case)
    return {"incident_id": incident_id, "timer_id": target}


# -- /metrics --------------------------------------------------------------------------------------
def _seconds_between(session: Session, start: Any, end: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def collect_metrics(session: Session, now: datetime | None = None) -> list[Metric]:
    """The figures of one scrape, read from the database (every process sees the same numbers)."""
    now = now or _now()
    depth = GaugeMetricFamily("lianban_jobs", "Open jobs by state and topic (queue depth)", labels=["state", "topic"])
    for state, topic, count in session.execute(
            select(Job.state, Job.topic, func.count()).where(Job.state.in_(("READY", "LOCKED", manual_entry.MANUAL)))
            .group_by(Job.state, Job.topic).order_by(Job.state, Job.topic)):
        depth.add_metric([state, topic], count)
    locked = GaugeMetricFamily("lianban_external_tasks_locked", "Jobs locked by a worker whose lock has not expired",
                               labels=["topic"])
    expired = GaugeMetricFamily("lianban_jobs_lock_expired", "Locked jobs whose worker's lock expired (to be swept)")
    lock_rows = session.execute(
        select(Job.topic, func.sum(case((Job.lock_expires_at > now, 1), else_=0)),
               func.sum(case((Job.lock_expires_at <= now, 1), else_=0)))
        .where(Job.state == "LOCKED").group_by(Job.topic).order_by(Job.topic)).all()
    for topic, live, _ in lock_rows:
        locked.add_metric([topic], int(live or 0))
    expired.add_metric([], sum(int(dead or 0) for _, _, dead in lock_rows))
    waiting = session.scalar(select(func.count()).select_from(Job).where(
        Job.state == "READY", Job.lock_expires_at > now)) or 0
    backoff = GaugeMetricFamily("lianban_jobs_waiting_retry", "Failed jobs waiting out their retry back-off")
    backoff.add_metric([], int(waiting))
    incidents = GaugeMetricFamily("lianban_incidents_open", "Open incidents by type", labels=["type"])
    for kind, count in session.execute(select(Incident.incident_type, func.count())
                                       .where(Incident.resolved_at.is_(None)).group_by(Incident.incident_type)):
        incidents.add_metric([kind], count)
    timers_due = GaugeMetricFamily("lianban_timers_due", "Timers due and not yet fired")
    timers_due.add_metric([], int(session.scalar(select(func.count()).select_from(Timer).where(
        TIMER_PENDING, Timer.due_at <= now)) or 0))
    timers_waiting = GaugeMetricFamily("lianban_timers_waiting", "Timers waiting for their due time")
    timers_waiting.add_metric([], int(session.scalar(select(func.count()).select_from(Timer).where(
        TIMER_PENDING, Timer.due_at > now)) or 0))
    return [depth, locked, expired, backoff, incidents, timers_due, timers_waiting, _latency(session)]


def _latency(session: Session) -> HistogramMetricFamily:
    """Creation → completion of every completed job, as cumulative bucket counts computed by the database."""
    seconds = cast(_seconds_between(session, Job.created_at, Job.ended_at), Float)
    columns = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in LATENCY_BUCKETS]
    row = session.execute(select(func.count(), func.sum(seconds), *columns)
                          .where(and_(Job.state == "COMPLETED", Job.ended_at.is_not(None)))).one()
    count, total = int(row[0] or 0), float(row[1] or 0.0)
    buckets = [(str(bound), int(value or 0)) for bound, value in zip(LATENCY_BUCKETS, row[2:], strict=True)]
    buckets.append(("+Inf", count))
    return HistogramMetricFamily("lianban_job_latency_seconds", "Time from a job's creation to its completion",
                                 buckets=buckets, sum_value=total)


class _Figures(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return iter(self.metrics)


def render_metrics(session: Session) -> bytes:
    """The Prometheus text exposition of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Figures(collect_metrics(session)))
    return generate_latest(registry)


__all__ = ["JOB_STATES", "JobFilter", "collect_metrics", "get_job", "job_json", "list_jobs", "parse_states",
           "render_metrics", "retry_incident"]
