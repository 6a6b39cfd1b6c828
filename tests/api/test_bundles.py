"""The bundles in bpmn/ deploy at start-up and run along their smoke scenarios through /engine-rest.

The scenarios are the ones at the end of tests/bpmn/coverage/SCENARIOS.md. What each task must look
like (candidate group, form key) is read from the diagram itself, so a task list that drifts from
the drawing fails here. restaurant-opening's scenarios are tested elsewhere.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.models import Job
from orchestrator.services.cases import complete_external
from orchestrator.services.seed import seed_bundles
from tests.form_samples import decision, form_of, sample
from tests.helpers import activities, complete, history_state, instance_variables, open_tasks, start

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = ROOT / "bpmn"
FORMS = ROOT / "forms"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"

NEWBORN_ITEMS = ["birth_certificate", "household_registration", "medical_insurance", "social_security_card",
                 "vaccination_certificate"]
DEREGISTRATION_ITEMS = ["bank_account", "customs", "housing_fund", "medical_insurance", "seal", "social_security"]


def _user_tasks(diagram: Path) -> dict[str, dict[str, Any]]:
    """Every user task of a diagram with the candidate groups and form key it is drawn with."""
    tree = etree.parse(str(diagram), etree.XMLParser(resolve_entities=False, no_network=True))
    tasks: dict[str, dict[str, Any]] = {}
    for element in tree.iter(f"{{{BPMN_NS}}}userTask"):
        groups = element.get(f"{{{CAMUNDA_NS}}}candidateGroups") or ""
        tasks[element.get("id")] = {
            "candidateGroups": [g.strip() for g in groups.split(",") if g.strip()],
            "formKey": element.get(f"{{{CAMUNDA_NS}}}formKey"),
            "name": element.get("name"),
        }
    return tasks


NEWBORN_TASKS = _user_tasks(BUNDLES / "newborn.bpmn")
DEREGISTRATION_TASKS = _user_tasks(BUNDLES / "company-deregistration.bpmn")


def _seed(run_in_tx: Any) -> None:
    created, unchanged = run_in_tx(seed_bundles, BUNDLES)
    assert (created, unchanged) == (3, 0)


class Case:
    """One case driven through the REST API; every task it sees is checked against the diagram."""

    def __init__(self, client: FlaskClient, key: str, drawn: dict[str, dict[str, Any]], business_key: str) -> None:
        self.client = client
        self.drawn = drawn
        self.id = start(client, key, business_key=business_key)["id"]

    def ready(self) -> list[str]:
        tasks = open_tasks(self.client, self.id)
        for task in tasks:
            drawn = self.drawn[task["taskDefinitionKey"]]
            assert task["candidateGroups"] == drawn["candidateGroups"], task["taskDefinitionKey"]
            assert task["formKey"] == drawn["formKey"], task["taskDefinitionKey"]
            assert task["name"] == drawn["name"]
        return sorted(t["taskDefinitionKey"] for t in tasks)

    def task(self, key: str) -> dict[str, Any]:
        matches = [t for t in open_tasks(self.client, self.id) if t["taskDefinitionKey"] == key]
        assert len(matches) == 1, (key, self.ready())
        return matches[0]

    def complete(self, key: str, changes: dict[str, Any] | None = None) -> None:
        """Submit the task's form sample (tests/form_samples.py) with `changes`."""
        task = self.task(key)
        name = form_of(task["formKey"])
        assert name is not None, task["formKey"]
        complete(self.client, task["id"], sample(name, **(changes or {})))

    def decide(self, item: str, value: str) -> None:
        task = self.task(f"task_{item}")
        complete(self.client, task["id"], decision(str(form_of(task["formKey"])), value))

    def history(self) -> dict[str, list[dict[str, Any]]]:
        by_activity: dict[str, list[dict[str, Any]]] = {}
        for row in activities(self.client, self.id):
            by_activity.setdefault(row["activityId"], []).append(row)
        return by_activity


