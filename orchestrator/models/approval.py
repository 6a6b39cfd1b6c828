"""Approval records: opinions (审批意见, the official record), carbon copies (抄送) and proxies (代理)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.db import Base, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class ApprovalOpinion(Base):
    """One decision with its opinion (and optional signature image) on one step of a case."""

    __tablename__ = "approval_opinion"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    activity_id: Mapped[str] = mapped_column(String(255))
    activity_name: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    actor: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # decision | send_back | retract | transfer | signers
    decision: Mapped[str | None] = mapped_column(String(32))  # approve | reject | correct | …
    opinion: Mapped[str] = mapped_column(Text)
    signature_type: Mapped[str | None] = mapped_column(String(32))  # image/png | image/jpeg
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    signature_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CarbonCopy(Base):
    """A case copied to a person or a department: read-only, never blocks the flow."""

    __tablename__ = "carbon_copy"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    activity_id: Mapped[str | None] = mapped_column(String(255))
    recipient_kind: Mapped[str] = mapped_column(String(8))  # user | group
    recipient: Mapped[str] = mapped_column(String(128))
    sent_by: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_by: Mapped[str | None] = mapped_column(String(128))


Index("ix_carbon_copy_recipient", CarbonCopy.recipient_kind, CarbonCopy.recipient, CarbonCopy.read_at)


class TaskProxy(Base):
    """While `principal` is away (dates in Asia/Shanghai, inclusive), `proxy` receives the new tasks."""

    __tablename__ = "task_proxy"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    principal: Mapped[str] = mapped_column(String(128))
    proxy: Mapped[str] = mapped_column(String(128))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


Index("ix_task_proxy_principal", TaskProxy.principal, TaskProxy.starts_on, TaskProxy.ends_on)
