"""Operations: job lists, one job's history, incident retry, 二次录入 task details, and /metrics for Prometheus."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST

from orchestrator.services import manual_entry, operations
from orchestrator.web.access import UNMASK_PARAM, case_data_for_viewer, masked
from orchestrator.web.apidoc import PAGE, comma_separated
from orchestrator.web.apidoc import doc as _doc
from orchestrator.web.apidoc import query_param as _query
from orchestrator.web.request_args import actor, query_page
from orchestrator.web.session import unit_of_work

blueprint = Blueprint("operations", __name__)

_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_OBJECT = {"application/json": {"schema": {"type": "object"}}}


@blueprint.get("/api/jobs")
@_doc(parameters=[
    _query("state", "作业状态", comma_separated(operations.JOB_STATES, "可逗号分隔", any_case=True)),
    _query("topic", "主题（camunda:topic）", {"type": "string"}),
    _query("caseId", "办件 id", {"type": "string"}),
    *PAGE,
], responses={"200": {"description": "作业列表（新的在前）与总数", "content": _OBJECT},
              "400": {"description": "参数错误（field 指明字段）", "content": _PROBLEM}})
def list_jobs() -> Response:
    """作业列表：状态、尝试次数、最近错误（连接器、外部任务、二次录入）"""
    job_filter = operations.JobFilter(states=operations.parse_states(request.args.get("state")),
                                      topic=request.args.get("topic") or None,
                                      instance_id=request.args.get("caseId") or None)
    first, max_results = query_page()
    with unit_of_work() as session:
        return jsonify(masked(operations.list_jobs(session, job_filter, first, max_results)))


@blueprint.get("/api/jobs/<job_id>")
@_doc(responses={"200": {"description": "作业详情：尝试次数、最近错误、故障与历史", "content": _OBJECT}})
def get_job(job_id: str) -> Response:
    """作业详情：尝试次数、最近错误、故障记录与历史事件"""
    with unit_of_work() as session:
        return jsonify(masked(operations.get_job(session, job_id)))


@blueprint.post("/api/incidents/<incident_id>/retry")
@_doc(responses={"200": {"description": "故障已解除，作业或定时器重新执行", "content": _OBJECT},
                 "409": {"description": "故障已处理，或其作业 / 定时器已结束", "content": _PROBLEM}})
def retry_incident(incident_id: str) -> Response:
    """重试故障：恢复重试次数并立即重新执行作业（或重新触发定时器）"""
    who = actor()
    with unit_of_work() as session:
        return jsonify(operations.retry_incident(session, incident_id, who))


@blueprint.get("/api/manual-entries/<task_id>")
@_doc(parameters=[UNMASK_PARAM],
      responses={"200": {"description": "二次录入任务：录入系统、操作说明、需复制的办件信息、需记录的结果字段与表单",
                         "content": _OBJECT}})
def get_manual_entry(task_id: str) -> Response:
    """二次录入任务详情：在哪个系统录入什么、需记录哪些结果（办理用 /engine-rest/task/{id}/complete）"""
    with unit_of_work() as session:
        entry = manual_entry.describe(session, task_id)
        return jsonify(case_data_for_viewer(session, entry["case_id"], entry, "manual entry"))


@blueprint.get("/metrics")
def metrics() -> Response:
    """Prometheus text format: queue depth, job latency, open incidents, timers due, locked external tasks."""
    with unit_of_work() as session:
        body = operations.render_metrics(session)
    return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0], content_type=CONTENT_TYPE_LATEST)
