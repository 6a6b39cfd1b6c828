"""The bundles' steps name real departments: their `department` property is a department code, as their candidate
groups are, so the head-of-department checks, the official record and supervision by department line up.

A diagram that names a department by its full name still resolves; one that names nothing known (an old
short name such as 市场监管) still deploys, with a warning naming the element and its line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from lxml import etree
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.models import HumanTask
from orchestrator.services.approval_access import step_departments
from orchestrator.services.demo_accounts import DEMO_DEPARTMENTS, seed_demo_accounts
from orchestrator.services.seed import seed_bundles
from orchestrator.services.step_departments import named_departments
from tests.conftest import ROOT
from tests.form_samples import decision, sample
from tests.helpers import deploy, start, task_by_key

DEMO_CODES = {code for code, *_ in DEMO_DEPARTMENTS}
BUNDLES = sorted((ROOT / "bpmn").glob("*.bpmn"))
RESTAURANT = ROOT / "bpmn" / "restaurant-opening.bpmn"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"


def _properties(text: str) -> list[tuple[str, str]]:
    """(element id, department property) of every step of a diagram."""
    root = etree.fromstring(text.encode())
    found = []
    for prop in root.iter(f"{{{CAMUNDA}}}property"):
        if prop.get("name") == "department":
            element = prop.getparent().getparent().getparent()  # properties → extensionElements → the step
            found.append((str(element.get("id")), str(prop.get("value"))))
    return found


def test_every_step_of_the_bundles_names_a_demo_department_by_its_code(
        client: FlaskClient, run_in_tx: Any) -> None:
    named = [(path.name, element, value) for path in BUNDLES for element, value in
             _properties(path.read_text(encoding="utf-8"))]
    assert len(named) > 50
    assert [n for n in named if not set(named_departments({"department": n[2]})) <= DEMO_CODES] == []

    run_in_tx(seed_demo_accounts)
    files = {path.name: path.read_bytes() for path in BUNDLES}
    deployed = deploy(client, files)
    assert "warnings" not in deployed  # every department is known once the demo departments exist


def test_a_name_resolves_and_an_unknown_short_name_deploys_with_a_warning_naming_the_element_and_line(
        client: FlaskClient, run_in_tx: Any, sessions: sessionmaker[Session]) -> None:
    run_in_tx(seed_demo_accounts)
    text = RESTAURANT.read_text(encoding="utf-8")
    old = text.replace('name="department" value="dept-urban-management"', 'name="department" value="城管"')
    old = old.replace('name="department" value="dept-market-regulation"', 'name="department" value="市场监督管理局"')
    deployed = deploy(client, {"restaurant-opening.bpmn": old.encode()})
    (warning,) = deployed["warnings"]
    line = old[:old.index('id="task_signboard"')].count("\n") + 1
    assert warning | {"message_zh": None} == {
        "code": "bpmn.department_unknown", "filename": "restaurant-opening.bpmn", "element_id": "task_signboard",
        "line": line, "departments": ["城管"], "message_zh": None,
        "message_en": "The department property of task_signboard names no known department: 城管"}
    assert "task_signboard" in warning["message_zh"] and "城管" in warning["message_zh"]

    # The full name lines up with the department, as its code does; the unknown short name with nothing.
    with transaction(sessions) as session:
        by_name = HumanTask(candidate_groups=[], properties={"department": "市场监督管理局"})
        unknown = HumanTask(candidate_groups=[], properties={"department": "城管"})
        joint = HumanTask(candidate_groups=["dept-fire-rescue"], properties={
            "department": "dept-fire-rescue,dept-market-regulation,dept-urban-management"})
        assert step_departments(session, by_name) == {"dept-market-regulation"}
        assert step_departments(session, unknown) == set()
        assert step_departments(session, joint) == {"dept-fire-rescue"}  # its own instance's department only


def test_a_steps_property_alone_finds_its_department_on_every_bundle(
        run_in_tx: Any, sessions: sessionmaker[Session]) -> None:
    run_in_tx(seed_demo_accounts)
    with transaction(sessions) as session:
        for path in BUNDLES:
            for element, value in _properties(path.read_text(encoding="utf-8")):
                groups = named_departments({"department": value})[:1]  # a joint step: one instance's department
                task = HumanTask(candidate_groups=[], properties={"department": ",".join(groups)})
                assert step_departments(session, task) == set(groups), (path.name, element)


def test_the_official_record_and_supervision_by_department_line_up_with_the_demo_departments(
        client: FlaskClient, run_in_tx: Any, client_as: Callable[..., FlaskClient]) -> None:
    run_in_tx(seed_demo_accounts)
    run_in_tx(seed_bundles, ROOT / "bpmn")
    case_id = start(client, "restaurant_opening", {"inspection_departments": ["dept-fire-rescue"]})["id"]
    intake = task_by_key(client, case_id, "task_intake")
    assert client.post(f"/api/tasks/{intake['id']}/submit",
                       json={"values": sample("restaurant-intake")}).status_code == 200
    reviewer = client_as("reviewer", departments=["dept-market-regulation"], username="market-zhou")
    task = task_by_key(client, case_id, "task_license_verification")
    rest = {k: v for k, v in decision("restaurant-license-verification", "approve").items()
            if not k.endswith(("_decision", "_opinion"))}
    decided = reviewer.post(f"/api/tasks/{task['id']}/decide",
                            json={"decision": "approve", "opinion": "营业执照信息核验一致", "variables": rest})
    assert decided.status_code == 200, decided.get_json()

    record = client.get(f"/api/cases/{case_id}/opinions").get_json()
    assert [(s["activity_id"], s["department"], s["department_name"]) for s in record["steps"]] == [
        ("task_license_verification", "dept-market-regulation", "市场监督管理局")]

    head = client_as("department_head", departments=["dept-market-regulation"])
    rows = head.get("/api/supervision/step-times", query_string={"bundle": "restaurant_opening"}).get_json()["items"]
    assert {(r["activity_id"], r["department"]) for r in rows} == {
        ("task_license_verification", "dept-market-regulation")}
    rows = client.get("/api/supervision/step-times", query_string={"bundle": "restaurant_opening"}).get_json()["items"]
    assert {r["department"] for r in rows} == {"intake-window", "dept-market-regulation"} <= DEMO_CODES
