"""Time-limit supervision: timer firings with their lateness, 督办 items, supervisor actions, notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.db import Base, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class TimerFiring(Base):
    """One fired timer: when it was due, when it fired, how late (the scheduler's service level)."""

    __tablename__ = "timer_firing"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    timer_id: Mapped[str] = mapped_column(String(36))
    instance_id: Mapped[str] = mapped_column(String(36), index=True)
    activity_id: Mapped[str] = mapped_column(String(255))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    lateness_s: Mapped[float] = mapped_column(Float)


class SupervisionItem(Base):
    """A 督办 item: opened when a case or a step passes its limit, with its own deadline to be dealt with."""

    __tablename__ = "supervision_item"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(80), unique=True)  # clock:<id> | task:<id>: opened once
    instance_id: Mapped[str] = mapped_column(String(36), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    scope: Mapped[str] = mapped_column(String(8))  # case | step
    bundle: Mapped[str] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))  # OPEN | CLOSED
    limit_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the limit that was passed
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the item's own deadline
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_reason: Mapped[str | None] = mapped_column(String(255))


Index("ix_supervision_item_status_deadline", SupervisionItem.status, SupervisionItem.deadline)


class SupervisionAction(Base):
    """What a supervisor did: 催办 (remind), a note, a reassignment."""

    __tablename__ = "supervision_action"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(String(36), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    item_id: Mapped[int | None] = mapped_column(_ID)
    action: Mapped[str] = mapped_column(String(16))  # remind | note | reassign
    actor: Mapped[str | None] = mapped_column(String(128))
    text: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Notification(Base):
    """An in-app notification; e-mail / SMS connectors receive the same after commit."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    recipient: Mapped[str] = mapped_column(String(160))  # user:<name> | group:<group> | role:<role>
    kind: Mapped[str] = mapped_column(String(32))  # step.warning, step.overdue, case.overdue, remind, reassign…
    title: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    instance_id: Mapped[str | None] = mapped_column(String(36))
    task_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


Index("ix_notification_recipient_read", Notification.recipient, Notification.read_at, Notification.id)
