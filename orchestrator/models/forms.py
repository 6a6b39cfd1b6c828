"""What reviewers enter in task forms (drafts, checked submissions) and the materials they upload."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.db import Base, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class FormDraft(Base):
    """The values of a task form saved before submitting; removed when the task is completed."""

    __tablename__ = "form_draft"

    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"), index=True)
    form_key: Mapped[str] = mapped_column(String(255))
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    saved_by: Mapped[str | None] = mapped_column(String(128))
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FormSubmission(Base):
    """A submission that passed the form's checks, as the case received it (the record behind reports)."""

    __tablename__ = "form_submission"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"))
    task_id: Mapped[str] = mapped_column(String(36))
    activity_id: Mapped[str] = mapped_column(String(255))
    form_key: Mapped[str] = mapped_column(String(255))
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    submitted_by: Mapped[str | None] = mapped_column(String(128))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())


Index("ix_form_submission_instance_activity", FormSubmission.instance_id, FormSubmission.activity_id)


class Material(Base):
    """An uploaded file of a case (申请材料) or of one of its tasks; the bytes live in storage, not here."""

    __tablename__ = "material"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(64))  # material kind from materials.json
    filename: Mapped[str] = mapped_column(String(255))  # the safe name shown and offered on download
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    uploaded_by: Mapped[str | None] = mapped_column(String(128))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
