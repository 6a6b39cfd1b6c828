"""A case through the Camunda 7 REST core: deploy, start, task list, complete, history."""

from __future__ import annotations

from flask.testing import FlaskClient

from benchmarks.diagrams import parallel_diagram
from tests.helpers import activities, complete, deploy, history_state, instance_variables, open_tasks, start


def test_a_deployed_parallel_diagram_runs_to_its_end_through_engine_rest(client: FlaskClient) -> None:
    deployment = deploy(client, {"parallel5.bpmn": parallel_diagram(5)})
    (definition,) = deployment["deployedProcessDefinitions"].values()
    assert definition["key"] == "parallel5" and definition["version"] == 1

    instance = start(client, "parallel5", {"applicant": "张三", "amount": 12}, business_key="BK-1")
    assert instance["businessKey"] == "BK-1" and instance["ended"] is False
    tasks = open_tasks(client, instance["id"])
    assert sorted(t["taskDefinitionKey"] for t in tasks) == [f"task_{i}" for i in range(1, 6)]
    assert {t["name"] for t in tasks} == {f"审批 {i}" for i in range(1, 6)}
    assert tasks[0]["candidateGroups"] == [f"dept-{tasks[0]['taskDefinitionKey'].split('_')[1]}"]

    for task in tasks:
        complete(client, task["id"], {f"result_{task['taskDefinitionKey']}": "同意"})

    assert open_tasks(client, instance["id"]) == []
    assert history_state(client, instance["id"]) == "COMPLETED"
    assert client.get(f"/engine-rest/process-instance/{instance['id']}").status_code == 404
    values = instance_variables(client, instance["id"])
    assert values["applicant"] == "张三"
    assert all(values[f"result_task_{i}"] == "同意" for i in range(1, 6))

    history = activities(client, instance["id"])
    by_id: dict[str, list[dict]] = {}
    for row in history:
        by_id.setdefault(row["activityId"], []).append(row)
    assert set(by_id) >= {"start", "split", "join", "end", *(f"task_{i}" for i in range(1, 6))}
    assert len(by_id["join"]) == 1 and len(by_id["end"]) == 1
    assert all(row["startTime"] and row["endTime"] for row in history)
    assert by_id["task_1"][0]["activityType"] == "userTask"
    assert by_id["task_1"][0]["startTime"] <= by_id["task_1"][0]["endTime"]


def test_task_count_and_candidate_group_filter(client: FlaskClient) -> None:
    deploy(client, {"p.bpmn": parallel_diagram(3, key="p3")})
    start(client, "p3")
    start(client, "p3")
    assert client.get("/engine-rest/task/count").get_json() == {"count": 6}
    assert client.get("/engine-rest/task/count?candidateGroup=dept-2").get_json() == {"count": 2}
    listed = client.get("/engine-rest/task?candidateGroup=dept-2&maxResults=1").get_json()
    assert len(listed) == 1 and listed[0]["taskDefinitionKey"] == "task_2"


def test_an_identical_diagram_is_not_a_new_version_and_a_changed_one_is(client: FlaskClient) -> None:
    first = deploy(client, {"p.bpmn": parallel_diagram(2, key="versioned")})
    again = deploy(client, {"p.bpmn": parallel_diagram(2, key="versioned")})
    assert again["deployedProcessDefinitions"] is None
    assert list(again["unchangedProcessDefinitions"]) == list(first["deployedProcessDefinitions"])

    running = start(client, "versioned")
    changed = deploy(client, {"p.bpmn": parallel_diagram(3, key="versioned")})
    (v2,) = changed["deployedProcessDefinitions"].values()
    assert v2["version"] == 2
    assert client.get("/engine-rest/process-definition/key/versioned").get_json()["version"] == 2

    # The running case stays on version 1: two tasks, and it completes there.
    tasks = open_tasks(client, running["id"])
    assert len(tasks) == 2 and all(t["processDefinitionId"] == running["definitionId"] for t in tasks)
    for task in tasks:
        complete(client, task["id"])
    assert history_state(client, running["id"]) == "COMPLETED"
    assert len(open_tasks(client, start(client, "versioned")["id"])) == 3

    listed = client.get("/engine-rest/process-definition?key=versioned").get_json()
    assert [d["version"] for d in listed] == [1, 2]
    latest = client.get("/engine-rest/process-definition?key=versioned&latestVersion=true").get_json()
    assert [d["version"] for d in latest] == [2]
    xml = client.get("/engine-rest/process-definition/key/versioned/xml").get_json()
    assert xml["id"] == v2["id"] and 'id="task_3"' in xml["bpmn20Xml"]


def test_suspend_resume_and_terminate_a_case(client: FlaskClient) -> None:
    deploy(client, {"p.bpmn": parallel_diagram(2, key="life")})
    instance = start(client, "life")
    pid = instance["id"]
    assert client.put(f"/engine-rest/process-instance/{pid}/suspended", json={"suspended": True}).status_code == 204
    assert client.get(f"/engine-rest/process-instance/{pid}").get_json()["suspended"] is True
    task = open_tasks(client, pid)[0]
    refused = client.post(f"/engine-rest/task/{task['id']}/complete", json={})
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    assert client.put(f"/engine-rest/process-instance/{pid}/suspended", json={"suspended": False}).status_code == 204
    complete(client, task["id"])

    assert client.delete(f"/engine-rest/process-instance/{pid}?deleteReason=申请人撤回").status_code == 204
    assert open_tasks(client, pid) == []
    history = client.get(f"/engine-rest/history/process-instance/{pid}").get_json()
    assert history["state"] == "EXTERNALLY_TERMINATED" and history["deleteReason"] == "申请人撤回"
    assert all(a["endTime"] for a in client.get(
        "/engine-rest/history/activity-instance", query_string={"processInstanceId": pid}).get_json())
    again = client.delete(f"/engine-rest/process-instance/{pid}")
    assert again.status_code == 409


def test_process_variables_can_be_read_set_and_deleted(client: FlaskClient) -> None:
    deploy(client, {"p.bpmn": parallel_diagram(1, key="vars")})
    pid = start(client, "vars", {"a": 1, "b": "x", "items": ["甲", "乙"]})["id"]
    values = client.get(f"/engine-rest/process-instance/{pid}/variables").get_json()
    assert values["a"] == {"type": "Integer", "value": 1, "valueInfo": {}}
    assert values["items"]["type"] == "Json"
    assert client.put(f"/engine-rest/process-instance/{pid}/variables/c",
                      json={"value": True, "type": "Boolean"}).status_code == 204
    assert client.post(f"/engine-rest/process-instance/{pid}/variables",
                       json={"modifications": {"a": {"value": 2, "type": "Integer"}},
                             "deletions": ["b"]}).status_code == 204
    assert client.delete(f"/engine-rest/process-instance/{pid}/variables/items").status_code == 204
    assert instance_variables(client, pid) == {"a": 2, "c": True}
    task = open_tasks(client, pid)[0]
    complete(client, task["id"], {"d": 4.5})
    assert instance_variables(client, pid) == {"a": 2, "c": True, "d": 4.5}
