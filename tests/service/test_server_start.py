"""`python -m orchestrator serve` (what `make run` runs) migrates, deploys the bundles and serves them."""

from __future__ import annotations

from flask import Flask

from tests.server_process import Server


def test_the_server_starts_with_the_three_bundles_deployed_and_a_restart_keeps_their_versions(
    app: Flask, database_url: str
) -> None:
    server = Server(database_url, seed=True)
    try:
        status, definitions = server.call("GET", "/engine-rest/process-definition")
        assert status == 200
        assert {(d["key"], d["version"]) for d in definitions} == {
            ("newborn", 1), ("restaurant_opening", 1), ("company_deregistration", 1)}
        status, instance = server.call("POST", "/engine-rest/process-definition/key/newborn/start",
                                       {"businessKey": "NB-1"})
        assert status == 200 and instance["businessKey"] == "NB-1"
        status, tasks = server.call("GET", f"/engine-rest/task?processInstanceId={instance['id']}")
        assert status == 200 and [t["taskDefinitionKey"] for t in tasks] == ["task_intake"]
    finally:
        server.stop()
    again = Server(database_url, seed=True)
    try:
        _, definitions = again.call("GET", "/engine-rest/process-definition")
        assert sorted(d["version"] for d in definitions) == [1, 1, 1]  # identical diagrams: no new version
    finally:
        again.stop()
