"""Prompt timers on the Celery path: one worker at a time runs the scheduler loop, as the embedded mode does.

Every `celery worker` gets a bootstep that contends for a lease; the holder runs `scheduler.run_forever` in a
thread (timers fire as they fall due, not once per beat tick) and the others wait to take over:

- PostgreSQL: a session advisory lock held on a dedicated connection. When the holder dies (even `kill -9`)
  its connection closes and the server frees the lock; TCP keepalives cover a machine that vanishes. The
  holder checks its connection every `LEASE_CHECK_S` and steps down when it is gone (database restart).
- SQLite (one machine by nature): a POSIX lock (`lockf`) on `<database>.scheduler.lock`, freed by the kernel
  when the process dies and never inherited by the pool's forked children.

The loop sleeps until the next due timer; a timer committed by another process (a web request, a pool
process) and due before that is announced to the leader (`timer_alarm`: `LISTEN lianban_timer_due` on the
lease's connection, or a datagram socket `<database>.scheduler.sock`), which wakes the loop as the embedded
mode's in-process alarm does.

Two leaders for a moment (a partition) would still fire each timer once: a timer is claimed under its case's
row lock and deleted in the firing's transaction. Beat keeps a fallback, `lianban.timers.fire_due` with a
grace: it fires only timers already `LIANBAN_TIMER_FALLBACK_GRACE_S` late, so while a leader runs it finds nothing
(one indexed query) and never races it, and without any leader timers still fire within grace + one tick.
`LIANBAN_WORKER_SCHEDULER=0` leaves a worker out of the contest.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import socket
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol

from celery import Celery, bootsteps
from flask import Flask
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from orchestrator import scheduler, timesource
from orchestrator.db import normalise_url
from orchestrator.services import calendar_alerts, connector_jobs, timer_alarm

log = logging.getLogger(__name__)

ADVISORY_KEY = 0x4C42_5443  # "LBTC": the scheduler lease
LEASE_CHECK_S = 2.0
RETRY_S = float(os.environ.get("LIANBAN_SCHEDULER_LEASE_RETRY_S", "1.0"))
FALLBACK_GRACE_S = float(os.environ.get("LIANBAN_TIMER_FALLBACK_GRACE_S", "5.0"))
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


class Lease(Protocol):
    def acquire(self) -> bool: ...

    def watch(self, timeout_s: float) -> bool:
        """Pass on timers announced by other processes for `timeout_s`; False when the lease is lost."""

    def release(self) -> None: ...


class AdvisoryLockLease:
    """PostgreSQL: `pg_try_advisory_lock` on a connection of its own (not the pool's)."""

    def __init__(self, url: str) -> None:
        self._engine = create_engine(normalise_url(url), poolclass=NullPool, connect_args=_KEEPALIVES)
        self._connection: Connection | None = None
        self._waiting: Connection | None = None  # kept between attempts: no new connection per try

    def acquire(self) -> bool:
        try:
            if self._waiting is None:
                self._waiting = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if self._waiting.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}):
                self._waiting.execute(text(f"LISTEN {timer_alarm.CHANNEL}"))
                self._connection, self._waiting = self._waiting, None
                return True
        except Exception:  # the database is away: try again later on a new connection
            log.exception("scheduler lease: cannot reach the database")
            waiting, self._waiting = self._waiting, None
            if waiting is not None:
                waiting.invalidate()
        return False

    def watch(self, timeout_s: float) -> bool:
        if self._connection is None:
            return False
        try:
            raw = self._connection.connection.driver_connection
            if raw is None:
                return False
            for note in raw.notifies(timeout=timeout_s):
                _ring(note.payload)
            self._connection.execute(text("SELECT 1"))
            return True
        except Exception:
            log.exception("scheduler lease: the lock's connection is gone")
            return False

    def release(self) -> None:
        connection, self._connection = self._connection, None
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.close()
        if connection is None:
            return
        try:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
            connection.close()
        except Exception:  # a dead connection has released the lock already
            connection.invalidate()


