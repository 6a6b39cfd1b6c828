"""Fifty reviewers claim one task at the same moment: one wins, 49 get a clean 409, the audit shows one claim.

On PostgreSQL (CI) the requests really race: each thread has its own connection, and the
conditional UPDATE decides. On SQLite the write lock serialises them; the outcome must be the same.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.models import AuditEvent, HumanTask
from tests.conftest import client_with_token, make_user
from tests.helpers import deploy_paths, start, task_by_key

DIAGRAM = Path(__file__).resolve().parents[1] / "bpmn" / "accounts" / "township_review.bpmn"
CLAIMERS = 50


@pytest.mark.timeout(300)
def test_fifty_concurrent_claims_give_one_winner_and_forty_nine_conflicts(
        app: Flask, client: FlaskClient, sessions: sessionmaker[Session]) -> None:
    deploy_paths(client, DIAGRAM)
    case = start(client, "township_review", {"applicant_township": "tiantan", "due_at": "2026-12-01T09:00:00+08:00"})
    task_id = task_by_key(client, case["id"], "task_township_review")["id"]
    clients = [client_with_token(app, make_user(app, f"claimer-{i:02d}", ["reviewer"], ["township-tiantan"]))
               for i in range(CLAIMERS)]
    barrier = threading.Barrier(CLAIMERS)
    results: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def claim(reviewer: FlaskClient) -> None:
        barrier.wait()
        response = reviewer.post(f"/engine-rest/task/{task_id}/claim", json={})
        body = response.get_json(silent=True)
        with lock:
            results.append((response.status_code, body.get("code") if body else None))

    threads = [threading.Thread(target=claim, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(results) == Counter({(204, None): 1, (409, "task.already_claimed"): CLAIMERS - 1})
    with transaction(sessions) as session:
        assignee = session.scalar(select(HumanTask.assignee).where(HumanTask.id == task_id))
        claims = session.execute(select(func.count(), func.min(AuditEvent.actor)).where(
            AuditEvent.instance_id == case["id"], AuditEvent.event_type == "task.claimed")).one()
    assert assignee is not None and assignee.startswith("claimer-")
    assert tuple(claims) == (1, assignee)
