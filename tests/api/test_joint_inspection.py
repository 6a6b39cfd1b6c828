"""联合勘验 in bpmn/restaurant-opening.bpmn: fire safety, food safety and signboard inspect the same site and sign.

The step continues when all three have signed, or at the first rejection; the consolidated report
(`GET /api/cases/{id}/joint-inspection`) shows each round, each department's findings and who signed.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from orchestrator.forms import registry
from orchestrator.services.seed import seed_bundles
from tests.api.test_forms import restaurant_at_review
from tests.conftest import ROOT
from tests.form_samples import decision, sample
from tests.helpers import open_tasks, start, task_by_key

DEPARTMENTS = ["dept-fire-rescue", "dept-market-regulation", "dept-urban-management"]
FINDINGS = {"dept-fire-rescue": "fire_safety", "dept-market-regulation": "food_safety",
            "dept-urban-management": "signboard"}
INSPECTORS = {"dept-fire-rescue": "fire-inspector", "dept-market-regulation": "food-inspector",
              "dept-urban-management": "signboard-inspector"}


def _at_joint_inspection(client: FlaskClient, run_in_tx: Any) -> str:
    case_id = restaurant_at_review(client, run_in_tx)
    for item in ("license_verification", "food_license", "signboard", "fire_safety"):
        task = task_by_key(client, case_id, f"task_{item}")
        _submit(client, task["id"], decision(f"restaurant-{item.replace('_', '-')}", "approve"))
    return case_id


def _submit(client: FlaskClient, task_id: str, values: dict[str, Any]) -> Any:
    response = client.post(f"/api/tasks/{task_id}/submit", json={"values": values})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture()
def inspectors(client_as: Any) -> dict[str, FlaskClient]:
    """One signed-in reviewer per inspecting department: each signs only its own department's task."""
    return {d: client_as("reviewer", departments=[d], username=INSPECTORS[d]) for d in DEPARTMENTS}


def _inspection_task(client: FlaskClient, case_id: str, department: str) -> dict[str, Any]:
    (task,) = [t for t in open_tasks(client, case_id)
               if t["taskDefinitionKey"] == "task_joint_inspection" and t["candidateGroups"] == [department]]
    return task


def _inspect(inspectors: dict[str, FlaskClient], case_id: str, department: str, issue: str | None = None) -> None:
    client = inspectors[department]
    task = _inspection_task(client, case_id, department)
    served = client.get(f"/api/tasks/{task['id']}/form").get_json()
    assert served["data"]["department"] == department  # the instance's own department decides what it fills
    prefix = FINDINGS[department]
    values = sample("restaurant-joint-inspection", served["data"], inspection_rejected=issue is not None,
                    inspection_issues=issue or "", **{f"{prefix}_findings": issue or "现场符合要求"})
    _submit(client, task["id"], values)


def _report(client: FlaskClient, case_id: str) -> dict[str, Any]:
    response = client.get(f"/api/cases/{case_id}/joint-inspection")
    assert response.status_code == 200, response.get_json()
    (step,) = response.get_json()["steps"]
    return step  # type: ignore[no-any-return]


def test_all_three_departments_sign_the_same_site_and_the_case_goes_on_to_delivery(
        client: FlaskClient, run_in_tx: Any, inspectors: dict[str, FlaskClient]) -> None:
    case_id = _at_joint_inspection(client, run_in_tx)
    report = _report(client, case_id)
    assert report["kind_zh"] == "联合勘验" and report["status"] == "in_progress"
    assert report["site"] == {"enterprise_name": "西宁味道餐饮有限公司",
                              "business_address": "西宁市城西区五四大街 1 号", "business_area": 120, "seat_count": 40,
                              "signboard_text": "西宁味道"}
    (first,) = report["rounds"]
    assert [(d["department"], d["status"]) for d in first["departments"]] == [(d, "pending") for d in DEPARTMENTS]

    # Each department sees only its own part of the form: another's findings are refused.
    task = _inspection_task(client, case_id, "dept-fire-rescue")
    foreign = {**sample("restaurant-joint-inspection", {"department": "dept-fire-rescue"}),
               "food_safety_findings": "后厨合格"}
    refused = client.post(f"/api/tasks/{task['id']}/submit", json={"values": foreign})
    assert refused.status_code == 400
    assert [e["field"] for e in refused.get_json()["errors"]] == ["food_safety_findings"]
    # Nor can another department sign in its place.
    other = inspectors["dept-urban-management"].post(
        f"/api/tasks/{task['id']}/submit", json={"values": sample("restaurant-joint-inspection", {"department":
                                                                                             "dept-fire-rescue"})})
    assert other.status_code == 403 and other.get_json()["code"] == "auth.forbidden"

    for department in DEPARTMENTS[:2]:
        _inspect(inspectors, case_id, department)
        assert "task_delivery" not in [t["taskDefinitionKey"] for t in open_tasks(client, case_id)]
    _inspect(inspectors, case_id, DEPARTMENTS[2])
    assert [t["taskDefinitionKey"] for t in open_tasks(client, case_id)] == ["task_delivery"]

    report = _report(client, case_id)
    assert report["status"] == "passed" and report["status_zh"] == "通过"
    (first,) = report["rounds"]
    assert [(d["department"], d["status"], d["rejected"], d["signed_by"]) for d in first["departments"]] == [
        (d, "signed", False, INSPECTORS[d]) for d in DEPARTMENTS]
    fire = first["departments"][0]
    assert {e["field"]: (e["label"], e["value"]) for e in fire["entries"]} == {
        "inspection_date": ("勘验日期", "2026-11-30"),
        "fire_safety_findings": ("消防安全勘验意见", "现场符合要求"),
        "fire_safety_inspector": ("消防安全勘验人员签名", "赵消防"),
        "inspection_rejected": ("勘验不通过（存在须整改的问题）", False),
    }
    assert fire["signed_at"].endswith("+08:00")


