"""No read of a case shows a personal ID number in clear unless someone entitled asks for it (and is audited).

A restaurant case of bpmn/restaurant-opening.bpmn carries the applicant's ID number in its intake data;
a reviewer also wrote it into an opinion, a material's file name and a supervision note, as people do.
Every read endpoint that returns case, task, form, joint-inspection, history, supervision, materials or
job data is walked as a reviewer, a department head, a window clerk, a supervisor and an administrator: the
number never appears, only its masked form.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.models import AuditEvent
from orchestrator.services import materials
from orchestrator.services.seed import seed_bundles
from tests.api.test_forms import submit_sample
from tests.api.test_joint_inspection import _inspect
from tests.api.test_manual_entry import DIAGRAM as MANUAL_DIAGRAM
from tests.api.test_manual_entry import MANUAL_SAMR
from tests.conftest import ROOT
from tests.form_samples import ID_NUMBER, decision
from tests.helpers import deploy, deploy_paths, open_tasks, start, task_by_key

MASKED = ID_NUMBER[:4] + "*" * 10 + ID_NUMBER[-4:]
DEPARTMENTS = ["dept-fire-rescue", "dept-market-regulation", "dept-urban-management"]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def storage(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "materials"
    monkeypatch.setattr(materials.settings, "storage_root", root)
    return root


def _ok(response: Any) -> Any:
    assert response.status_code in (200, 201), (response.status_code, response.get_data(as_text=True)[:500])
    return response.get_json()


def _case_with_the_number_everywhere(client: FlaskClient, run_in_tx: Any,
                                     client_as: Callable[..., FlaskClient]) -> dict[str, Any]:
    """A restaurant case past its joint inspection whose ID number also went into free text and a file name.

    The bundle is redeployed with the applicant's ID number among the joint inspection's site data, as an
    analyst may draw it (the inspectors check who runs the place).
    """
    run_in_tx(seed_bundles, ROOT / "bpmn")
    diagram = (ROOT / "bpmn" / "restaurant-opening.bpmn").read_text(encoding="utf-8")
    site = 'name="site_fields" value="'
    assert site in diagram
    deploy(client, {"restaurant-opening.bpmn": diagram.replace(site, site + "applicant_id_number,").encode()})
    case_id = str(start(client, "restaurant_opening", {"inspection_departments": DEPARTMENTS})["id"])
    for key, name in (("task_intake", "restaurant-intake"), ("task_fire_document_review",
                                                             "restaurant-fire-document-review"),
                      ("task_fire_site_check", "restaurant-fire-site-check")):
        submit_sample(client, case_id, key, name)
    opinion = f"经核验，申请人身份证号 {ID_NUMBER} 与营业执照登记信息一致"
    for item in ("license_verification", "food_license", "signboard", "fire_safety"):
        task = task_by_key(client, case_id, f"task_{item}")
        values = decision(f"restaurant-{item.replace('_', '-')}", "approve", opinion)
        _ok(client.post(f"/api/tasks/{task['id']}/submit", json={"values": values}))
    inspectors = {d: client_as("reviewer", departments=[d]) for d in DEPARTMENTS}
    for department in DEPARTMENTS:
        _inspect(inspectors, case_id, department)
    assert _ok(client.get(f"/api/cases/{case_id}/joint-inspection"))["steps"][0]["site"]["applicant_id_number"] \
        == MASKED
    upload = {"kind": "identity_document", "file": [(io.BytesIO(PDF), f"身份证_{ID_NUMBER}.pdf")]}
    _ok(client.post(f"/api/cases/{case_id}/materials", data=upload, content_type="multipart/form-data"))
    _ok(client.post(f"/api/cases/{case_id}/notes", json={"text": f"已电话联系申请人（身份证 {ID_NUMBER}）"}))
    _ok(client.post(f"/api/cases/{case_id}/cc", json={"recipients": [{"kind": "group", "id": "dept-market-regulation"}],
                                                      "note": f"请关注申请人 {ID_NUMBER} 的办件"}))
    (delivery,) = open_tasks(client, case_id)
    return {"case_id": case_id, "delivery": delivery["id"]}


def _reads(case: dict[str, Any]) -> Iterator[str]:
    case_id, task_id = case["case_id"], case["delivery"]
    yield from (
        "/engine-rest/process-instance", f"/engine-rest/process-instance/{case_id}",
        f"/engine-rest/process-instance/{case_id}/variables",
        f"/engine-rest/process-instance/{case_id}/variables/applicant_id_number",
        "/engine-rest/history/process-instance", f"/engine-rest/history/process-instance/{case_id}",
        f"/engine-rest/history/activity-instance?processInstanceId={case_id}",
        "/engine-rest/task", f"/engine-rest/task/{task_id}", f"/engine-rest/task/{task_id}/variables",
        f"/engine-rest/task/{task_id}/form-variables", "/engine-rest/incident",
        "/api/tasks?view=all", "/api/tasks?view=mine", "/api/tasks?view=unclaimed",
        f"/api/tasks/{task_id}/form", f"/api/tasks/{task_id}/send-back-targets",
        f"/api/cases/{case_id}/joint-inspection", f"/api/cases/{case_id}/opinions", f"/api/cases/{case_id}/cc",
        "/api/cc", f"/api/cases/{case_id}/materials", f"/api/cases/{case_id}/clock", f"/api/cases/{case_id}/notes",
        "/api/notifications", "/api/supervision/warnings", "/api/supervision/overdue", "/api/supervision/clocks",
        "/api/supervision/items", "/api/supervision/step-times", "/api/supervision/handling-times",
        "/api/jobs", "/", f"/tasks/{task_id}", f"/cases/{case_id}",
    )


def test_no_read_of_a_case_shows_a_personal_id_number_in_clear(
        client: FlaskClient, run_in_tx: Any, client_as: Callable[..., FlaskClient]) -> None:
    case = _case_with_the_number_everywhere(client, run_in_tx, client_as)
    readers = {"reviewer": client_as("reviewer", departments=["dept-market-regulation"]),
               "head": client_as("department_head", departments=["dept-market-regulation"]),
               "clerk": client_as("window_clerk", departments=["intake-window"]),
               "supervisor": client_as("supervisor", departments=["city"]),
               "administrator": client}
    leaks, answered = [], set()
    for who, reader in readers.items():
        for path in _reads(case):
            response = reader.get(path)
            body = response.get_data(as_text=True)
            if response.status_code == 200:
                answered.add(path)
            if ID_NUMBER in body:
                leaks.append(f"{who} {path}")
    assert leaks == []
    assert answered == set(_reads(case))  # every read answered someone: the walk saw real bodies, not refusals


def _viewed(sessions: sessionmaker[Session]) -> list[tuple[str | None, str, str]]:
    with transaction(sessions) as session:
        return [(e.actor, e.payload["via"], json.dumps(e.payload["variables"])) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.event_type == "pii.viewed").order_by(AuditEvent.id))]


def test_staff_and_administrators_may_unmask_with_an_audit_and_supervisors_and_analysts_may_not(
        client: FlaskClient, run_in_tx: Any, client_as: Callable[..., FlaskClient],
        sessions: sessionmaker[Session]) -> None:
    case = _case_with_the_number_everywhere(client, run_in_tx, client_as)
    report = f"/api/cases/{case['case_id']}/joint-inspection"
    variables = f"/engine-rest/process-instance/{case['case_id']}/variables"
    reviewer = client_as("reviewer", departments=["dept-market-regulation"], username="mr-reviewer")
    assert _viewed(sessions) == []

    shown = _ok(reviewer.get(report, query_string={"unmask": "true"}))
    assert shown["steps"][0]["site"]["applicant_id_number"] == ID_NUMBER
    admin = _ok(client.get(variables, query_string={"unmask": "true"}))
    assert admin["applicant_id_number"]["value"] == ID_NUMBER
    assert ID_NUMBER in admin["license_verification_opinion"]["value"]  # free text, shown in clear too
    for path in (variables, report):
        refused = client_as("supervisor", departments=["city"]).get(path, query_string={"unmask": "true"})
        assert refused.status_code == 403, refused.get_json()
        assert refused.get_json()["code"] == "pii.unmask_denied" and refused.get_json()["field"] == "unmask"
    viewed = _viewed(sessions)
    assert [(who, via) for who, via, _ in viewed] == [("mr-reviewer", "joint inspection report"),
                                                      ("admin", "process variables")]
    assert "steps" in viewed[0][2]
    assert {"applicant_id_number", "license_verification_opinion"} <= set(json.loads(viewed[1][2]))


MANUAL = {**MANUAL_SAMR, "variables_in": {"company_name": "企业名称",
                                          "legal_representative_id_number": "法定代表人身份证号"}}


def test_a_manual_entry_shows_the_number_to_copy_only_to_a_clerk_who_asks_and_each_view_is_audited(
        client: FlaskClient, client_as: Callable[..., FlaskClient], sessions: sessionmaker[Session],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "connectors.json"
    path.write_text(json.dumps({"connectors": {"samr.issue_licence": MANUAL}}, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("LIANBAN_CONNECTORS", str(path))
    deploy_paths(client, MANUAL_DIAGRAM)
    case_id = start(client, "licence_connector", {
        "company_name": "西宁二次录入有限公司", "credit_code": "91630100MA7XXXXX0Q",
        "legal_representative_id_number": ID_NUMBER})["id"]
    (task,) = client.get("/engine-rest/task", query_string={"candidateGroup": "samr"}).get_json()
    clerk = client_as("window_clerk", departments=["samr"], username="samr-clerk")
    route = f"/api/manual-entries/{task['id']}"

    entry = _ok(clerk.get(route))
    assert ID_NUMBER not in json.dumps(entry, ensure_ascii=False)
    assert entry["copy"][1] == {"variable": "legal_representative_id_number", "label": "法定代表人身份证号",
                                "value": MASKED}
    shown = _ok(clerk.get(route, query_string={"unmask": "true"}))
    assert shown["copy"][1]["value"] == ID_NUMBER
    assert entry["case_id"] == case_id
    admin = client.get(route, query_string={"unmask": "true"}).get_json()  # administrators may: audited too
    assert admin["copy"][1]["value"] == ID_NUMBER
    assert [(who, via) for who, via, _ in _viewed(sessions)] == [("samr-clerk", "manual entry"),
                                                                 ("admin", "manual entry")]


def test_a_department_systems_error_message_is_masked_in_the_operators_reads(
        client: FlaskClient, run_in_tx: Any, client_as: Callable[..., FlaskClient]) -> None:
    """The tax system fetches the case data it processes in clear; what it reports back is shown masked."""
    run_in_tx(seed_bundles, ROOT / "bpmn")
    case_id = str(start(client, "company_deregistration")["id"])
    submit_sample(client, case_id, "task_intake", "deregistration-intake")
    tax_system = client_as("reviewer", departments=["dept-tax"], username="tax-system")
    locked = _ok(tax_system.post("/engine-rest/external-task/fetchAndLock", json={
        "workerId": "tax-system", "maxTasks": 1, "topics": [{"topicName": "tax.deregistration",
                                                              "lockDuration": 60000}]}))
    (job,) = locked
    assert job["variables"]["applicant_id_number"]["value"] == ID_NUMBER  # the department's need
    failed = tax_system.post(f"/engine-rest/external-task/{job['id']}/failure", json={
        "workerId": "tax-system", "retries": 0, "retryTimeout": 0,
        "errorMessage": f"纳税人（身份证 {ID_NUMBER}）存在未结清税款",
        "errorDetails": f"taxpayer {ID_NUMBER}: arrears 1250.50"})
    assert failed.status_code == 204, failed.get_data(as_text=True)

    reads = ["/api/jobs", f"/api/jobs/{job['id']}", "/engine-rest/incident", "/engine-rest/external-task",
             f"/engine-rest/external-task/{job['id']}",
             f"/engine-rest/history/activity-instance?processInstanceId={case_id}"]
    readers = {"administrator": client, "tax reviewer": tax_system,
               "supervisor": client_as("supervisor", departments=["city"])}
    leaks, answered = [], set()
    for who, reader in readers.items():
        for path in reads:
            response = reader.get(path)
            if response.status_code == 200:
                answered.add(path)
            if ID_NUMBER in response.get_data(as_text=True):
                leaks.append(f"{who} {path}")
    assert leaks == []
    assert answered == set(reads)
    assert MASKED in client.get(f"/api/jobs/{job['id']}").get_data(as_text=True)
