"""Multi-instance activities: Camunda 7 variable propagation, counters and completion conditions."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from tests.coverage.case import Case, deploy_coverage

Sessions = sessionmaker[Session]
REVIEWERS = ["alice", "bob", "carol"]


def test_a_parallel_multi_instance_propagates_what_each_instance_wrote(client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "parallel_multi_instance")
    case = Case.start(client, sessions, "parallel_multi_instance", {"reviewers": REVIEWERS})
    assert case.ready() == ["task_review"] * 3
    assert sorted(t["assignee"] for t in case.tasks("task_review")) == REVIEWERS
    for name in REVIEWERS:
        local = case.task_data("task_review", assignee=name)
        assert local["reviewer"] == name and local["nrOfInstances"] == 3
        assert local["loopCounter"] == REVIEWERS.index(name)
    for name in ("carol", "alice", "bob"):
        case.complete("task_review", {"rejected": False, f"comment_{name}": "ok"}, assignee=name)
    assert case.ready() == ["task_accepted"]
    at_accepted = case.variables_at("task_accepted")
    assert at_accepted["rejected"] is False
    assert [at_accepted[f"comment_{n}"] for n in REVIEWERS] == ["ok", "ok", "ok"]
    assert at_accepted["reviewers"] == REVIEWERS
    assert not {"reviewer", "loopCounter", "nrOfInstances", "nrOfCompletedInstances"} & set(at_accepted)
    case.complete("task_accepted")
    assert case.state() == "COMPLETED" and case.completed("end_accepted") == 1
    history = case.history()
    assert len(history["task_review#multiInstanceBody"]) == 1
    assert history["task_review#multiInstanceBody"][0]["activityType"] == "multiInstanceBody"
    assert case.completed("task_review") == 3


def test_a_parallel_multi_instance_ends_at_the_first_rejection_and_cancels_the_rest(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "parallel_multi_instance")
    case = Case.start(client, sessions, "parallel_multi_instance", {"reviewers": REVIEWERS})
    case.complete("task_review", {"rejected": False}, assignee="alice")
    assert case.ready() == ["task_review"] * 2
    case.complete("task_review", {"rejected": True}, assignee="bob")
    assert case.ready() == ["task_rejected"]
    assert case.completed("task_review") == 2 and case.canceled("task_review") == 1
    case.complete("task_rejected")
    assert case.state() == "COMPLETED" and case.completed("end_rejected") == 1


def test_a_sequential_multi_instance_runs_one_instance_at_a_time_and_keeps_every_result(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "sequential_multi_instance")
    case = Case.start(client, sessions, "sequential_multi_instance", {"documents": ["营业执照", "身份证"]})
    assert case.ready() == ["task_check_document"]
    assert case.task_data("task_check_document")["document"] == "营业执照"
    case.complete("task_check_document", {"checked_licence": True})
    assert case.ready() == ["task_check_document"]
    assert case.task_data("task_check_document")["document"] == "身份证"
    case.complete("task_check_document", {"checked_id": True})
    for counter in range(3):
        assert case.ready() == ["task_sign"]
        local = case.task_data("task_sign")
        assert local["loopCounter"] == counter and local["nrOfInstances"] == 3
        assert local["nrOfCompletedInstances"] == counter and local["nrOfActiveInstances"] == 1
        case.complete("task_sign", {f"sign_{counter}": True})
    assert case.state() == "COMPLETED"
    final = case.variables()
    assert final["documents"] == ["营业执照", "身份证"]
    assert final["checked_licence"] and final["checked_id"]
    assert all(final[f"sign_{i}"] for i in range(3))
    assert "document" not in final and "loopCounter" not in final


def test_a_completion_condition_can_count_instances(client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "multi_instance_counters")
    reviewers = ["甲", "乙", "丙", "丁", "戊"]
    case = Case.start(client, sessions, "multi_instance_counters", {"reviewers": reviewers})
    tasks = case.tasks("task_vote")
    assert sorted(t["priority"] for t in tasks) == [0, 1, 2, 3, 4]  # camunda:priority="${loopCounter}"
    for left, name in ((4, "丙"), (3, "甲")):
        case.complete("task_vote", {f"vote_{name}": "yes"}, assignee=name)
        assert case.ready() == ["task_vote"] * left
    case.complete("task_vote", {"vote_戊": "yes"}, assignee="戊")
    # 3 of 5 = 0.6: ${nrOfCompletedInstances / nrOfInstances >= 0.6} ends the vote.
    assert case.ready() == ["task_count"]
    assert case.canceled("task_vote") == 2
    votes = case.variables_at("task_count")
    assert {k for k in votes if k.startswith("vote_")} == {"vote_丙", "vote_甲", "vote_戊"}


def test_a_multi_instance_without_its_collection_refuses_the_start_by_name(
        client: FlaskClient, sessions: Sessions) -> None:
    deploy_coverage(client, "parallel_multi_instance")
    response = client.post("/engine-rest/process-definition/key/parallel_multi_instance/start", json={})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == "engine.multi_instance" and problem["element_id"] == "task_review"
    assert "reviewers" in problem["message_zh"]
