"""The Celery application bound to the Flask app: every task runs inside the app context."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery, Task
from flask import Flask

from orchestrator.services.connectors import PUBLISHER

# A Redis broker restores a message that was delivered and never acknowledged (its worker died) after this
# many seconds. Longer than any task's hard time limit, or a running task's message is delivered twice; Redis's
# own default is an hour. RabbitMQ needs no such setting: it takes back a dead connection's deliveries at once.
REDIS_VISIBILITY_TIMEOUT_S = 900


def broker_options(url: str) -> dict[str, Any]:
    """Per-broker transport options: the embedded default needs no broker server (a folder on disk serves as one);
    Redis gets a visibility timeout; RabbitMQ (`amqp://`) needs none."""
    if url.startswith(("redis://", "rediss://")):
        return {"visibility_timeout": REDIS_VISIBILITY_TIMEOUT_S}
    if url.startswith("filesystem://"):
        folder = Path(os.environ.get("LIANBAN_BROKER_DIR", "var/broker"))
        for name in ("in", "processed", "control"):
            (folder / name).mkdir(parents=True, exist_ok=True)
        return {"data_folder_in": str(folder / "in"), "data_folder_out": str(folder / "in"),
                "processed_folder": str(folder / "processed"), "control_folder": str(folder / "control"),
                "store_processed": False}
    return {}


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    broker = app.config["BROKER_URL"]
    celery_app = Celery(app.name, task_cls=FlaskTask, broker=broker)
    celery_app.conf.update(
        broker_transport_options=broker_options(broker),
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=300,
        task_soft_time_limit=240,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        beat_schedule={
            "fire-due-timers": {"task": "lianban.timers.fire_due", "schedule": app.config["SCHEDULER_INTERVAL_S"]},
            "sweep-connector-jobs": {"task": "lianban.jobs.sweep", "schedule": app.config["JOBS_SWEEP_INTERVAL_S"]},
        },
    )

    def publish_jobs(job_ids: list[str]) -> None:
        """Wake a worker per job: the message carries only the id; the job row is the truth."""
        for job_id in job_ids:
            celery_app.send_task("lianban.jobs.run", args=[job_id], retry=False)

    app.extensions[PUBLISHER] = publish_jobs
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