class FileLease:
    """SQLite: an exclusive POSIX lock on a file next to the database; announcements come as datagrams."""

    def __init__(self, path: Path, socket_path: str | None) -> None:
        self._path, self._socket_path = path, socket_path
        self._file: IO[bytes] | None = None
        self._socket: socket.socket | None = None

    def acquire(self) -> bool:
        handle = open(self._path, "ab")  # noqa: SIM115  (kept open while the lease is held)
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        if self._socket_path is not None:
            try:  # the lock is ours: a socket file left there belonged to a dead leader
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._socket_path)
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.bind(self._socket_path)
            except OSError:  # (a path too long for a socket): timers are then read once per period
                log.warning("scheduler lease: cannot listen on %s", self._socket_path)
                self._socket = None
        return True

    def watch(self, timeout_s: float) -> bool:
        if self._socket is None:
            time.sleep(timeout_s)
            return self._file is not None
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self._socket], [], [], left)
            if readable:
                _ring(self._socket.recv(256).decode(errors="replace"))
        return self._file is not None

    def release(self) -> None:
        handle, self._file = self._file, None
        listener, self._socket = self._socket, None
        if listener is not None:
            listener.close()
        if handle is not None:
            handle.close()  # closing frees the lock


def lease_for(url: str) -> Lease | None:
    """The lease that suits the database, or None (an in-memory SQLite database has no other process)."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "postgresql":
        return AdvisoryLockLease(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        return FileLease(Path(f"{parsed.database}.scheduler.lock"), timer_alarm.socket_path(create_engine(parsed)))
    return None


def _ring(payload: str) -> None:
    try:
        timer_alarm.ring(datetime.fromisoformat(payload))
    except ValueError:
        log.warning("scheduler lease: ignored announcement %r", payload[:64])


def leader_scans(factory: sessionmaker[Session]) -> None:
    """The leader's periodic work: beat runs the clock scans and the connector sweep as their own tasks."""
    try:
        calendar_alerts.check(factory, timesource.now())
    except Exception:  # the loop must survive; the next round retries
        log.exception("scheduler calendar horizon failed")


class SchedulerLeader:
    """Contend for the lease; while holding it, run the scheduler loop."""

    def __init__(self, factory: sessionmaker[Session], lease: Lease, interval_s: float) -> None:
        self.factory, self.lease, self.interval_s = factory, lease, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._contend, name="lianban-scheduler-leader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        connector_jobs.wake.set()  # the loop sleeps on it
        if self._thread is not None:
            self._thread.join(timeout=self.interval_s + LEASE_CHECK_S + 5)

    def _contend(self) -> None:
        while not self._stop.is_set():
            if not self.lease.acquire():
                self._stop.wait(RETRY_S)
                continue
            log.warning("lianban scheduler: leader is pid %s", os.getpid())
            try:
                self._lead()
            finally:
                self.lease.release()
            log.warning("lianban scheduler: pid %s stepped down", os.getpid())
        self.lease.release()  # a worker that never led drops its waiting connection

    def _lead(self) -> None:
        loop_stop = threading.Event()
        loop = threading.Thread(target=scheduler.run_forever, args=(self.factory, self.interval_s),
                                kwargs={"stop": loop_stop, "scans": leader_scans}, name="lianban-scheduler",
                                daemon=True)
        loop.start()
        try:
            while not self._stop.is_set():
                if not self.lease.watch(LEASE_CHECK_S):
                    return
        finally:
            loop_stop.set()
            connector_jobs.wake.set()
            loop.join(timeout=self.interval_s + 5)


def leader_step(flask_app: Flask) -> type[bootsteps.StartStopStep]:
    """The worker bootstep, bound to the Flask app whose database and settings it uses."""

    class SchedulerLeaderStep(bootsteps.StartStopStep):  # type: ignore[misc]
        requires = {"celery.worker.components:Pool"}

        def include_if(self, worker: Any) -> bool:
            return os.environ.get("LIANBAN_WORKER_SCHEDULER", "1") != "0"

        def create(self, worker: Any) -> SchedulerLeader | None:
            lease = lease_for(flask_app.config["DATABASE_URL"])
            if lease is None:
                return None
            return SchedulerLeader(flask_app.extensions["lianban.sessions"], lease,
                                   flask_app.config["SCHEDULER_INTERVAL_S"])

    return SchedulerLeaderStep


def install(celery: Celery, flask_app: Flask) -> None:
    """Add the leader bootstep to the worker and make beat's timer entry the fallback."""
    celery.steps["worker"].add(leader_step(flask_app))
    celery.conf.beat_schedule["fire-due-timers"] = {"task": "lianban.timers.fire_due",
                                                    "schedule": flask_app.config["SCHEDULER_INTERVAL_S"],
                                                    "kwargs": {"grace_s": FALLBACK_GRACE_S}}


__all__ = ["AdvisoryLockLease", "FileLease", "SchedulerLeader", "install", "lease_for",
           "leader_scans", "leader_step"]
