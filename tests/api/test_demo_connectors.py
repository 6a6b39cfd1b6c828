"""The demo as `make run` serves it: connectors.demo.json and the fake departments drive company deregistration.

A real server process (`python -m orchestrator serve`, its embedded scheduler running the connector jobs)
and the real fake-department HTTP server; the only change to the demo's connector file is the port the
fake departments listen on. The enterprise owes taxes: the 税务 system refuses with TAX_ARREARS, the
diagram's error boundary sends the case to the window to settle them, and the second call — a new job
with its own key, now carrying the payment receipt — returns the tax clearance certificate.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.fake_department import FakeDepartment
from tests.form_samples import decision, sample
from tests.helpers import typed
from tests.server_process import Server
from tests.worker.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]
DEMO_PORT = "http://127.0.0.1:9101"
ITEMS = {f"task_{item}": f"deregistration-{item.replace('_', '-')}" for item in (
    "bank_account", "customs", "housing_fund", "medical_insurance", "seal", "social_security")}
ENTERPRISE = "西宁某某欠税商贸有限公司"


@pytest.fixture()
def departments() -> Iterator[FakeDepartment]:
    department = FakeDepartment("模拟部门").start()  # what `python -m tests.fake_department` serves
    yield department
    department.stop()


@pytest.fixture()
def demo_server(app: Flask, database_url: str, departments: FakeDepartment, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """The served app seeds the bundles and the demo accounts into the database `app` has just emptied."""
    demo = (ROOT / "connectors.demo.json").read_text(encoding="utf-8")
    assert DEMO_PORT in demo
    connectors = tmp_path / "connectors.demo.json"
    connectors.write_text(demo.replace(DEMO_PORT, departments.base_url), encoding="utf-8")
    monkeypatch.setenv("LIANBAN_CONNECTORS", str(connectors))
    monkeypatch.setenv("CELERY_BROKER_URL", "memory://")  # as `make run`: no broker server, the embedded worker
    server = Server(database_url, seed=True)
    yield server
    server.stop()


class DemoCase:
    def __init__(self, server: Server) -> None:
        self.server = server
        status, body = server.call("POST", "/engine-rest/process-definition/key/company_deregistration/start",
                                   {"businessKey": "ZX-DEMO-0001"})
        assert status == 200, body
        self.id = body["id"]

    def ready(self) -> dict[str, str]:
        status, tasks = self.server.call("GET", f"/engine-rest/task?processInstanceId={self.id}")
        assert status == 200, tasks
        return {task["taskDefinitionKey"]: task["id"] for task in tasks}

    def complete(self, key: str, values: dict[str, Any]) -> None:
        status, body = self.server.call("POST", f"/engine-rest/task/{self.ready()[key]}/complete",
                                        {"variables": typed(values)})
        assert status == 204, (key, body)

    def variables(self) -> dict[str, Any]:
        status, body = self.server.call("GET", f"/engine-rest/process-instance/{self.id}/variables")
        assert status == 200, body
        return {name: value["value"] for name, value in body.items()}

    def history(self) -> dict[str, Any]:
        status, body = self.server.call("GET", f"/engine-rest/history/process-instance/{self.id}")
        assert status == 200, body
        return body  # type: ignore[no-any-return]

    def activities(self) -> set[str]:
        status, rows = self.server.call("GET", f"/engine-rest/history/activity-instance?processInstanceId={self.id}")
        assert status == 200, rows
        return {row["activityId"] for row in rows}


@pytest.mark.timeout(600)
def test_the_demo_deregisters_a_company_through_the_fake_tax_system_including_its_refusal(
        demo_server: Server, departments: FakeDepartment) -> None:
    case = DemoCase(demo_server)
    case.complete("task_intake", sample("deregistration-intake", enterprise_name=ENTERPRISE))

    # The embedded scheduler calls 税务, which refuses: the error boundary opens the window's correction.
    # Generous deadlines: the machine may be loaded; nothing here measures time.
    wait_for(lambda: "task_tax_arrears_correction" in case.ready(), 120, "the tax refusal's correction task")
    assert "service_tax_deregistration" not in case.ready()
    assert "error_tax_arrears" in case.activities()
    assert departments.effects == [] and len(departments.calls) == 1  # refused: nothing applied

    for key, form in ITEMS.items():
        case.complete(key, decision(form, "approve"))
    assert set(case.ready()) == {"task_tax_arrears_correction"}
    receipt = "SK2026112900031"
    case.complete("task_tax_arrears_correction",
                  sample("deregistration-tax-arrears", arrears_settled=True, arrears_payment_receipt_no=receipt))

    # Settled: the service task runs again, a new job whose call carries the receipt, and the join goes on.
    wait_for(lambda: "task_deregistration" in case.ready(), 120, "the tax clearance and the registration task")
    assert [effect.request for effect in departments.effects] == [
        {"enterprise_name": ENTERPRISE, "credit_code": sample("deregistration-intake")["enterprise_credit_code"],
         "arrears_receipt_no": receipt}]
    first_key, second_key = (key for _, key in departments.calls)
    assert first_key != second_key and departments.keys_applied() == [second_key]
    certificate = departments.effects[0].answer[1]["certificate_number"]
    assert case.variables()["tax_clearance_number"] == certificate

    case.complete("task_deregistration", decision("deregistration-registration", "approve"))
    case.complete("task_delivery", sample("delivery"))
    assert case.history()["state"] == "COMPLETED"
    reached = case.activities()
    assert {"error_tax_arrears", "task_tax_arrears_correction", "service_tax_deregistration", "end"} <= reached
    assert not {"end_terminated", "end_rejected", "end_not_accepted"} & reached
    assert len(departments.calls) == 2  # each job called once: nothing was repeated
