"""Entry point: `celery -A workers.worker worker` / `celery -A workers.worker beat`."""

from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from orchestrator import create_app
from workers.celery_app import celery_init_app

flask_app = create_app()
celery: Celery = flask_app.extensions.get("celery") or celery_init_app(flask_app)

import workers.clock_tasks  # noqa: E402  (lianban.clock.scan)
import workers.tasks  # noqa: E402,F401  (registers the tasks)

celery.conf.beat_schedule.setdefault("scan-clocks", workers.clock_tasks.BEAT_ENTRY)

import workers.scheduler_leader  # noqa: E402  (one worker at a time runs the scheduler loop)

workers.scheduler_leader.install(celery, flask_app)


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _fresh_connections(**_: Any) -> None:
    """A forked pool child must not share the parent's database connections."""
    flask_app.extensions["lianban.engine"].dispose(close=False)