NEWBORN_INTAKE = {
    "applicant_name": "李娜", "applicant_id_number": "630102199001011234", "applicant_phone": "13800000000",
    "applicant_relationship": "mother", "newborn_name": "王小宝", "newborn_gender": "female",
    "newborn_birth_date": "2026-11-20", "birth_hospital": "青海省妇女儿童医院", "household_address": "西宁市城中区",
    "intake_decision": "accept", "intake_opinion": "材料齐全，予以受理",
}


# -- start-up ----------------------------------------------------------------------------------


def test_the_three_bundles_deploy_at_start_up_and_a_second_seed_creates_no_new_version(
        client: FlaskClient, run_in_tx: Any) -> None:
    _seed(run_in_tx)
    definitions = client.get("/engine-rest/process-definition").get_json()
    assert sorted((d["key"], d["version"]) for d in definitions) == [
        ("company_deregistration", 1), ("newborn", 1), ("restaurant_opening", 1)]
    assert {d["name"] for d in definitions} >= {"新生儿出生一件事", "企业注销登记一件事"}

    assert run_in_tx(seed_bundles, BUNDLES) == (0, 3)
    again = client.get("/engine-rest/process-definition").get_json()
    assert sorted(d["id"] for d in again) == sorted(d["id"] for d in definitions)


def test_every_form_key_of_a_bundle_has_a_form_file_with_components() -> None:
    keys: set[str] = set()
    for diagram in sorted(BUNDLES.glob("*.bpmn")):
        keys |= set(re.findall(r'camunda:formKey="lianban:([^"]+)"', diagram.read_text(encoding="utf-8")))
    assert {"newborn-intake", "correction", "delivery", "deregistration-tax-arrears"} <= keys
    for name in sorted(keys):
        path = FORMS / f"{name}.form"
        assert path.is_file(), f"forms/{name}.form is missing"
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(schema.get("components"), list) and schema["components"], name


# -- newborn -----------------------------------------------------------------------------------


def test_a_newborn_case_without_maternity_reimbursement_runs_through_every_department(
        client: FlaskClient, run_in_tx: Any) -> None:
    _seed(run_in_tx)
    case = Case(client, "newborn", NEWBORN_TASKS, "NB-2026-0001")
    assert case.ready() == ["task_intake"]
    case.complete("task_intake", {**NEWBORN_INTAKE, "claim_maternity_reimbursement": False})

    assert case.ready() == [f"task_{item}" for item in NEWBORN_ITEMS]
    case.decide("medical_insurance", "approve")
    assert "task_insurance_payment" in case.ready()
    payment = next(t for t in open_tasks(client, case.id) if t["taskDefinitionKey"] == "task_insurance_payment")
    assert payment["candidateGroups"] == ["dept-tax"] and payment["formKey"] == "lianban:newborn-insurance-payment"
    case.complete("task_insurance_payment")
    for item in ["birth_certificate", "household_registration", "social_security_card"]:
        case.decide(item, "approve")
        assert "task_delivery" not in case.ready()
    case.decide("vaccination_certificate", "approve")

    assert case.ready() == ["task_delivery"]
    assert "task_maternity_reimbursement" not in case.history()
    case.complete("task_delivery", {"delivery_method": "window", "delivery_recipient": "李娜"})

    assert open_tasks(client, case.id) == []
    assert history_state(client, case.id) == "COMPLETED"
    history = case.history()
    steps = {"task_intake", "task_insurance_payment", "task_delivery", *(f"task_{i}" for i in NEWBORN_ITEMS)}
    assert steps <= set(history)
    assert all(row["endTime"] and not row["canceled"] for key in steps for row in history[key])
    assert "end" in history and "end_not_accepted" not in history
    values = instance_variables(client, case.id)
    assert values["newborn_name"] == "王小宝" and values["vaccination_certificate_decision"] == "approve"


