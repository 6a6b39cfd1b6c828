"""Entry point: `celery -A workers.worker worker` / `celery -A workers.worker beat`."""

from orchestrator import create_app
from workers.celery_app import celery_init_app

flask_app = create_app()
celery = celery_init_app(flask_app)

import workers.tasks  # noqa: E402,F401  (registers the tasks)
