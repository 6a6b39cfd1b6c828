"""Process instances, variables, messages, incidents and history (Camunda 7 shapes)."""

from __future__ import annotations

from flask import Response, jsonify, request

from orchestrator.auth import require_user
from orchestrator.auth.access import case_scope
from orchestrator.errors import InvalidRequestError, NotFoundError
from orchestrator.services import cases, queries
from orchestrator.services.queries import InstanceFilter
from orchestrator.web.access import case_data_for_viewer, masked
from orchestrator.web.camunda_json import (
    activity_json,
    history_instance_json,
    incident_json,
    instance_json,
    parse_variables,
    typed_variable,
    typed_variables,
)
from orchestrator.web.engine_rest import blueprint
from orchestrator.web.request_args import actor, body_bool, body_str, json_body, query_bool, query_page
from orchestrator.web.session import unit_of_work


def _instance_filter(*, active_only: bool, finished_only: bool = False) -> InstanceFilter:
    """Camunda's query parameters, within the caller's reach (an applicant lists only its own cases)."""
    ids = request.args.get("processInstanceIds")
    single = request.args.get("processInstanceId")
    return InstanceFilter(
        active_only=active_only, finished_only=finished_only,
        definition_key=request.args.get("processDefinitionKey") or None,
        definition_id=request.args.get("processDefinitionId") or None,
        business_key=request.args.get("businessKey") or None,
        instance_ids=tuple(ids.split(",") if ids else ()) + ((single,) if single else ()),
        scope=case_scope(require_user()),
    )


@blueprint.get("/process-instance")
def list_process_instances() -> Response:
    """查询运行中的办件（申请人只能查到自己的办件）"""
    with unit_of_work() as session:
        first, max_results = query_page(default=100, minimum=0)
        items = queries.list_instances(session, _instance_filter(active_only=True), first=first,
                                       max_results=max_results)
        return jsonify([instance_json(i) for i in items])


@blueprint.get("/process-instance/count")
def count_process_instances() -> Response:
    """统计运行中的办件数量"""
    with unit_of_work() as session:
        return jsonify({"count": queries.count_instances(session, _instance_filter(active_only=True))})


@blueprint.get("/process-instance/<instance_id>")
def get_process_instance(instance_id: str) -> Response:
    """获取运行中的办件"""
    with unit_of_work() as session:
        instance = queries.get_instance(session, instance_id)
        if instance.state in ("COMPLETED", "TERMINATED"):
            # Camunda's runtime service forgets ended instances; their record is in history.
            raise NotFoundError("办件已结束，请查询历史记录", "Process instance has ended; see history", field="id")
        return jsonify(instance_json(instance))


@blueprint.delete("/process-instance/<instance_id>")
def delete_process_instance(instance_id: str) -> tuple[str, int]:
    """终止办件"""
    reason = request.args.get("deleteReason") or None
    with unit_of_work() as session:
        cases.terminate_case(session, instance_id, reason, actor())
    return "", 204


@blueprint.put("/process-instance/<instance_id>/suspended")
def suspend_process_instance(instance_id: str) -> tuple[str, int]:
    """挂起或恢复办件"""
    body = json_body(required=True)
    if not isinstance(body.get("suspended"), bool):
        raise InvalidRequestError("suspended 必须是布尔值", "suspended must be a boolean", field="suspended")
    with unit_of_work() as session:
        cases.set_suspended(session, instance_id, body["suspended"], actor())
    return "", 204


@blueprint.get("/process-instance/<instance_id>/variables")
def get_variables(instance_id: str) -> Response:
    """获取办件的全部流程变量（身份证号默认脱敏；有权限者加 ?unmask=true 查看原文，记入审计）"""
    with unit_of_work() as session:
        variables = queries.get_instance(session, instance_id).variables
        return jsonify(typed_variables(case_data_for_viewer(session, instance_id, variables, "process variables")))


@blueprint.get("/process-instance/<instance_id>/variables/<name>")
def get_variable(instance_id: str, name: str) -> Response:
    """获取办件的一个流程变量（身份证号默认脱敏，同上）"""
    with unit_of_work() as session:
        variables = queries.get_instance(session, instance_id).variables
        if name not in variables:
            raise NotFoundError(f"变量不存在：{name}", f"Variable {name} not found", field=name)
        shown = case_data_for_viewer(session, instance_id, {name: variables[name]}, "process variable")
        return jsonify(typed_variable(shown[name]))


