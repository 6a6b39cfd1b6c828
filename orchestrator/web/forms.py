"""/api/tasks/{id}/form, /draft and /submit: a reviewer fills a task's form-js form and submits it.

A refused submission is 400 `form.validation_failed` with `errors: [{field, label, message}]`, each
message in Chinese, and nothing of the case changes.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from orchestrator.auth import permission, require_user
from orchestrator.auth.policy import READERS, STAFF
from orchestrator.auth.roles import APPLICANT
from orchestrator.services import forms
from orchestrator.services.joint_inspection import report as joint_inspection_report
from orchestrator.web import access
from orchestrator.web.apidoc import PROBLEM_CONTENT, doc
from orchestrator.web.request_args import actor, json_body
from orchestrator.web.session import unit_of_work

blueprint = Blueprint("forms", __name__, url_prefix="/api")

_PROBLEM = PROBLEM_CONTENT
_OBJECT = {"application/json": {"schema": {"type": "object"}}}
_NOT_FOUND = {"description": "任务不存在，或任务没有联办表单（form.none）", "content": _PROBLEM}
_NOT_OPEN = {"description": "任务已办结或已取消（task.not_open）", "content": _PROBLEM}
_VALUES_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["values"],
    "properties": {"values": {"type": "object", "description": "表单字段 key → 值（form-js 提交的数据）"}}}}}}


@blueprint.get("/cases/<instance_id>/joint-inspection")
@doc(parameters=[access.UNMASK_PARAM], responses={
    "200": {"description": "联合评审 / 勘验 / 验收的汇总报告：场所数据、每轮各部门的意见、签署人与时间、结论",
            "content": _OBJECT},
    "404": {"description": "办件不存在，或其流程没有联合环节（joint.none）", "content": _PROBLEM}})
@permission(roles=[APPLICANT, *READERS], scope="case")
def joint_inspection(instance_id: str) -> Response:
    """联合勘验（验收）汇总报告"""
    with unit_of_work() as session:
        report = joint_inspection_report(session, instance_id)
        return jsonify(access.case_data_for_viewer(session, instance_id, report, "joint inspection report"))


@blueprint.get("/tasks/<task_id>/form")
@doc(parameters=[access.UNMASK_PARAM], responses={
    "200": {"description": "表单（form-js schema）、填写所需的办件数据、已存草稿、当前隐藏的字段", "content": _OBJECT},
    "404": _NOT_FOUND, "409": _NOT_OPEN})
@permission(roles=READERS, scope="task")
def get_form(task_id: str) -> Response:
    """获取任务表单及填写所需的办件数据（含草稿）"""
    with unit_of_work() as session:
        access.require_task_access(session, forms.open_task(session, task_id), act=False)
        result = forms.task_form(session, task_id)
        result["data"] = access.case_data_for_viewer(session, result["instance_id"], result["data"], "task form")
        return jsonify(result)


@blueprint.put("/tasks/<task_id>/draft")
@doc(requestBody=_VALUES_BODY, responses={
    "200": {"description": "已保存的草稿；problems 列出现在提交会被拒绝的字段（草稿不强制校验）", "content": _OBJECT},
    "400": {"description": "草稿含表单之外的字段（form.draft_invalid）或过大", "content": _PROBLEM},
    "404": _NOT_FOUND, "409": _NOT_OPEN})
@permission(roles=STAFF, scope="task")
def put_draft(task_id: str) -> Response:
    """保存表单草稿"""
    body = json_body(required=True)
    who = actor()
    with unit_of_work() as session:
        access.require_task_access(session, forms.open_task(session, task_id), act=True)
        return jsonify(forms.save_draft(session, task_id, body.get("values"), who))


@blueprint.get("/tasks/<task_id>/draft")
@doc(responses={
    "200": {"description": "已保存的草稿", "content": _OBJECT},
    "404": {"description": "任务不存在、没有联办表单或还没有草稿（form.no_draft）", "content": _PROBLEM},
    "409": _NOT_OPEN})
@permission(roles=STAFF, scope="task")
def get_draft(task_id: str) -> Response:
    """读取表单草稿"""
    with unit_of_work() as session:
        access.require_task_access(session, forms.open_task(session, task_id), act=False)
        return jsonify(forms.get_draft(session, task_id))


@blueprint.post("/tasks/<task_id>/submit")
@doc(requestBody=_VALUES_BODY, responses={
    "200": {"description": "已办结；返回办件的状态", "content": _OBJECT},
    "400": {"description": "表单校验未通过（form.validation_failed），errors 逐项列出字段、标签与中文说明；办件不变",
            "content": _PROBLEM},
    "404": _NOT_FOUND, "409": _NOT_OPEN})
@permission(roles=STAFF, scope="task")
def submit(task_id: str) -> Response:
    """提交表单并办结任务（服务端按表单校验）"""
    body = json_body(required=True)
    who, principal = actor(), require_user()
    with unit_of_work() as session:
        # Only the assignee completes; an unclaimed task is claimed for a candidate (task_claims).
        instance = forms.submit(session, task_id, body.get("values"), who, as_user=principal)
        return jsonify({"task_id": task_id, "instance_id": instance.id, "instance_state": instance.state})
