"""The engine refuses loudly what SpiffWorkflow would get wrong quietly: deep loops, racing branch writes."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.models import ProcessInstance
from tests.coverage.case import Case, deploy_coverage
from tests.helpers import typed

Sessions = sessionmaker[Session]


def test_a_short_script_loop_runs_to_its_end(client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "script_loop")
    case = Case.start(client, sessions, "script_loop", {"count": 0, "limit": 100})
    assert case.ready() == ["task_done"]
    assert case.variables_at("task_done")["count"] == 100
    assert case.completed("script_count") == 100


def test_a_loop_deeper_than_spiffworkflow_can_walk_is_refused_instead_of_stopping_silently(
        client: FlaskClient, sessions: Sessions) -> None:
    # Each round adds the script task and the gateway to the task tree: 600 rounds pass depth 1000,
    # where SpiffWorkflow's task iterator stops and the case would look as if it were waiting.
    deploy_coverage(client, "script_loop")
    response = client.post("/engine-rest/process-definition/key/script_loop/start",
                           json={"variables": typed({"count": 0, "limit": 600})})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == "engine.depth_limit"
    assert "1000" in problem["message_zh"] and "loop" in problem["message_en"].lower()
    with transaction(sessions) as session:
        assert session.scalars(select(ProcessInstance.id)).all() == []


def test_parallel_branches_writing_one_variable_differently_are_refused_and_nothing_is_lost(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "parallel_gateway")
    case = Case.start(client, sessions, "parallel_gateway", {"applicant": "张三"})
    case.complete("task_a", {"decision": "approve", "a_done": True})
    before = case.variables()
    history_before = case.history()

    refused = case.try_complete("task_b", {"decision": "reject", "b_done": True})
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    problem = refused.get_json()
    assert problem["code"] == "engine.branch_variable_conflict"
    assert problem["element_id"] == "gw_join" and problem["variables"] == ["decision"]
    assert "gw_join" in problem["message_zh"] and "decision" in problem["message_zh"]

    # The refused completion left no trace: same open task, same variables, same history.
    assert case.ready() == ["task_b"]
    assert case.variables() == before and case.history() == history_before
    case.complete("task_b", {"decision": "approve", "b_done": True})
    assert case.ready() == ["task_after"]
    assert case.variables_at("task_after")["decision"] == "approve"