def test_the_first_rejection_ends_the_inspection_goes_to_rectification_and_a_second_round_is_reported(
        client: FlaskClient, run_in_tx: Any, inspectors: dict[str, FlaskClient]) -> None:
    case_id = _at_joint_inspection(client, run_in_tx)
    _inspect(inspectors, case_id, "dept-market-regulation")

    # A rejection needs its reason: the issues to rectify.
    task = _inspection_task(client, case_id, "dept-fire-rescue")
    values = sample("restaurant-joint-inspection", {"department": "dept-fire-rescue"}, inspection_rejected=True)
    values.pop("inspection_issues", None)
    refused = client.post(f"/api/tasks/{task['id']}/submit", json={"values": values})
    assert refused.status_code == 400 and [e["field"] for e in refused.get_json()["errors"]] == ["inspection_issues"]

    _inspect(inspectors, case_id, "dept-fire-rescue", issue="疏散通道被杂物堵塞")
    assert [t["taskDefinitionKey"] for t in open_tasks(client, case_id)] == ["task_rectification"]
    report = _report(client, case_id)
    assert report["status"] == "rejected"
    (first,) = report["rounds"]
    by_department = {d["department"]: d for d in first["departments"]}
    assert by_department["dept-fire-rescue"]["rejected"] is True
    assert by_department["dept-fire-rescue"]["reason"] == "疏散通道被杂物堵塞"
    assert by_department["dept-market-regulation"]["status"] == "signed"
    assert by_department["dept-urban-management"]["status"] == "not_inspected"

    rectification = task_by_key(client, case_id, "task_rectification")
    _submit(client, rectification["id"], sample("restaurant-rectification"))
    assert sorted(t["candidateGroups"][0] for t in open_tasks(client, case_id)) == DEPARTMENTS
    for department in DEPARTMENTS:
        _inspect(inspectors, case_id, department)
    assert [t["taskDefinitionKey"] for t in open_tasks(client, case_id)] == ["task_delivery"]
    report = _report(client, case_id)
    assert [r["status"] for r in report["rounds"]] == ["rejected", "passed"] and report["status"] == "passed"


def test_the_joint_inspection_fields_are_named_apart_from_every_other_step_of_the_bundle() -> None:
    diagram = (ROOT / "bpmn" / "restaurant-opening.bpmn").read_text(encoding="utf-8")
    other_forms = set(re.findall(r'formKey="lianban:([^"]+)"', diagram)) - {"restaurant-joint-inspection"}
    prefixes = set(re.findall(r'name="outputPrefix" value="([^"]+)"', diagram))
    joint = set(registry.get("restaurant-joint-inspection").keys)
    others: set[str] = set()
    for name in other_forms:
        keys = set(registry.get(name).keys)
        others |= keys | {p + k for p in prefixes for k in keys} if name == "correction" else keys
    assert joint & others == set()


def test_a_case_without_a_joint_step_has_no_report(client: FlaskClient, run_in_tx: Any) -> None:
    run_in_tx(seed_bundles, ROOT / "bpmn")
    case_id = start(client, "newborn")["id"]
    response = client.get(f"/api/cases/{case_id}/joint-inspection")
    assert response.status_code == 404 and response.get_json()["code"] == "joint.none"
    assert client.get("/api/cases/nope/joint-inspection").status_code == 404
