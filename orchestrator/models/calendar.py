"""The administrator's working-day calendar: day overrides and the years whose schedule is complete."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.db import Base, UTCDateTime


class CalendarDay(Base):
    """One day whose status differs from (or is missing in) the library: a holiday or a make-up working day."""

    __tablename__ = "calendar_day"

    date: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str | None] = mapped_column(String(64))  # 国庆节 / 春节调休上班
    note: Mapped[str | None] = mapped_column(Text)
    updated_by: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CalendarYear(Base):
    """A year whose whole schedule the override table holds (days without a row follow the weekend rule)."""

    __tablename__ = "calendar_year"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str | None] = mapped_column(Text)  # e.g. 国务院办公厅关于2027年部分节假日安排的通知
    published_at: Mapped[date | None] = mapped_column(Date)
