"""Cases (process instances) and the projections derived from their engine state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.db import Base, UTCDateTime

ID = String(36)


class ProcessInstance(Base):
    """One case: the engine state (compressed, versioned JSON without the spec) and its row version."""

    __tablename__ = "process_instance"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    definition_id: Mapped[str] = mapped_column(ForeignKey("process_definition.id"), index=True)
    definition_key: Mapped[str] = mapped_column(String(255), index=True)
    business_key: Mapped[str | None] = mapped_column(String(255), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # ACTIVE, SUSPENDED, COMPLETED, TERMINATED
    engine_state: Mapped[bytes] = mapped_column(LargeBinary)
    serializer_version: Mapped[str] = mapped_column(String(16))
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_by: Mapped[str | None] = mapped_column(String(128))
    end_reason: Mapped[str | None] = mapped_column(String(255))
    audit_head: Mapped[str | None] = mapped_column(String(64))

    __mapper_args__ = {"version_id_col": version}


class HumanTask(Base):
    """A user task waiting for a person; everything the diagram says about it, queryable."""

    __tablename__ = "human_task"

    id: Mapped[str] = mapped_column(ID, primary_key=True)  # the engine task id
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"), index=True)
    definition_id: Mapped[str] = mapped_column(String(255))
    definition_key: Mapped[str] = mapped_column(String(255))
    business_key: Mapped[str | None] = mapped_column(String(255))
    applicant: Mapped[str | None] = mapped_column(String(255))  # the case's applicant_name, for the task list
    activity_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))  # CREATED, COMPLETED, CANCELED
    assignee: Mapped[str | None] = mapped_column(String(128))
    owner: Mapped[str | None] = mapped_column(String(128))
    delegation_state: Mapped[str | None] = mapped_column(String(16))  # PENDING, RESOLVED (Camunda delegation)
    candidate_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    candidate_users: Mapped[list[str]] = mapped_column(JSON, default=list)
    due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    follow_up: Mapped[datetime | None] = mapped_column(UTCDateTime())
    priority: Mapped[int] = mapped_column(Integer, default=50)
    form_key: Mapped[str | None] = mapped_column(String(255))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_by: Mapped[str | None] = mapped_column(String(128))
    suspended: Mapped[bool] = mapped_column(default=False)
    # Step limit (环节时限), kept on the row so that warning / overdue lists are index look-ups:
    # NORMAL, WARNING, OVERDUE while open, STOPPED once ended; None when the step has no limit.
    limit_state: Mapped[str | None] = mapped_column(String(16))
    limit_days: Mapped[int | None] = mapped_column(Integer)
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    department: Mapped[str | None] = mapped_column(String(128))


Index("ix_human_task_open_due", HumanTask.state, HumanTask.due)
Index("ix_human_task_assignee_state", HumanTask.assignee, HumanTask.state, HumanTask.due)
Index("ix_human_task_limit_warn", HumanTask.limit_state, HumanTask.warn_at)
Index("ix_human_task_limit_due", HumanTask.limit_state, HumanTask.due)
# Every open task, due first: the task list of administrators and top supervisors (view=all).
_OPEN_TASK = text("state = 'CREATED'")
Index("ix_human_task_open_queue", HumanTask.due, HumanTask.id, postgresql_where=_OPEN_TASK, sqlite_where=_OPEN_TASK)
# The task list's case-number filter.
Index("ix_human_task_business_key", HumanTask.business_key)
# The reach of a case list below the top level (services/queries.py `_cases_in`): the cases with a task of the
# reader's departments, or one it owns or completed (held: ix_human_task_assignee_state).
Index("ix_human_task_department", HumanTask.department, HumanTask.instance_id)
Index("ix_human_task_owner", HumanTask.owner, postgresql_where=HumanTask.owner.is_not(None),
      sqlite_where=HumanTask.owner.is_not(None))
Index("ix_human_task_completed_by", HumanTask.completed_by, HumanTask.instance_id)


class HumanTaskCandidate(Base):
    """One candidate group or user of an OPEN task, with the task's due time and assignee copied in.

    Queue queries ("unclaimed tasks of my departments, due first") are answered from the index on
    this table alone. The rows exist only while the task is open; every change to a task's state,
    assignee, due time or suspension goes through `services.task_rows`, which keeps them in step.
    """

    __tablename__ = "human_task_candidate"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # group | user
    value: Mapped[str] = mapped_column(String(128))
    due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    assignee: Mapped[str | None] = mapped_column(String(128))
    suspended: Mapped[bool] = mapped_column(default=False)


Index("ix_human_task_candidate_lookup", HumanTaskCandidate.kind, HumanTaskCandidate.value, HumanTaskCandidate.due,
      HumanTaskCandidate.task_id, postgresql_include=["assignee", "suspended"])
# The department queue: unclaimed, not suspended, due first.
_QUEUE = text("assignee IS NULL AND NOT suspended")
Index("ix_human_task_candidate_queue", HumanTaskCandidate.kind, HumanTaskCandidate.value, HumanTaskCandidate.due,
      HumanTaskCandidate.task_id, postgresql_where=_QUEUE, sqlite_where=_QUEUE)


class Job(Base):
    """A service task to run (external task / connector): the outbox row is the truth."""

    __tablename__ = "job"

    id: Mapped[str] = mapped_column(ID, primary_key=True)  # the engine task id
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"), index=True)
    definition_id: Mapped[str] = mapped_column(String(255))
    definition_key: Mapped[str] = mapped_column(String(255))
    business_key: Mapped[str | None] = mapped_column(String(255))
    activity_id: Mapped[str] = mapped_column(String(255))
    activity_name: Mapped[str | None] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))  # READY, LOCKED, MANUAL (二次录入), COMPLETED, CANCELED
    priority: Mapped[int] = mapped_column(Integer, default=0)
    retries: Mapped[int | None] = mapped_column(Integer)
    worker_id: Mapped[str | None] = mapped_column(String(255))
    lock_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    idempotency_key: Mapped[str] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    suspended: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # claims by a worker
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    republished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the sweeper's last wake-up


Index("ix_job_fetch", Job.state, Job.topic, Job.priority)
Index("ix_job_state_ended", Job.state, Job.ended_at)


class Timer(Base):
    """A waiting timer event and its due time; the scheduler fires due rows under the instance lock."""

    __tablename__ = "timer"

    id: Mapped[str] = mapped_column(ID, primary_key=True)  # the engine task id
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"), index=True)
    activity_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # date | duration | cycle
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    suspended: Mapped[bool] = mapped_column(default=False)


# What the scheduler waits for. The claim and next-due queries filter with this very expression, so the
# partial index on the due time serves them (an `IS false` test, or an index led by `suspended`, did not:
# PostgreSQL then scanned all 100,000 pending rows per claim).
TIMER_PENDING = Timer.suspended == false()
Index("ix_timer_pending", Timer.due_at, postgresql_where=TIMER_PENDING, sqlite_where=TIMER_PENDING)


class MessageSubscription(Base):
    """A waiting message catch (event, receive task, boundary, event-subprocess start)."""

    __tablename__ = "message_subscription"

    id: Mapped[str] = mapped_column(ID, primary_key=True)  # the engine task id
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"), index=True)
    message_name: Mapped[str] = mapped_column(String(255))
    activity_id: Mapped[str] = mapped_column(String(255))
    business_key: Mapped[str | None] = mapped_column(String(255))


Index("ix_message_subscription_name", MessageSubscription.message_name, MessageSubscription.business_key)


class ActivityInstance(Base):
    """History of every activity a case entered: start and end times, as Camunda's history service."""

    __tablename__ = "activity_instance"

    id: Mapped[str] = mapped_column(ID, primary_key=True)  # the engine task id
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"), index=True)
    definition_id: Mapped[str] = mapped_column(String(255))
    activity_id: Mapped[str] = mapped_column(String(255))
    activity_name: Mapped[str | None] = mapped_column(String(255))
    activity_type: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    canceled: Mapped[bool] = mapped_column(default=False)


class Incident(Base):
    """A failure that needs a person: a timer or job that could not run."""

    __tablename__ = "incident"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"), index=True)
    definition_id: Mapped[str] = mapped_column(String(255))
    activity_id: Mapped[str | None] = mapped_column(String(255))
    incident_type: Mapped[str] = mapped_column(String(64))  # failedJob, failedTimer
    configuration: Mapped[str | None] = mapped_column(String(64))  # job or timer id
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEvent(Base):
    """Append-only audit trail, hash-chained per case (the chain of a case is under its row lock)."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    instance_id: Mapped[str | None] = mapped_column(String(36), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
