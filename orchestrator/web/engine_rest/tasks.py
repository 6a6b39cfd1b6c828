"""Human tasks (Camunda 7 shapes): list, count, get, complete, form variables."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from orchestrator.auth import require_user
from orchestrator.services import cases, queries, task_claims
from orchestrator.services.queries import TaskFilter
from orchestrator.web.access import case_data_for_viewer
from orchestrator.web.camunda_json import parse_variables, task_json, typed_variables
from orchestrator.web.engine_rest import blueprint
from orchestrator.web.request_args import (
    actor,
    body_bool,
    body_str,
    json_body,
    query_bool,
    query_page,
    query_time,
    user_id_field,
)
from orchestrator.web.session import unit_of_work


def _filter(source: Any) -> TaskFilter:
    """Camunda's query parameters, within the caller's reach (a reviewer sees its departments' tasks)."""
    def arg(name: str) -> Any:
        return source.get(name) or None

    principal = require_user()
    return TaskFilter(
        scope_groups=principal.view_groups,
        scope_user=principal.username,
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
        first, max_results = query_page(default=100, minimum=0)
        items = queries.list_tasks(session, _filter(request.args), first=first, max_results=max_results)
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
    """获取任务可见的变量（表单变量；身份证号默认脱敏，有权限者加 ?unmask=true 查看原文，记入审计）"""
    with unit_of_work() as session:
        task = queries.get_task(session, task_id)
        variables = queries.get_instance(session, task.instance_id).variables
        return jsonify(typed_variables(case_data_for_viewer(session, task.instance_id, variables, "task variables")))


@blueprint.post("/task/<task_id>/complete")
@blueprint.post("/task/<task_id>/submit-form")
def complete_task(task_id: str) -> Response | tuple[str, int]:
    """办理任务并提交结果变量（withVariablesInReturn 返回的身份证号同样默认脱敏）"""
    body = json_body()
    variables = parse_variables(body.get("variables"))
    with_variables = body_bool(body, "withVariablesInReturn")
    with unit_of_work() as session:
        instance = cases.complete_task(session, task_id, variables, actor(), as_user=require_user())
        result = None
        if with_variables:
            result = typed_variables(case_data_for_viewer(session, instance.id, instance.variables, "task completion"))
    if result is None:
        return "", 204
    return jsonify(result)


@blueprint.post("/task/<task_id>/claim")
def claim_task(task_id: str) -> tuple[str, int]:
    """认领任务（并发时只有一人成功，其余得到 409）"""
    body = json_body()
    with unit_of_work() as session:
        task_claims.claim_task(session, task_id, require_user(), user_id_field(body))
    return "", 204


@blueprint.post("/task/<task_id>/unclaim")
def unclaim_task(task_id: str) -> tuple[str, int]:
    """退回认领（办理人或部门负责人）"""
    with unit_of_work() as session:
        task_claims.unclaim_task(session, task_id, require_user())
    return "", 204


@blueprint.post("/task/<task_id>/assignee")
def set_assignee(task_id: str) -> tuple[str, int]:
    """指定办理人（部门负责人）；userId 为 null 时取消指定"""
    body = json_body()
    with unit_of_work() as session:
        task_claims.set_assignee(session, task_id, require_user(), user_id_field(body))
    return "", 204


@blueprint.post("/task/<task_id>/delegate")
def delegate_task(task_id: str) -> tuple[str, int]:
    """委派任务征求意见（办理人）；被委派人完成后 resolve 交回"""
    body = json_body(required=True)
    reason = body_str(body, "reason", 2000)  # Lianban: why, for the audit record
    with unit_of_work() as session:
        task_claims.delegate_task(session, task_id, require_user(), user_id_field(body), reason)
    return "", 204


@blueprint.post("/task/<task_id>/resolve")
def resolve_task(task_id: str) -> tuple[str, int]:
    """完成委派，把任务交回委派人（可附带变量）"""
    body = json_body()
    variables = parse_variables(body.get("variables"))
    reason = body_str(body, "reason", 2000)  # Lianban: the delegate's answer, for the audit record
    with unit_of_work() as session:
        case = task_claims.resolve_task(session, task_id, require_user(), reason)
        if variables:
            cases.update_variables(session, case.id, variables, [], actor())
    return "", 204
