"""Every form in forms/ has a valid sample (tests/form_samples.py), and every bundle runs on them alone.

A form added without a sample fails here; so does a sample the server would refuse, and a bundle
that cannot be driven to its end through /api/tasks/{id}/form and /submit with the samples.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import timesource
from orchestrator.db import transaction
from orchestrator.forms import registry
from orchestrator.forms.validation import check
from orchestrator.models import AuditEvent, Job
from orchestrator.scheduler import fire_due_timers
from orchestrator.services.cases import complete_external
from orchestrator.services.connectors import parse_connector_file
from orchestrator.services.seed import seed_bundles
from tests.conftest import ROOT
from tests.form_samples import MANUAL_ENTRY_SAMPLES, SAMPLES, form_of, manual_entry_sample, sample
from tests.helpers import activities, complete, history_state, open_tasks, start

FORMS = ROOT / "forms"
BUNDLES = sorted((ROOT / "bpmn").glob("*.bpmn"))
DEPARTMENTS = ["dept-fire-rescue", "dept-market-regulation", "dept-urban-management"]
START_VARIABLES: dict[str, dict[str, Any]] = {"restaurant_opening": {"inspection_departments": DEPARTMENTS}}
# What the one external task of a bundle returns (the tax system in company deregistration).
EXTERNAL_RESULTS: dict[str, dict[str, Any]] = {"tax.deregistration": {"tax_clearance_no": "QS2026001"}}


def test_every_form_in_forms_has_a_sample_and_every_sample_a_form() -> None:
    assert sorted(SAMPLES) == sorted(p.stem for p in FORMS.glob("*.form"))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_sample_passes_the_servers_checks(name: str) -> None:
    form = registry.get(name)
    contexts: list[dict[str, Any]] = [{}]
    if any("department" in str(f.hide) for f in form.fields):  # the joint inspection: once per department
        contexts = [{"department": d} for d in DEPARTMENTS]
    for context in contexts:
        checked = check(form, context, sample(name, context))
        assert checked.ok, (name, context, [e.as_dict() for e in checked.errors])


def _key(diagram: Path) -> str:
    import re

    match = re.search(r'<bpmn:process id="([^"]+)"', diagram.read_text(encoding="utf-8"))
    assert match is not None
    return match.group(1)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("diagram", BUNDLES, ids=[p.stem for p in BUNDLES])
def test_each_bundle_runs_to_its_end_on_the_samples_through_the_form_routes(
        diagram: Path, client: FlaskClient, sessions: sessionmaker[Session], run_in_tx: Any) -> None:
    run_in_tx(seed_bundles, ROOT / "bpmn")
    key = _key(diagram)
    case_id = start(client, key, START_VARIABLES.get(key, {}))["id"]
    submitted: list[str] = []
    for _ in range(100):
        tasks = open_tasks(client, case_id)
        if not tasks and not _complete_jobs(sessions, case_id):
            break
        for task in tasks:
            served = client.get(f"/api/tasks/{task['id']}/form")
            assert served.status_code == 200, served.get_json()
            name = form_of(task["formKey"])
            assert name is not None, task
            values = sample(name, served.get_json()["data"])
            response = client.post(f"/api/tasks/{task['id']}/submit", json={"values": values})
            assert response.status_code == 200, (task["taskDefinitionKey"], response.get_json())
            submitted.append(task["taskDefinitionKey"])
    assert history_state(client, case_id) == "COMPLETED", submitted
    reached = {row["activityId"] for row in activities(client, case_id)}
    assert "end" in reached and not {"end_rejected", "end_not_accepted"} & reached  # the regular end
    assert "task_delivery" in submitted


def _complete_jobs(sessions: sessionmaker[Session], case_id: str) -> bool:
    with transaction(sessions) as session:
        jobs = list(session.scalars(select(Job).where(Job.instance_id == case_id, Job.state == "READY")))
        for job in jobs:
            complete_external(session, job.id, EXTERNAL_RESULTS.get(job.topic, {}), "department-system")
    return bool(jobs)


# -- 二次录入 (manual entry): the form is built from the connector file, the sample is per topic ---------
DEMO_CONNECTORS = ROOT / "connectors.demo.json"


def test_every_manual_topic_of_the_demo_has_a_sample_of_exactly_its_result_fields() -> None:
    manual = parse_connector_file(DEMO_CONNECTORS, DEMO_CONNECTORS.read_text(encoding="utf-8")).manual
    assert sorted(MANUAL_ENTRY_SAMPLES) == sorted(manual)
    for topic, configured in manual.items():
        assert sorted(manual_entry_sample(topic)) == sorted(f.name for f in configured.result_fields), topic


@pytest.mark.timeout(120)
def test_the_manual_entry_sample_is_accepted_through_the_form_routes_and_the_step_goes_on(
        client: FlaskClient, sessions: sessionmaker[Session], run_in_tx: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The restaurant's step warning (supervision.warning) is 二次录入 in the demo: the window records the SMS."""
    monkeypatch.setenv("LIANBAN_CONNECTORS", str(DEMO_CONNECTORS))
    run_in_tx(seed_bundles, ROOT / "bpmn")
    case_id = start(client, "restaurant_opening", START_VARIABLES["restaurant_opening"])["id"]
    intake = next(t for t in open_tasks(client, case_id) if t["taskDefinitionKey"] == "task_intake")
    complete(client, intake["id"], sample("restaurant-intake"))
    assert "task_license_verification" in {t["taskDefinitionKey"] for t in open_tasks(client, case_id)}

    timesource.set_offset(timedelta(days=1, seconds=1))  # the verification's one-day warning is due
    fire_due_timers(sessions)
    entries = [t for t in open_tasks(client, case_id) if t["formKey"] == "lianban:manual-entry"]
    assert [t["taskDefinitionKey"] for t in entries] == ["service_license_verification_warning"], entries
    served = client.get(f"/api/tasks/{entries[0]['id']}/form")
    assert served.status_code == 200, served.get_json()
    topic = served.get_json()["manual_entry"]["topic"]
    values = manual_entry_sample(topic)
    assert {c.get("key") for c in served.get_json()["schema"]["components"]} >= set(values)
    response = client.post(f"/api/tasks/{entries[0]['id']}/submit", json={"values": values})
    assert response.status_code == 200, response.get_json()

    assert not [t for t in open_tasks(client, case_id) if t["formKey"] == "lianban:manual-entry"]
    ended = [row for row in activities(client, case_id) if row["activityId"] == "service_license_verification_warning"]
    assert len(ended) == 1 and ended[0]["endTime"] and not ended[0]["canceled"], ended
    with transaction(sessions) as session:
        job = session.scalar(select(Job).where(Job.instance_id == case_id, Job.topic == topic))
        assert job is not None and job.state == "COMPLETED"
        completed = session.scalars(select(AuditEvent.payload).where(AuditEvent.instance_id == case_id,
                                                                     AuditEvent.event_type == "task.completed"))
        recorded = [p for p in completed if p["task_id"] == job.id]
    assert [sorted(p["variables"]) for p in recorded] == [sorted(values)], recorded
