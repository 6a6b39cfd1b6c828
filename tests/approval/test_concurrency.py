"""A send-back racing the completion of the same step ends in one consistent state, never both."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.approval.bundle import Sessions, approve, auth, fire_reaches_decision, open_restaurant
from tests.coverage.test_restaurant_bundle import FIRE_DOCUMENT_REVIEW, FIRE_SITE_CHECK
from tests.helpers import typed

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("round_", range(3))
def test_a_send_back_racing_the_completion_of_the_same_step_wins_or_loses_whole(
        app: Flask, client: FlaskClient, sessions: Sessions, run_in_tx: Any, round_: int) -> None:
    case = open_restaurant(client, sessions, run_in_tx)
    fire_reaches_decision(case)
    decision = case.task("task_fire_safety")["id"]
    start = threading.Barrier(2)
    results: dict[str, Any] = {}
    fire_chen = auth(client, "fire-chen")  # signed in once, before the race

    def send_back() -> None:
        own = app.test_client()
        start.wait()
        results["send_back"] = own.post(f"/api/tasks/{decision}/send-back", headers=fire_chen, json={
            "target": "task_fire_document_review", "reason": "材料审查有遗漏"})

    def complete() -> None:
        own = app.test_client()
        start.wait()
        results["complete"] = own.post(f"/engine-rest/task/{decision}/complete", headers=fire_chen,
                                       json={"variables": typed(approve("fire_safety"))})

    threads = [threading.Thread(target=send_back), threading.Thread(target=complete)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent_back = results["send_back"].status_code == 200
    completed = results["complete"].status_code == 204
    assert sent_back != completed, (results["send_back"].get_json(), results["complete"].status_code)
    loser = results["complete"] if sent_back else results["send_back"]
    assert loser.status_code == 409 and loser.get_json()["code"] == "task.not_open"

    fire_open = [key for key in case.ready() if key.startswith("task_fire")]
    row = case.row(decision)
    if sent_back:
        assert fire_open == ["task_fire_document_review"] and row.state == "CANCELED"
        assert case.completed("task_fire_safety") == 0
    else:
        assert fire_open == [] and row.state == "COMPLETED" and row.completed_by == "fire-chen"
        assert case.canceled("task_fire_document_review") == 0
    # Either way the case runs to the joint inspection, through the join exactly once.
    for key in fire_open:
        case.act(key, "fire-li", FIRE_DOCUMENT_REVIEW)
    if sent_back:
        case.act("task_fire_site_check", "fire-zhao", FIRE_SITE_CHECK)
        case.act("task_fire_safety", "fire-chen", approve("fire_safety"))
    for item in ("food_license", "license_verification", "signboard"):
        case.act(f"task_{item}", f"{item}-officer", approve(item))
    assert case.completed("gw_items_join") == 1 and "task_joint_inspection" in case.ready()