@blueprint.put("/process-instance/<instance_id>/variables/<name>")
def put_variable(instance_id: str, name: str) -> tuple[str, int]:
    """设置办件的一个流程变量"""
    values = parse_variables({name: json_body(required=True)})
    with unit_of_work() as session:
        cases.update_variables(session, instance_id, values, [], actor())
    return "", 204


@blueprint.delete("/process-instance/<instance_id>/variables/<name>")
def delete_variable(instance_id: str, name: str) -> tuple[str, int]:
    """删除办件的一个流程变量"""
    with unit_of_work() as session:
        cases.update_variables(session, instance_id, {}, [name], actor())
    return "", 204


@blueprint.post("/process-instance/<instance_id>/variables")
def modify_variables(instance_id: str) -> tuple[str, int]:
    """批量修改、删除办件的流程变量"""
    body = json_body(required=True)
    modifications = parse_variables(body.get("modifications"), "modifications")
    deletions = [] if body.get("deletions") is None else body["deletions"]
    if not isinstance(deletions, list) or not all(isinstance(d, str) for d in deletions):
        raise InvalidRequestError("deletions 必须是变量名数组", "deletions must be a list of names", field="deletions")
    with unit_of_work() as session:
        cases.update_variables(session, instance_id, modifications, deletions, actor())
    return "", 204


@blueprint.post("/message")
def correlate_message() -> Response | tuple[str, int]:
    """关联消息：推进等待该消息的办件，或由消息开始事件新建办件"""
    body = json_body(required=True)
    name = body_str(body, "messageName")
    if not name:
        raise InvalidRequestError("缺少 messageName", "messageName is required", field="messageName")
    correlation_keys = parse_variables(body.get("correlationKeys"), "correlationKeys")
    variables = parse_variables(body.get("processVariables"), "processVariables")
    correlate_all, result_enabled = body_bool(body, "all"), body_bool(body, "resultEnabled")
    with unit_of_work() as session:
        matched = cases.correlate_message(session, message_name=name, business_key=body_str(body, "businessKey"),
                                          correlation_keys=correlation_keys, variables=variables,
                                          correlate_all=correlate_all, actor=actor())
        if not result_enabled:
            return "", 204
        return jsonify([_correlation_json(c) for c in matched])


def _correlation_json(correlation: cases.Correlation) -> dict[str, object]:
    """Camunda's MessageCorrelationResult: a started case, or the execution of a waiting one."""
    instance = correlation.instance
    if correlation.started:
        return {"resultType": "ProcessDefinition", "processInstance": instance_json(instance), "execution": None}
    return {"resultType": "Execution", "processInstance": None, "execution": {
        "id": instance.id, "processInstanceId": instance.id,
        "ended": instance.state in ("COMPLETED", "TERMINATED"), "tenantId": None}}


@blueprint.get("/incident")
def list_incidents() -> Response:
    """查询故障（需人工处理的问题）"""
    with unit_of_work() as session:
        items = queries.list_incidents(session, instance_id=request.args.get("processInstanceId"))
        return jsonify(masked([incident_json(i) for i in items]))  # a department's message may quote the data


@blueprint.get("/history/process-instance")
def history_process_instances() -> Response:
    """查询历史办件（含已结束的）"""
    with unit_of_work() as session:
        f = _instance_filter(active_only=query_bool("unfinished"), finished_only=query_bool("finished"))
        first, max_results = query_page(default=100, minimum=0)
        items = queries.list_instances(session, f, first=first, max_results=max_results)
        return jsonify([history_instance_json(i) for i in items])


@blueprint.get("/history/process-instance/<instance_id>")
def history_process_instance(instance_id: str) -> Response:
    """获取一个历史办件"""
    with unit_of_work() as session:
        return jsonify(history_instance_json(queries.get_instance(session, instance_id)))


@blueprint.get("/history/activity-instance")
def history_activity_instances() -> Response:
    """查询办件经过的环节（历史活动实例）"""
    first, max_results = query_page(default=1000, minimum=0)
    with unit_of_work() as session:
        items = queries.list_activities(session, instance_id=request.args.get("processInstanceId"),
                                        activity_id=request.args.get("activityId"),
                                        first=first, max_results=max_results)
        return jsonify([activity_json(a) for a in items])


@blueprint.get("/engine")
def engines() -> Response:
    """列出引擎"""
    return jsonify([{"name": "default"}])


@blueprint.get("/version")
def version() -> Response:
    """引擎版本"""
    return jsonify({"version": "7.20.0-lianban"})
