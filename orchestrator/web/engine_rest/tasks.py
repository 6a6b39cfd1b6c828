"""Human tasks (Camunda 7 shapes): list, count, get, complete, form variables."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from orchestrator.services import cases, queries
from orchestrator.services.queries import TaskFilter
from orchestrator.web.camunda_json import parse_variables, task_json, typed_variables
from orchestrator.web.engine_rest import blueprint
from orchestrator.web.request_args import actor, json_body, query_bool, query_int, query_time
from orchestrator.web.session import unit_of_work


def _filter(source: Any) -> TaskFilter:
    def arg(name: str) -> Any:
        return source.get(name) or None

    return TaskFilter(
        process_instance_id=arg("processInstanceId"),
        process_definition_key=arg("processDefinitionKey"),
        process_definition_id=arg("processDefinitionId"),
        business_key=arg("processInstanceBusinessKey"),
        task_definition_key=arg("taskDefinitionKey"),
        assignee=arg("assignee"),
        candidate_group=arg("candidateGroup"),
        candidate_user=arg("candidateUser"),
        unassigned=query_bool("unassigned"),
        due_before=query_time("dueBefore"),
        due_after=query_time("dueAfter"),
    )


@blueprint.get("/task")
def list_tasks() -> Response:
    """查询待办任务"""
    with unit_of_work() as session:
        items = queries.list_tasks(session, _filter(request.args), first=query_int("firstResult", 0),
                                   max_results=query_int("maxResults", 100))
        return jsonify([task_json(t) for t in items])


@blueprint.get("/task/count")
def count_tasks() -> Response:
    """统计待办任务数量"""
    with unit_of_work() as session:
        return jsonify({"count": queries.count_tasks(session, _filter(request.args))})


@blueprint.get("/task/<task_id>")
def get_task(task_id: str) -> Response:
    """获取一个任务"""
    with unit_of_work() as session:
        return jsonify(task_json(queries.get_task(session, task_id)))


@blueprint.get("/task/<task_id>/variables")
@blueprint.get("/task/<task_id>/form-variables")
def task_variables(task_id: str) -> Response:
    """获取任务可见的变量（表单变量）"""
    with unit_of_work() as session:
        task = queries.get_task(session, task_id)
        return jsonify(typed_variables(queries.get_instance(session, task.instance_id).variables))


@blueprint.post("/task/<task_id>/complete")
@blueprint.post("/task/<task_id>/submit-form")
def complete_task(task_id: str) -> Response | tuple[str, int]:
    """办理任务并提交结果变量"""
    body = json_body()
    variables = parse_variables(body.get("variables"))
    with unit_of_work() as session:
        instance = cases.complete_task(session, task_id, variables, actor())
        result = typed_variables(instance.variables) if body.get("withVariablesInReturn") else None
    if result is None:
        return "", 204
    return jsonify(result)
