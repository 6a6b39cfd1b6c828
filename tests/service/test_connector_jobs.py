"""Connector jobs run in-process against a real fake department (HTTP on loopback) and a real database."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.models import ActivityInstance, Job, ProcessInstance
from orchestrator.services import cases, connector_jobs, external_tasks
from orchestrator.services.audit import verify_chain
from orchestrator.services.connectors import ConnectorConfigError, parse_connectors
from orchestrator.services.definitions import deploy
from tests.fake_department import FakeDepartment, write_connectors

DIAGRAM = Path(__file__).resolve().parents[1] / "bpmn" / "connectors" / "licence_connector.bpmn"


@pytest.fixture()
def connectors(tmp_path: Path, samr: FakeDepartment, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_connectors(tmp_path / "connectors.json", samr)
    monkeypatch.setenv("LIANBAN_CONNECTORS", str(path))
    return path  # type: ignore[no-any-return]


def _start(run_in_tx: Any, name: str) -> tuple[str, str]:
    run_in_tx(deploy, {DIAGRAM.name: DIAGRAM.read_bytes()})
    instance = run_in_tx(lambda s: cases.start_case(s, key="licence_connector", variables={"company_name": name}))
    job_id = run_in_tx(lambda s: s.scalar(select(Job.id).where(Job.instance_id == instance.id)))
    return instance.id, job_id


def _case(sessions: sessionmaker[Session], instance_id: str) -> tuple[ProcessInstance, list[str], Job]:
    with transaction(sessions) as session:
        case = session.get(ProcessInstance, instance_id)
        assert case is not None
        ended = sorted(session.scalars(select(ActivityInstance.activity_id).where(
            ActivityInstance.instance_id == instance_id, ActivityInstance.ended_at.is_not(None))))
        job = session.scalar(select(Job).where(Job.instance_id == instance_id))
        assert job is not None
        assert verify_chain(session, instance_id) is None
        return case, ended, job


def _sweep_until(sessions: sessionmaker[Session], done: Any, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        connector_jobs.sweep(sessions)
        if done():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_a_connector_job_calls_the_department_and_completes_the_case_with_its_answer(
    sessions: sessionmaker[Session], run_in_tx: Any, connectors: Path, samr: FakeDepartment,
) -> None:
    instance_id, job_id = _start(run_in_tx, "西宁联办科技有限公司")
    assert connector_jobs.run_job(sessions, job_id) == "completed"
    case, ended, job = _case(sessions, instance_id)
    assert case.state == "COMPLETED" and "end_issued" in ended
    assert case.variables["licence_number"] == "SAMR-000001"
    assert job.state == "COMPLETED"
    assert samr.effects[0].request == {"name": "西宁联办科技有限公司"}
    assert samr.calls == [("/licences", job.idempotency_key)]
    # A second message for the same job finds nothing to do: the department is not called again.
    assert connector_jobs.run_job(sessions, job_id) == "skipped"
    assert len(samr.calls) == 1


def test_a_business_refusal_takes_the_error_boundary_path(
    sessions: sessionmaker[Session], run_in_tx: Any, connectors: Path, samr: FakeDepartment,
) -> None:
    instance_id, job_id = _start(run_in_tx, "禁止名称有限公司")
    assert connector_jobs.run_job(sessions, job_id) == "bpmn_error"
    case, ended, _ = _case(sessions, instance_id)
    assert case.state == "COMPLETED" and "end_rejected" in ended and "end_issued" not in ended
    assert "未通过核准" in case.variables["samr_message"]
    assert samr.effects == []


def test_transient_failures_are_retried_with_the_same_key_and_applied_once(
    sessions: sessionmaker[Session], run_in_tx: Any, connectors: Path, samr: FakeDepartment,
) -> None:
    samr.fail_next = 2
    instance_id, job_id = _start(run_in_tx, "西宁重试有限公司")
    _sweep_until(sessions, lambda: _case(sessions, instance_id)[0].state == "COMPLETED")
    case, _, job = _case(sessions, instance_id)
    assert case.variables["licence_number"] == "SAMR-000001"
    assert [key for _, key in samr.calls] == [job.idempotency_key] * 3
    assert samr.keys_applied() == [job.idempotency_key]


def test_retries_run_out_into_an_incident_and_a_retry_action_resumes_the_job(
    client: FlaskClient, sessions: sessionmaker[Session], run_in_tx: Any, tmp_path: Path, samr: FakeDepartment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIANBAN_CONNECTORS", str(write_connectors(tmp_path / "c.json", samr, retries=1)))
    samr.fail_next = 100
    instance_id, job_id = _start(run_in_tx, "西宁故障有限公司")

    def incidents() -> list[dict[str, Any]]:
        response = client.get("/engine-rest/incident", query_string={"processInstanceId": instance_id})
        return response.get_json()  # type: ignore[no-any-return]

    _sweep_until(sessions, lambda: bool(incidents()))
    assert len(samr.calls) == 2  # the first call and one retry
    assert incidents()[0]["configuration"] == job_id and "503" in incidents()[0]["incidentMessage"]
    _, _, job = _case(sessions, instance_id)
    assert job.state == "READY" and job.retries == 0
    connector_jobs.sweep(sessions)
    assert len(samr.calls) == 2  # an incident waits for a person

    samr.fail_next = 0
    response = client.put(f"/engine-rest/external-task/{job_id}/retries", json={"retries": 1})
    assert response.status_code == 204
    _sweep_until(sessions, lambda: _case(sessions, instance_id)[0].state == "COMPLETED")
    assert incidents() == [] or all(i.get("state") != "open" for i in incidents())
    assert samr.keys_applied() == [job.idempotency_key]


def test_back_off_grows_exponentially_with_jitter() -> None:
    from datetime import UTC, datetime

    from orchestrator.services.connectors import Connector

    connector = Connector(topic="t", url="http://x", retries=3, backoff_s=10, backoff_max_s=25)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    left, at = connector_jobs.next_retry(connector, None, now)
    assert left == 3 and at is not None and 5 <= (at - now).total_seconds() <= 10
    left, at = connector_jobs.next_retry(connector, 3, now)
    assert left == 2 and at is not None and 10 <= (at - now).total_seconds() <= 20
    left, at = connector_jobs.next_retry(connector, 2, now)
    assert left == 1 and at is not None and 12.5 <= (at - now).total_seconds() <= 25  # capped
    assert connector_jobs.next_retry(connector, 1, now) == (0, None)


def test_jobs_are_published_after_commit_only_and_a_broken_broker_never_fails_the_request(
    app: Flask, run_in_tx: Any, connectors: Path,
) -> None:
    published: list[str] = []
    app.extensions[connector_jobs.PUBLISHER] = published.extend
    with app.app_context():
        _, job_id = _start(run_in_tx, "西宁发布有限公司")
        assert published == [job_id]
        with pytest.raises(RuntimeError), transaction(app.extensions["lianban.sessions"]) as session:
            cases.start_case(session, key="licence_connector", variables={"company_name": "回滚"})
            raise RuntimeError("roll back")
        assert published == [job_id]

        def broken(_: list[str]) -> None:
            raise ConnectionError("broker down")

        app.extensions[connector_jobs.PUBLISHER] = broken
        instance = run_in_tx(lambda s: cases.start_case(s, key="licence_connector",
                                                        variables={"company_name": "照常受理"}))
        assert instance.state == "ACTIVE"


def test_pull_only_topics_are_left_to_external_task_clients(
    sessions: sessionmaker[Session], run_in_tx: Any, tmp_path: Path, samr: FakeDepartment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "none.json"
    path.write_text(json.dumps({"connectors": {}}), encoding="utf-8")
    monkeypatch.setenv("LIANBAN_CONNECTORS", str(path))
    _, job_id = _start(run_in_tx, "拉取模式有限公司")
    assert connector_jobs.sweep(sessions) == 0
    assert connector_jobs.run_job(sessions, job_id) == "skipped"
    request = external_tasks.FetchRequest("dept-client", 1, [external_tasks.TopicRequest("samr.issue_licence", 1000)])
    with transaction(sessions) as session:
        assert [t.job.id for t in external_tasks.fetch_and_lock(session, request)] == [job_id]
    assert samr.calls == []


@pytest.mark.parametrize(("document", "field"), [
    ("{", "第 1 行"),
    ('{"connectors": []}', "connectors"),
    ('{"connectors": {"t": {"method": "POST"}}}', "connectors.t.url"),
    ('{"connectors": {"t": {"url": "ftp://x"}}}', "connectors.t.url"),
    ('{"connectors": {"t": {"url": "http://x", "retries": -1}}}', "connectors.t.retries"),
    ('{"connectors": {"t": {"url": "http://x", "timeout_s": "5"}}}', "connectors.t.timeout_s"),
    ('{"connectors": {"t": {"url": "http://x", "verb": "GET"}}}', "connectors.t.verb"),
    ('{"connectors": {"t": {"url": "http://x", "method": "DELETE"}}}', "connectors.t.method"),
    ('{"connectors": {"t": {"url": "http://x", "variables_in": {"a": 1}}}}', "connectors.t.variables_in"),
    ('{"connectors": {"t": {"url": "http://x", "headers": {"A": "${SECRET}"}}}}', "connectors.t.headers.A"),
])
def test_an_invalid_connector_file_is_refused_naming_the_field(document: str, field: str) -> None:
    with pytest.raises(ConnectorConfigError) as raised:
        parse_connectors(Path("c.json"), document)
    assert raised.value.field == field and "c.json" in raised.value.message_zh


def test_header_values_read_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    connector = parse_connectors(Path("c.json"), json.dumps({"connectors": {"t": {
        "url": "http://x", "headers": {"Authorization": "Bearer ${ENV:SAMR_TOKEN}"}}}}))["t"]
    monkeypatch.delenv("SAMR_TOKEN", raising=False)
    with pytest.raises(ConnectorConfigError, match="SAMR_TOKEN"):
        connector.resolved_headers()
    monkeypatch.setenv("SAMR_TOKEN", "s3cret")
    assert connector.resolved_headers() == {"Authorization": "Bearer s3cret"}


def test_the_example_file_is_valid() -> None:
    path = Path(__file__).resolve().parents[2] / "connectors.example.json"
    assert set(parse_connectors(path, path.read_text(encoding="utf-8"))) == {"samr.issue_licence",
                                                                            "mps.register_birth"}


def test_the_demo_file_calls_the_fake_departments_and_routes_one_topic_to_manual_entry() -> None:
    from orchestrator.services.connectors import parse_connector_file
    from tests.fake_department import ROUTES

    root = Path(__file__).resolve().parents[2]
    path = root / "connectors.demo.json"
    demo = parse_connector_file(path, path.read_text(encoding="utf-8"))
    assert set(demo.http) == {"tax.deregistration"} and set(demo.manual) == {"supervision.warning"}
    assert all(c.url.startswith("http://127.0.0.1:9101/") and c.url.removeprefix("http://127.0.0.1:9101") in ROUTES
               for c in demo.http.values())
    bundles = "".join(p.read_text(encoding="utf-8") for p in (root / "bpmn").glob("*.bpmn"))
    assert all(f'camunda:topic="{topic}"' in bundles for topic in [*demo.http, *demo.manual])
    assert "connectors.demo.json" in (root / "Makefile").read_text(encoding="utf-8")


def test_a_claim_is_one_locking_read_and_three_writes_and_a_second_claim_writes_nothing(
    app: Flask, sessions: sessionmaker[Session], run_in_tx: Any, connectors: Path,
) -> None:
    """Counted, not timed: on PostgreSQL the read goes with BEGIN and the writes with COMMIT (two round trips)."""
    from tests.service.test_hot_path import counting

    instance_id, job_id = _start(run_in_tx, "西宁领取有限公司")
    with counting(app) as counts, transaction(sessions) as session:
        claimed = connector_jobs.claim(session, job_id, "worker-a", datetime.now(UTC))
    assert claimed is not None and claimed[1].idempotency_key and claimed[1].instance_id == instance_id
    verbs = [statement.split()[0].upper() for statement in counts.statements]
    assert verbs == ["SELECT", "UPDATE", "INSERT", "UPDATE"] and counts.commits == 1, counts.statements
    with counting(app) as counts, transaction(sessions) as session:  # LOCKED, lock not expired: not runnable
        assert connector_jobs.claim(session, job_id, "worker-b", datetime.now(UTC)) is None
    assert [statement.split()[0].upper() for statement in counts.statements] == ["SELECT"]
    _, _, job = _case(sessions, instance_id)  # also verifies the case's audit chain
    assert (job.state, job.worker_id, job.attempts) == ("LOCKED", "worker-a", 1)
