"""Real worker processes for the worker tests: Celery workers and beat, a private redis-server, and waiting.

The broker is the one CELERY_BROKER_URL names (Redis or RabbitMQ in CI: `.ci/run` runs the broker tests on
both), else a folder broker.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction

ROOT = Path(__file__).resolve().parents[2]


def celery(command: str, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """`celery -A workers.worker <command>` in its own process group (so a kill reaches its children)."""
    extra = ["--without-gossip", "--without-mingle", "--without-heartbeat"] if command == "worker" else []
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.worker", command, "--loglevel=WARNING", *extra, *args],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM the process group, then SIGKILL if it does not go within 20 s."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def broker_url() -> str:
    return os.environ.get("CELERY_BROKER_URL") or "filesystem://"


def is_amqp(url: str) -> bool:
    return url.startswith(("amqp://", "amqps://", "pyamqp://"))


def amqp_queue(url: str, queue: str = "celery") -> tuple[int, int]:
    """(messages ready, consumers) of a RabbitMQ queue, as the broker counts them (a passive declare)."""
    from kombu import Connection

    with Connection(url, connect_timeout=5) as connection:
        declared = connection.default_channel.queue_declare(queue=queue, passive=True)
        return int(declared.message_count), int(declared.consumer_count)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def redis_server(port: int) -> subprocess.Popen[bytes]:
    """A private, memory-only redis-server: what it holds is gone when it stops, as after a crash."""
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    wait_for(lambda: _answers(port), 20, f"redis-server on port {port}")
    return process


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str,
             tick: Callable[[], None] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        if tick is not None:
            tick()
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def count(sessions: sessionmaker[Session], query: Any) -> int:
    with transaction(sessions) as session:
        return int(session.scalar(query) or 0)


def rows(sessions: sessionmaker[Session], query: Any) -> list[Any]:
    with transaction(sessions) as session:
        return list(session.execute(query))