def test_a_newborn_case_with_maternity_reimbursement_waits_for_the_optional_branch_and_its_corrections(
        client: FlaskClient, run_in_tx: Any) -> None:
    _seed(run_in_tx)
    case = Case(client, "newborn", NEWBORN_TASKS, "NB-2026-0002")
    case.complete("task_intake", {**NEWBORN_INTAKE, "claim_maternity_reimbursement": True})
    assert case.ready() == sorted(["task_maternity_reimbursement", *(f"task_{i}" for i in NEWBORN_ITEMS)])

    # The health department asks for a correction: the window collects it and the item comes back.
    case.decide("birth_certificate", "correct")
    assert "task_birth_certificate" not in case.ready()
    assert "task_birth_certificate_correction" in case.ready()
    case.complete("task_birth_certificate_correction", {"correction_materials": "补充出生医学证明申请表"})
    assert "task_birth_certificate" in case.ready()
    case.decide("birth_certificate", "approve")

    # A refused insurance registration has nothing to pay.
    case.decide("medical_insurance", "reject")
    assert "task_insurance_payment" not in case.ready()
    for item in ["household_registration", "social_security_card", "vaccination_certificate"]:
        case.decide(item, "approve")

    # Only the optional branch is left; it goes through a correction loop and finishes last.
    assert case.ready() == ["task_maternity_reimbursement"]
    case.decide("maternity_reimbursement", "correct")
    assert case.ready() == ["task_maternity_reimbursement_correction"]
    case.complete("task_maternity_reimbursement_correction", {"correction_materials": "补充医疗费发票"})
    assert case.ready() == ["task_maternity_reimbursement"]
    case.decide("maternity_reimbursement", "approve")

    assert case.ready() == ["task_delivery"]
    case.complete("task_delivery", {"delivery_method": "post"})
    assert history_state(client, case.id) == "COMPLETED"
    history = case.history()
    assert len(history["task_birth_certificate"]) == 2 and len(history["task_maternity_reimbursement"]) == 2
    assert "task_insurance_payment" not in history
    assert {"task_birth_certificate_correction", "task_maternity_reimbursement_correction", "end"} <= set(history)
    # Both branches used the shared correction form; each branch's outputs kept their own names (outputPrefix).
    values = instance_variables(client, case.id)
    assert values["birth_certificate_correction_materials"] == "补充出生医学证明申请表"
    assert values["maternity_reimbursement_correction_materials"] == "补充医疗费发票"
    assert "correction_materials" not in values


def test_a_newborn_application_that_is_not_accepted_ends_at_intake(client: FlaskClient, run_in_tx: Any) -> None:
    _seed(run_in_tx)
    case = Case(client, "newborn", NEWBORN_TASKS, "NB-2026-0003")
    case.complete("task_intake",
                  {**NEWBORN_INTAKE, "intake_decision": "reject", "claim_maternity_reimbursement": False})
    assert open_tasks(client, case.id) == []
    assert history_state(client, case.id) == "COMPLETED"
    history = case.history()
    assert "end_not_accepted" in history and not any(f"task_{i}" in history for i in NEWBORN_ITEMS)


# -- company deregistration ---------------------------------------------------------------------


def _tax_job(sessions: sessionmaker[Session], instance_id: str) -> Job:
    with transaction(sessions) as session:
        jobs = list(session.scalars(select(Job).where(Job.instance_id == instance_id,
                                                      Job.state.in_(("READY", "LOCKED")))))
        assert len(jobs) == 1, [(j.activity_id, j.state) for j in jobs]
        session.expunge(jobs[0])
        return jobs[0]


def _accepted_deregistration(client: FlaskClient, business_key: str) -> Case:
    case = Case(client, "company_deregistration", DEREGISTRATION_TASKS, business_key)
    assert case.ready() == ["task_intake"]
    case.complete("task_intake", {
        "enterprise_name": "西宁某某餐饮有限公司", "enterprise_credit_code": "91630100MA7XXXXX1X",
        "legal_representative": "张伟", "deregistration_reason": "resolution", "simplified_procedure": False,
        "intake_decision": "accept", "intake_opinion": "予以受理",
    })
    assert case.ready() == [f"task_{item}" for item in DEREGISTRATION_ITEMS]
    return case


