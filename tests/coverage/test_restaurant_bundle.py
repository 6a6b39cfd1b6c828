"""bpmn/restaurant-opening.bpmn (餐饮店开办一件事): the happy path and the joint-inspection rejection paths.

The fire branch has three steps: document review → site check → decision (``task_fire_safety``).

The joint inspection is a parallel multi-instance over the inspecting departments that ends at the
first rejection (``${inspection_rejected == true}``): a rejection must reach rectification, never
delivery, and the departments that had not inspected yet are cancelled.
"""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.services.seed import seed_bundles
from tests.conftest import ROOT
from tests.coverage.case import Case
from tests.form_samples import decision, sample

Sessions = sessionmaker[Session]
DEPARTMENTS = ["dept-fire-rescue", "dept-market-regulation", "dept-urban-management"]
MANDATORY = ["fire_safety", "food_license", "license_verification", "signboard"]
FINDINGS = {"dept-fire-rescue": "fire_safety", "dept-market-regulation": "food_safety",
            "dept-urban-management": "signboard"}
INTAKE = sample("restaurant-intake")


def opened(client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> Case:
    run_in_tx(seed_bundles, ROOT / "bpmn")
    case = Case.start(client, sessions, "restaurant_opening", {"inspection_departments": DEPARTMENTS})
    assert case.ready() == ["task_intake"]
    case.complete("task_intake", INTAKE)
    assert case.ready() == sorted(["task_fire_document_review", *(f"task_{item}" for item in MANDATORY[1:])])
    review_fire_safety(case)
    for item in MANDATORY:
        case.complete(f"task_{item}", decision(f"restaurant-{item.replace('_', '-')}", "approve"))
    return case


FIRE_DOCUMENT_REVIEW = sample("restaurant-fire-document-review")
FIRE_SITE_CHECK = sample("restaurant-fire-site-check")


def review_fire_safety(case: Case) -> None:
    """The fire branch before its decision: document review, then the site check."""
    case.complete("task_fire_document_review", FIRE_DOCUMENT_REVIEW)
    case.complete("task_fire_site_check", FIRE_SITE_CHECK)


def inspect(case: Case, department: str, rejected: bool) -> None:
    prefix = FINDINGS[department]
    issue = "消防通道堵塞" if rejected else ""
    case.complete("task_joint_inspection", sample(
        "restaurant-joint-inspection", {"department": department}, **{f"{prefix}_findings": issue or "现场符合要求"},
        inspection_rejected=rejected, inspection_issues=issue), candidateGroups=[department])


def rectify(case: Case, abandoned: bool) -> None:
    case.complete("task_rectification", sample("restaurant-rectification", rectification_abandoned=abandoned))


def test_a_restaurant_opening_passes_the_joint_inspection_and_is_delivered(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> None:
    case = opened(client, sessions, run_in_tx)
    inspections = case.tasks("task_joint_inspection")
    assert sorted(g for t in inspections for g in t["candidateGroups"]) == DEPARTMENTS
    for department in DEPARTMENTS:
        inspect(case, department, rejected=False)
    assert case.ready() == ["task_delivery"]
    at_delivery = case.variables_at("task_delivery")
    assert at_delivery["inspection_rejected"] is False
    assert {"fire_safety_findings", "food_safety_findings", "signboard_findings"} <= set(at_delivery)
    assert "department" not in at_delivery
    case.complete("task_delivery", sample("delivery"))
    assert case.state() == "COMPLETED" and case.completed("end") == 1


def test_a_rejection_in_the_joint_inspection_goes_to_rectification_never_to_delivery(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> None:
    case = opened(client, sessions, run_in_tx)
    inspect(case, "dept-market-regulation", rejected=False)
    inspect(case, "dept-fire-rescue", rejected=True)
    assert case.ready() == ["task_rectification"]  # urban management never inspects this round
    assert case.canceled("task_joint_inspection") == 1 and "task_delivery" not in case.history()

    rectify(case, abandoned=False)
    assert case.ready() == ["task_joint_inspection"] * 3
    for department in DEPARTMENTS:
        inspect(case, department, rejected=False)
    assert case.ready() == ["task_delivery"]
    case.complete("task_delivery", sample("delivery"))
    assert case.state() == "COMPLETED" and case.completed("end") == 1
    assert len(case.history()["task_joint_inspection#multiInstanceBody"]) == 2


def test_an_abandoned_rectification_ends_with_a_rejection_notice(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> None:
    case = opened(client, sessions, run_in_tx)
    inspect(case, "dept-urban-management", rejected=True)
    assert case.ready() == ["task_rectification"]
    assert case.canceled("task_joint_inspection") == 2
    rectify(case, abandoned=True)
    assert case.ready() == ["task_rejection_notice"]
    case.complete("task_rejection_notice", sample("rejection-notice"))
    assert case.state() == "COMPLETED" and case.completed("end_rejected") == 1
    assert "task_delivery" not in case.history()
