"""Gateways and sequence flows, as tests/bpmn/coverage/SCENARIOS.md describes them (Camunda 7 behaviour)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from tests.coverage.case import Case, deploy_coverage

Sessions = sessionmaker[Session]


@pytest.mark.parametrize(
    ("amount", "route"),
    [(5000, "task_large"), (1000, "task_large"), (500, "task_medium"), (100, "task_medium"), (10, "task_small")],
)
def test_an_exclusive_gateway_takes_the_first_true_condition_or_the_default(
        client: FlaskClient, sessions: Sessions, amount: int, route: str) -> None:
    deploy_coverage(client, "exclusive_gateway")
    case = Case.start(client, sessions, "exclusive_gateway", {"amount": amount})
    assert case.ready() == [route]
    case.complete(route)
    assert case.state() == "COMPLETED"
    assert case.completed("end") == 1
    assert {"task_large", "task_medium", "task_small"} & set(case.history()) == {route}


def test_an_exclusive_gateway_condition_on_a_missing_variable_refuses_the_start(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "exclusive_gateway")
    response = client.post("/engine-rest/process-definition/key/exclusive_gateway/start", json={"variables": {}})
    assert response.status_code in (400, 422) and response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["element_id"] == "gw_amount" and "amount" in problem["message_en"]
    assert client.get("/engine-rest/process-instance").get_json() == []


def test_an_exclusive_gateway_evaluates_its_flows_in_document_order_not_by_layout(
        client: FlaskClient, sessions: Sessions) -> None:
    # Flow_at_least_100 comes first in the file but its target is drawn below task_at_least_1000.
    deploy_coverage(client, "exclusive_gateway_order")
    case = Case.start(client, sessions, "exclusive_gateway_order", {"amount": 5000})
    assert case.ready() == ["task_at_least_100"]
    small = Case.start(client, sessions, "exclusive_gateway_order", {"amount": 50})
    assert small.ready() == ["task_other"]


def test_a_parallel_gateway_waits_for_both_branches_and_joins_their_variables(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "parallel_gateway")
    case = Case.start(client, sessions, "parallel_gateway")
    assert case.ready() == ["task_a", "task_b"]
    case.complete("task_a", {"a_done": True})
    assert case.ready() == ["task_b"]
    case.complete("task_b", {"b_done": True})
    assert case.ready() == ["task_after"]
    at_after = case.variables_at("task_after")
    assert at_after["a_done"] is True and at_after["b_done"] is True
    case.complete("task_after")
    assert case.state() == "COMPLETED"
    assert len(case.history()["gw_join"]) == 1


@pytest.mark.parametrize(
    ("wanted", "first", "rest"),
    [
        ({"want_a": True, "want_b": True}, ["task_a", "task_b"], ["task_b"]),
        ({"want_a": False, "want_b": True}, ["task_b"], []),
        ({"want_a": False, "want_b": False}, ["task_none"], []),
    ],
)
def test_an_inclusive_gateway_takes_every_true_flow_and_joins_only_those(
        client: FlaskClient, sessions: Sessions, wanted: dict[str, bool], first: list[str], rest: list[str]) -> None:
    deploy_coverage(client, "inclusive_gateway")
    case = Case.start(client, sessions, "inclusive_gateway", wanted)
    assert case.ready() == first
    case.complete(first[0])
    assert case.ready() == (rest or ["task_after"])
    if rest:
        case.complete(rest[0])
        assert case.ready() == ["task_after"]
    case.complete("task_after")
    assert case.state() == "COMPLETED"


def test_an_event_based_gateway_follows_the_message_and_cancels_the_timer(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "event_based_gateway")
    case = Case.start(client, sessions, "event_based_gateway")
    assert case.ready() == []
    assert case.subscriptions() == ["approval_received"]
    [timer] = case.timers()
    assert timer.activity_id == "catch_timeout"
    assert case.send("approval_received", {"approved": True}).status_code == 204
    assert case.ready() == ["task_after_message"]
    assert case.variables_at("task_after_message")["approved"] is True
    assert case.timers() == [] and case.subscriptions() == []
    case.complete("task_after_message")
    assert case.state() == "COMPLETED" and case.completed("end_message") == 1


def test_an_event_based_gateway_follows_the_timer_and_then_refuses_the_message(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "event_based_gateway")
    case = Case.start(client, sessions, "event_based_gateway")
    assert case.fire_timers(after=2.2) == 1
    assert case.ready() == ["task_after_timer"]
    late = case.send("approval_received", {"approved": True})
    assert late.status_code == 400 and late.get_json()["code"] == "message.no_match"
    case.complete("task_after_timer")
    assert case.state() == "COMPLETED" and case.completed("end_timer") == 1
    assert "catch_approval" not in case.history()


@pytest.mark.parametrize(
    ("decision", "ready"),
    [
        ({"urgent": True, "large": False}, ["task_urgent"]),
        ({"urgent": True, "large": True}, ["task_large", "task_urgent"]),
        ({"urgent": False, "large": False}, ["task_normal"]),
    ],
)
def test_conditional_flows_out_of_a_task_take_every_true_condition_or_the_default(
        client: FlaskClient, sessions: Sessions, decision: dict[str, bool], ready: list[str]) -> None:
    deploy_coverage(client, "conditional_flows")
    case = Case.start(client, sessions, "conditional_flows")
    case.complete("task_decide", decision)
    assert case.ready() == ready
    for key in ready:
        case.complete(key)
    assert case.state() == "COMPLETED"
    assert {f"end_{key.removeprefix('task_')}" for key in ready} == {
        end for end in ("end_urgent", "end_large", "end_normal") if case.completed(end)}


@pytest.mark.parametrize(("fast", "ready"), [(False, ["task_archive", "task_notify"]),
                                             (True, ["task_archive", "task_fast", "task_notify"])])
def test_unconditioned_flows_out_of_a_task_are_an_implicit_parallel_split(
        client: FlaskClient, sessions: Sessions, fast: bool, ready: list[str]) -> None:
    deploy_coverage(client, "conditional_flows_implicit_split")
    case = Case.start(client, sessions, "conditional_flows_implicit_split")
    case.complete("task_prepare", {"fast": fast})
    assert case.ready() == ready  # the default flow is not taken: unconditioned flows were
    for key in ready:
        case.complete(key)
    assert case.state() == "COMPLETED" and "task_fallback" not in case.history()
