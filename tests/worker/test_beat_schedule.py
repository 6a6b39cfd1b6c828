"""Celery beat can send every entry of its schedule (a task whose soft limit exceeds its hard limit cannot be sent)."""

from __future__ import annotations

from flask import Flask

import workers.clock_tasks
import workers.tasks  # noqa: F401  (registers the tasks)
from workers.celery_app import celery_init_app


def test_every_beat_entry_can_be_published_as_beat_publishes_it(app: Flask) -> None:
    app.config["BROKER_URL"] = "memory://"
    celery_app = celery_init_app(app)
    schedule = {**celery_app.conf.beat_schedule, "scan-clocks": workers.clock_tasks.BEAT_ENTRY}
    assert {entry["task"] for entry in schedule.values()} == {
        "lianban.timers.fire_due", "lianban.jobs.sweep", "lianban.clock.scan"}
    for entry in schedule.values():
        task = celery_app.tasks[entry["task"]]
        task.apply_async()  # what beat calls; raises when the task's limits are inconsistent
        assert task.acks_late and task.time_limit and task.soft_time_limit <= task.time_limit
