"""Operations over HTTP: job lists and history, incident retry, and /metrics in the Prometheus text format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.models import Timer
from orchestrator.services import connector_jobs
from tests.fake_department import FakeDepartment, write_connectors
from tests.helpers import deploy_paths, history_state, start

ROOT = Path(__file__).resolve().parents[2]
DIAGRAM = ROOT / "tests" / "bpmn" / "connectors" / "licence_connector.bpmn"
TIMER_DIAGRAM = ROOT / "tests" / "bpmn" / "coverage" / "intermediate_timer.bpmn"


@pytest.fixture()
def one_retry(tmp_path: Path, samr: FakeDepartment, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_connectors(tmp_path / "connectors.json", samr, retries=1, backoff_s=0)
    monkeypatch.setenv("LIANBAN_CONNECTORS", str(path))
    return path  # type: ignore[no-any-return]


def _case_with_job(client: FlaskClient, name: str) -> tuple[str, str]:
    instance = start(client, "licence_connector", {"company_name": name})
    jobs = client.get("/api/jobs", query_string={"caseId": instance["id"]}).get_json()["items"]
    assert len(jobs) == 1
    return instance["id"], jobs[0]["id"]


def _metrics(client: FlaskClient) -> dict[str, list[Any]]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return {family.name: family.samples for family in text_string_to_metric_families(response.get_data(as_text=True))}


def _value(samples: list[Any], name: str, **labels: str) -> float:
    matching = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    return float(sum(matching))


def test_the_job_list_filters_by_state_and_topic_and_pages(
    client: FlaskClient, sessions: sessionmaker[Session], one_retry: Path,
) -> None:
    deploy_paths(client, DIAGRAM)
    ids = [_case_with_job(client, f"西宁第{n}有限公司")[1] for n in range(3)]
    assert connector_jobs.run_job(sessions, ids[0]) == "completed"

    ready = client.get("/api/jobs", query_string={"state": "READY"}).get_json()
    assert ready["total"] == 2 and {j["id"] for j in ready["items"]} == set(ids[1:])
    assert all(j["kind"] == "connector" and j["topic"] == "samr.issue_licence" for j in ready["items"])
    both = client.get("/api/jobs", query_string={"state": "ready,completed", "topic": "samr.issue_licence",
                                                 "maxResults": 2}).get_json()
    assert both["total"] == 3 and len(both["items"]) == 2
    rest = client.get("/api/jobs", query_string={"maxResults": 2, "firstResult": 2}).get_json()
    assert len(rest["items"]) == 1 and rest["items"][0]["id"] not in {j["id"] for j in both["items"]}
    assert client.get("/api/jobs", query_string={"topic": "other"}).get_json() == {"total": 0, "first": 0,
                                                                                   "items": []}
    done = client.get(f"/api/jobs/{ids[0]}").get_json()
    assert done["state"] == "COMPLETED" and done["attempts"] == 1 and done["ended_at"].endswith("+08:00")


def test_bad_job_queries_are_refused_naming_the_field(client: FlaskClient) -> None:
    for query, field in (({"state": "RUNNING"}, "state"), ({"maxResults": 0}, "maxResults"),
                         ({"firstResult": -1}, "firstResult"), ({"maxResults": "x"}, "maxResults")):
        response = client.get("/api/jobs", query_string=query)
        assert response.status_code == 400 and response.mimetype == "application/problem+json"
        assert response.get_json()["field"] == field
    missing = client.get("/api/jobs/nope")
    assert missing.status_code == 404 and missing.get_json()["field"] == "id"


def test_a_failing_job_shows_its_attempts_last_error_and_history_and_a_retry_resumes_it(
    client: FlaskClient, sessions: sessionmaker[Session], one_retry: Path, samr: FakeDepartment,
) -> None:
    deploy_paths(client, DIAGRAM)
    samr.fail_next = 2
    instance_id, job_id = _case_with_job(client, "西宁故障有限公司")
    assert connector_jobs.run_job(sessions, job_id) == "failed"
    assert connector_jobs.run_job(sessions, job_id) == "incident"

    job = client.get(f"/api/jobs/{job_id}").get_json()
    assert (job["attempts"], job["failures"], job["retries"], job["state"]) == (2, 2, 0, "READY")
    assert "503" in job["last_error"] and job["last_failed_at"] is not None
    assert [h["event"] for h in job["history"]] == ["job.locked", "job.failed", "job.locked", "job.failed"]
    assert [i["resolved_at"] for i in job["incidents"]] == [None]
    incident_id = job["incidents"][0]["id"]
    assert _value(_metrics(client)["lianban_incidents_open"], "lianban_incidents_open",
                  type="failedExternalTask") == 1

    published: list[str] = []
    client.application.extensions[connector_jobs.PUBLISHER] = published.extend
    response = client.post(f"/api/incidents/{incident_id}/retry")  # the client is the administrator "admin"
    assert response.status_code == 200 and response.get_json()["retries"] == 1
    assert published == [job_id]  # the worker is woken at once, not at the next sweep
    assert connector_jobs.run_job(sessions, job_id) == "completed"
    assert history_state(client, instance_id) == "COMPLETED"
    job = client.get(f"/api/jobs/{job_id}").get_json()
    assert job["incidents"][0]["resolved_at"] is not None
    retried = [h for h in job["history"] if h["event"] == "job.retries_set"]
    assert retried and retried[0]["actor"] == "admin"
    assert samr.keys_applied() == [job["idempotency_key"]]

    again = client.post(f"/api/incidents/{incident_id}/retry")
    assert again.status_code == 409 and again.get_json()["code"] == "incident.resolved"
    assert client.post("/api/incidents/nope/retry").status_code == 404


def test_metrics_show_queue_depth_latency_incidents_locked_tasks_and_due_timers(
    client: FlaskClient, sessions: sessionmaker[Session], one_retry: Path,
) -> None:
    deploy_paths(client, DIAGRAM, TIMER_DIAGRAM)
    ids = [_case_with_job(client, f"西宁指标{n}有限公司")[1] for n in range(3)]
    assert connector_jobs.run_job(sessions, ids[0]) == "completed"
    locked = client.post("/engine-rest/external-task/fetchAndLock", json={
        "workerId": "puller", "maxTasks": 1, "topics": [{"topicName": "samr.issue_licence", "lockDuration": 60000}]})
    assert len(locked.get_json()) == 1
    start(client, "intermediate_timer")
    with transaction(sessions) as session:  # the timer is overdue: nobody has fired it yet
        session.execute(update(Timer).values(due_at=datetime.now(UTC) - timedelta(minutes=1)))

    metrics = _metrics(client)
    assert _value(metrics["lianban_jobs"], "lianban_jobs", state="READY", topic="samr.issue_licence") == 1
    assert _value(metrics["lianban_jobs"], "lianban_jobs", state="LOCKED", topic="samr.issue_licence") == 1
    assert _value(metrics["lianban_external_tasks_locked"], "lianban_external_tasks_locked",
                  topic="samr.issue_licence") == 1
    assert _value(metrics["lianban_timers_due"], "lianban_timers_due") == 1
    latency = metrics["lianban_job_latency_seconds"]
    assert _value(latency, "lianban_job_latency_seconds_count") == 1
    assert _value(latency, "lianban_job_latency_seconds_bucket", le="+Inf") == 1
    assert _value(latency, "lianban_job_latency_seconds_bucket", le="86400.0") == 1
    assert _value(metrics["lianban_incidents_open"], "lianban_incidents_open") == 0