def test_a_company_deregistration_runs_to_its_end_once_the_tax_system_completes_its_external_task(
        client: FlaskClient, run_in_tx: Any, sessions: sessionmaker[Session]) -> None:
    _seed(run_in_tx)
    case = _accepted_deregistration(client, "ZX-2026-0001")
    job = _tax_job(sessions, case.id)
    assert (job.activity_id, job.topic, job.business_key) == (
        "service_tax_deregistration", "tax.deregistration", "ZX-2026-0001")

    for item in DEREGISTRATION_ITEMS:
        case.decide(item, "approve")
    assert case.ready() == []  # the join waits for the tax department

    with transaction(sessions) as session:
        complete_external(session, job.id, {"tax_clearance_no": "QS2025001"}, "tax-system")
    assert case.ready() == ["task_deregistration"]
    case.decide("deregistration", "approve")
    assert case.ready() == ["task_delivery"]
    case.complete("task_delivery", {"delivery_method": "electronic"})

    assert history_state(client, case.id) == "COMPLETED"
    assert instance_variables(client, case.id)["tax_clearance_no"] == "QS2025001"
    history = case.history()
    steps = {"task_intake", "service_tax_deregistration", "task_deregistration", "task_delivery",
             *(f"task_{i}" for i in DEREGISTRATION_ITEMS)}
    assert steps <= set(history)
    assert all(row["endTime"] and not row["canceled"] for key in steps for row in history[key])
    assert "end" in history and "end_terminated" not in history
    with transaction(sessions) as session:
        assert session.get(Job, job.id).state == "COMPLETED"


def test_a_department_correction_request_loops_back_to_that_department_before_registration(
        client: FlaskClient, run_in_tx: Any, sessions: sessionmaker[Session]) -> None:
    _seed(run_in_tx)
    case = _accepted_deregistration(client, "ZX-2026-0002")

    case.decide("customs", "correct")
    ready = case.ready()
    assert "task_customs" not in ready and "task_customs_correction" in ready
    case.complete("task_customs_correction", {"correction_materials": "补充报关单位备案注销申请书"})
    assert "task_customs" in case.ready()
    for item in DEREGISTRATION_ITEMS:
        case.decide(item, "approve")
    with transaction(sessions) as session:
        complete_external(session, _tax_job(sessions, case.id).id, {"tax_clearance_no": "QS2025002"}, "tax-system")

    # Market regulation asks for a correction too, then registers.
    case.decide("deregistration", "correct")
    assert case.ready() == ["task_deregistration_correction"]
    case.complete("task_deregistration_correction", {"correction_materials": "补充清算报告"})
    assert case.ready() == ["task_deregistration"]
    case.decide("deregistration", "approve")
    case.complete("task_delivery", {"delivery_method": "window"})

    assert history_state(client, case.id) == "COMPLETED"
    history = case.history()
    assert len(history["task_customs"]) == 2 and len(history["task_deregistration"]) == 2
    assert {"task_customs_correction", "task_deregistration_correction", "end"} <= set(history)


def test_a_refused_deregistration_ends_after_the_rejection_notice(
        client: FlaskClient, run_in_tx: Any, sessions: sessionmaker[Session]) -> None:
    _seed(run_in_tx)
    case = _accepted_deregistration(client, "ZX-2026-0003")
    for item in DEREGISTRATION_ITEMS:
        case.decide(item, "approve")
    with transaction(sessions) as session:
        complete_external(session, _tax_job(sessions, case.id).id, {"tax_clearance_no": "QS2025003"}, "tax-system")
    case.decide("deregistration", "reject")
    assert case.ready() == ["task_rejection_notice"]
    case.complete("task_rejection_notice")
    assert history_state(client, case.id) == "COMPLETED"
    history = case.history()
    assert "end_rejected" in history and "task_delivery" not in history
