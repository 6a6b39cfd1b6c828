"""Celery tasks: thin, retry-safe, ids in; the services do the work under the case lock."""

from __future__ import annotations

from celery import shared_task
from flask import current_app

from orchestrator import timesource


@shared_task(name="lianban.timers.fire_due", acks_late=True,  # type: ignore[untyped-decorator]
             time_limit=120, soft_time_limit=100)
def fire_due_timers(grace_s: float = 0.0) -> int:
    """Fire every timer due `grace_s` ago or earlier; each fires under its case's lock, exactly once.

    Beat sends it with a grace (`workers.scheduler_leader`): a fallback that leaves the leader's timers alone.
    """
    from datetime import timedelta

    from orchestrator.scheduler import fire_due_timers as fire

    return fire(current_app.extensions["lianban.sessions"], timesource.now() - timedelta(seconds=grace_s))


@shared_task(name="lianban.jobs.run", acks_late=True,  # type: ignore[untyped-decorator]
             time_limit=600, soft_time_limit=540)
def run_job(job_id: str) -> str:
    """Run one connector job: claim it, call the department, record the outcome (see connector_jobs)."""
    from orchestrator.services import connector_jobs

    return connector_jobs.run_job(current_app.extensions["lianban.sessions"], job_id)


@shared_task(name="lianban.jobs.sweep", acks_late=True,  # type: ignore[untyped-decorator]
             time_limit=120, soft_time_limit=100)
def sweep_jobs() -> int:
    """Re-publish connector jobs that were never picked up, waited out their back-off, or lost their worker."""
    from orchestrator.services import connector_jobs

    return connector_jobs.sweep(current_app.extensions["lianban.sessions"],
                                publish=current_app.extensions.get(connector_jobs.PUBLISHER))
