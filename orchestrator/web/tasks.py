"""/api/tasks: the reviewer's task list (mine, unclaimed, all in my scope) and claim / unclaim / delegate /
resolve / set assignee as JSON (the same services as /engine-rest/task/{id}/claim …).

Times in the answer are Asia/Shanghai (`due`), with the stored UTC value next to it (`due_utc`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from orchestrator.auth import Principal, permission, require_user
from orchestrator.auth.policy import READERS, STAFF
from orchestrator.auth.roles import DEPARTMENT_HEAD
from orchestrator.errors import InvalidRequestError, NotFoundError
from orchestrator.models import HumanTask
from orchestrator.services import task_claims, task_list
from orchestrator.services.task_list import MAX_PAGE_SIZE, VIEWS, WARNING_STATES, TaskListQuery
from orchestrator.web.apidoc import MOMENT, PROBLEM_CONTENT, USER_ID, comma_separated, doc, query_param, text
from orchestrator.web.request_args import body_str, json_body, query_int, query_local_moment, user_id_field
from orchestrator.web.session import unit_of_work
from orchestrator.workcalendar import shanghai_iso

blueprint = Blueprint("tasks", __name__, url_prefix="/api")

_OBJECT = {"application/json": {"schema": {"type": "object"}}}
_TEXT = {"type": "string", "maxLength": 255}
_STATES = comma_separated(WARNING_STATES, "可逗号分隔")
_LIST_PARAMETERS = [
    query_param("view", "mine：我的待办（默认）；unclaimed：本部门待领取；all：我权限范围内的全部在办任务",
                {"type": "string", "enum": list(VIEWS)}),
    query_param("bundle", "一件事（流程定义 key）", _TEXT),
    query_param("warning_state", "环节时限状态，可逗号分隔：NORMAL 正常、WARNING 预警、OVERDUE 超期", _STATES),
    query_param("due_before", "期限早于（YYYY-MM-DD 北京时间，或 ISO 8601）", MOMENT),
    query_param("due_after", "期限晚于（YYYY-MM-DD 北京时间，或 ISO 8601）", MOMENT),
    query_param("case_number", "办件编号（业务键）", _TEXT),
    query_param("applicant", "申请人姓名", _TEXT),
    query_param("page", "页码，从 1 开始（与 per_page 一起使用）", {"type": "integer", "minimum": 1}),
    query_param("per_page", f"每页条数（默认 50，最多 {MAX_PAGE_SIZE}）",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}),
    query_param("firstResult", "分页起点（Camunda 风格，代替 page）", {"type": "integer", "minimum": 0}),
    query_param("maxResults", f"每页条数（Camunda 风格，最多 {MAX_PAGE_SIZE}）",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}),
]
_TASK_RESPONSES = {
    "200": {"description": "操作后的任务", "content": _OBJECT},
    "403": {"description": "无权操作该任务", "content": PROBLEM_CONTENT},
    "404": {"description": "任务不存在", "content": PROBLEM_CONTENT},
    "409": {"description": "任务已被他人认领（task.already_claimed）或已办结（task.not_open）",
            "content": PROBLEM_CONTENT}}
_USER_ID = USER_ID
_REASON = {**text(2000, "理由（委派）或答复（完成委派），记入审计"), "type": ["string", "null"]}
_USER_BODY = {"content": {"application/json": {"schema": {"type": "object", "properties": {"userId": _USER_ID}}}}}
_DELEGATE_BODY = {"content": {"application/json": {"schema": {
    "type": "object", "properties": {"userId": _USER_ID, "reason": _REASON}}}}}
_REASON_BODY = {"content": {"application/json": {"schema": {"type": "object", "properties": {"reason": _REASON}}}}}


def task_item_json(task: HumanTask) -> dict[str, Any]:
    return {"id": task.id, "name": task.name, "activity_id": task.activity_id, "instance_id": task.instance_id,
            "case_number": task.business_key, "bundle": task.definition_key, "applicant": task.applicant,
            "assignee": task.assignee, "owner": task.owner, "delegation_state": task.delegation_state,
            "candidate_groups": task.candidate_groups or [], "candidate_users": task.candidate_users or [],
            "department": task.department, "due": shanghai_iso(task.due),
            "due_utc": task.due.isoformat() if task.due else None, "warning_state": task.limit_state,
            "limit_days": task.limit_days, "created_at": shanghai_iso(task.created_at),
            "priority": task.priority, "form_key": task.form_key, "suspended": task.suspended}


def _page() -> tuple[int, int]:
    """(first, size) from `page`/`per_page` or `firstResult`/`maxResults`, each checked."""
    if "firstResult" in request.args or "maxResults" in request.args:
        first, size, size_name = query_int("firstResult", 0), query_int("maxResults", 50), "maxResults"
        if first < 0:
            raise InvalidRequestError("firstResult 不能为负数", "firstResult must be ≥ 0", field="firstResult")
    else:
        page, size, size_name = query_int("page", 1), query_int("per_page", 50), "per_page"
        if page < 1:
            raise InvalidRequestError("page 从 1 开始", "page must be ≥ 1", field="page")
        first = (page - 1) * size
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidRequestError(f"{size_name} 应在 1 到 {MAX_PAGE_SIZE} 之间",
                                  f"{size_name} must be 1..{MAX_PAGE_SIZE}", field=size_name)
    return first, size


def _choice(name: str, allowed: tuple[str, ...], label: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in request.args.get(name, "").split(",") if v.strip())
    wrong = [v for v in values if v not in allowed]
    if wrong:
        raise InvalidRequestError(f"{label}无效：{wrong[0]}（可选 {'、'.join(allowed)}）",
                                  f"{name} must be one of {', '.join(allowed)}", field=name)
    return values


def _text(name: str) -> str | None:
    value = request.args.get(name, "").strip()
    if len(value) > 255:
        raise InvalidRequestError(f"{name} 过长（最多 255 个字符）", f"{name} is longer than 255 characters",
                                  field=name)
    return value or None


def _list_query() -> TaskListQuery:
    views = _choice("view", VIEWS, "视图") or ("mine",)
    if len(views) > 1:
        raise InvalidRequestError("view 只能取一个值", "view takes one value", field="view")
    first, size = _page()
    return TaskListQuery(view=views[0], bundle=_text("bundle"),
                         warning_states=_choice("warning_state", WARNING_STATES, "时限状态"),
                         due_before=query_local_moment("due_before"), due_after=query_local_moment("due_after"),
                         case_number=_text("case_number"), applicant=_text("applicant"), first=first, size=size)


@blueprint.get("/tasks")
@doc(parameters=_LIST_PARAMETERS, responses={
    "200": {"description": "一页任务（期限升序，无期限的在后）及总数 total", "content": _OBJECT},
    "400": {"description": "参数错误（field 指明参数）", "content": PROBLEM_CONTENT}})
@permission(roles=READERS)
def list_tasks() -> Response:
    """待办任务列表：我的待办、本部门待领取、权限范围内全部"""
    query = _list_query()
    with unit_of_work() as session:
        page = task_list.list_tasks(session, require_user(), query)
        return jsonify({"view": query.view, "items": [task_item_json(t) for t in page.items], "total": page.total,
                        "first": query.first, "per_page": query.size, "page": query.first // query.size + 1})


def _user_id() -> str | None:
    return user_id_field(json_body())


def _change(task_id: str, change: Callable[[Session, Principal], object]) -> Response:
    """Run one change of task_claims and answer the task as it left it (read again: it was a bulk UPDATE)."""
    with unit_of_work() as session:
        change(session, require_user())
        task = session.get(HumanTask, task_id, populate_existing=True)
        if task is None:
            raise NotFoundError(f"任务不存在：{task_id}", f"No task with id {task_id}", field="id")
        return jsonify(task_item_json(task))


@blueprint.post("/tasks/<task_id>/claim")
@doc(requestBody=_USER_BODY, responses=_TASK_RESPONSES)
@permission(roles=STAFF, scope="task")
def claim_task(task_id: str) -> Response:
    """认领任务（并发时只有一人成功，其余得到 409）"""
    user_id = _user_id()
    return _change(task_id, lambda session, me: task_claims.claim_task(session, task_id, me, user_id))


@blueprint.post("/tasks/<task_id>/unclaim")
@doc(responses=_TASK_RESPONSES)
@permission(roles=STAFF, scope="task")
def unclaim_task(task_id: str) -> Response:
    """退回认领（办理人或部门负责人）"""
    return _change(task_id, lambda session, me: task_claims.unclaim_task(session, task_id, me))


@blueprint.post("/tasks/<task_id>/delegate")
@doc(requestBody=_DELEGATE_BODY, responses=_TASK_RESPONSES)
@permission(roles=STAFF, scope="task")
def delegate_task(task_id: str) -> Response:
    """委派任务征求意见（办理人）；被委派人 resolve 后交回"""
    body = json_body()
    user_id, reason = user_id_field(body), body_str(body, "reason", 2000)
    return _change(task_id, lambda session, me: task_claims.delegate_task(session, task_id, me, user_id, reason))


@blueprint.post("/tasks/<task_id>/resolve")
@doc(requestBody=_REASON_BODY, responses=_TASK_RESPONSES)
@permission(roles=STAFF, scope="task")
def resolve_task(task_id: str) -> Response:
    """完成委派，把任务交回委派人"""
    reason = body_str(json_body(), "reason", 2000)
    return _change(task_id, lambda session, me: task_claims.resolve_task(session, task_id, me, reason))


@blueprint.post("/tasks/<task_id>/assignee")
@doc(requestBody=_USER_BODY, responses=_TASK_RESPONSES)
@permission(roles=[DEPARTMENT_HEAD], scope="task")
def set_assignee(task_id: str) -> Response:
    """指定办理人（部门负责人）；userId 为 null 时取消指定"""
    user_id = _user_id()
    return _change(task_id, lambda session, me: task_claims.set_assignee(session, task_id, me, user_id))
