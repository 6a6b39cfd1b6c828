"""Celery settings the brokers' delivery rules rely on: a killed worker's message comes back, a running one's not."""

from __future__ import annotations

from flask import Flask

import workers.clock_tasks  # noqa: F401  (registers lianban.clock.scan)
import workers.tasks  # noqa: F401  (registers the tasks)
from workers.celery_app import celery_init_app

# RabbitMQ closes the channel of a consumer that holds a delivery unacknowledged longer than `consumer_timeout`
# (30 minutes by default since 3.8.15) and redelivers the message while the task may still be running.
RABBITMQ_CONSUMER_TIMEOUT_S = 30 * 60


def test_tasks_are_acknowledged_after_they_ran_so_a_killed_worker_leaves_its_messages_to_the_broker(
    app: Flask,
) -> None:
    app.config["BROKER_URL"] = "amqp://guest:guest@127.0.0.1:5672//"
    conf = celery_init_app(app).conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    # One message per worker thread in hand: a killed worker takes no queue of others' messages down with it.
    assert conf.worker_prefetch_multiplier == 1


def test_every_lianban_task_ends_before_rabbitmq_would_take_its_message_back(app: Flask) -> None:
    app.config["BROKER_URL"] = "amqp://guest:guest@127.0.0.1:5672//"
    celery_app = celery_init_app(app)
    tasks = {name: task for name, task in celery_app.tasks.items() if name.startswith("lianban.")}
    assert set(tasks) == {"lianban.timers.fire_due", "lianban.jobs.run", "lianban.jobs.sweep", "lianban.clock.scan"}
    for name, task in tasks.items():
        assert task.acks_late, name
        assert 0 < task.time_limit < RABBITMQ_CONSUMER_TIMEOUT_S, name


def test_on_redis_an_unacknowledged_message_comes_back_only_after_the_longest_task_could_have_ended(
    app: Flask,
) -> None:
    # Redis has no connection-bound deliveries: an unacknowledged message is restored after the visibility
    # timeout. Shorter than a task's hard limit, a running task's message would be delivered a second time.
    app.config["BROKER_URL"] = "redis://127.0.0.1:6379/0"
    celery_app = celery_init_app(app)
    visibility = celery_app.conf.broker_transport_options["visibility_timeout"]
    longest = max(task.time_limit for name, task in celery_app.tasks.items() if name.startswith("lianban."))
    assert visibility > longest
