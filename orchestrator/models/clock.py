"""The statutory clock of a case (法定 / 承诺时限): pauses for special procedures and approved extensions.

A clock is not a BPMN timer: it pauses (行政许可法 art. 45) and extends (art. 42), so it lives in
Lianban's own tables. `status`, `deadline` and `warn_at` are stored so that warning and overdue lists
and the scheduler's scan are index look-ups.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.db import Base, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class CaseClock(Base):
    """One clock per case and kind (statutory / committed)."""

    __tablename__ = "case_clock"
    __table_args__ = (UniqueConstraint("instance_id", "kind", name="uq_case_clock_instance_kind"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"))
    definition_key: Mapped[str] = mapped_column(String(255))  # the bundle, for the supervision lists
    kind: Mapped[str] = mapped_column(String(16))  # statutory | committed
    started_on: Mapped[date] = mapped_column(Date)  # acceptance date, Asia/Shanghai
    limit_days: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None: calendar data missing
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_workdays: Mapped[int] = mapped_column(Integer, default=0)
    extended_days: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))  # NORMAL, WARNING, OVERDUE, PAUSED, STOPPED
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


Index("ix_case_clock_status_deadline", CaseClock.status, CaseClock.deadline)
Index("ix_case_clock_status_warn_at", CaseClock.status, CaseClock.warn_at)
Index("ix_case_clock_bundle_status", CaseClock.definition_key, CaseClock.status)


class ClockPause(Base):
    """A special procedure (特别程序) or correction request during which the clock does not run."""

    __tablename__ = "clock_pause"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    clock_id: Mapped[int] = mapped_column(ForeignKey("case_clock.id"), index=True)
    reason: Mapped[str] = mapped_column(String(32))  # hearing, testing, inspection, expert_review, correction, other
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    workdays: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)


class ClockExtension(Base):
    """An approved extension (延期): how many working days, who approved it and why."""

    __tablename__ = "clock_extension"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    clock_id: Mapped[int] = mapped_column(ForeignKey("case_clock.id"), index=True)
    days: Mapped[int] = mapped_column(Integer)
    approved_by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
