"""/api/supervision/… (督办 board), supervisor actions on cases and tasks, /api/notifications, and the
test-only clock hook /api/test/clock.

Dates in queries: `YYYY-MM-DD` means 00:00 Asia/Shanghai of that day; `to` bounds are exclusive.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from orchestrator import timesource
from orchestrator.auth import current_user
from orchestrator.auth.roles import DEPARTMENT_HEAD
from orchestrator.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from orchestrator.services import notifications, supervision, supervision_reports
from orchestrator.web.access import UNMASK_PARAM, case_data_for_viewer, masked, own_departments
from orchestrator.web.apidoc import MOMENT, PAGE, REASON, doc, json_request, query_param, text
from orchestrator.web.request_args import actor, body_str, json_integer, query_bool, query_local_moment, query_page
from orchestrator.web.request_args import json_body as read_json
from orchestrator.web.session import unit_of_work

blueprint = Blueprint("supervision", __name__, url_prefix="/api")


def ok(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}


def problem(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def json_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return json_request(schema, required)

_BAD = {"400": problem("请求参数错误（field 指明字段）")}
_NOT_FOUND = {"404": problem("办件、任务或督办事项不存在")}
_CONFLICT = {"409": problem("状态不允许该操作")}
_PAGE = PAGE
_FILTERS = [query_param("department", "部门（环节的候选组 / 一件事的牵头部门）", {"type": "string"}),
            query_param("bundle", "一件事（流程定义 key）", {"type": "string"}),
            query_param("from", "期限不早于（YYYY-MM-DD 北京时间，或 ISO 8601）", MOMENT),
            query_param("to", "期限早于（不含）", MOMENT), *_PAGE]
_PERIOD = [query_param("from", "办结不早于（YYYY-MM-DD 北京时间，或 ISO 8601）", MOMENT),
           query_param("to", "办结早于（不含）", MOMENT)]
# Comma-separated kind:name addresses (notifications.check_recipient); empty means the caller's own.
_ADDRESS = r"(?:user|group|role|head):[^,\s\u0000](?:[^,\u0000]{0,150}[^,\s\u0000])?"
_RECIPIENTS = {"type": "string", "pattern": rf"^[\s,]*(?:{_ADDRESS}(?:\s*,[\s,]*{_ADDRESS})*)?[\s,]*$"}
_KIND = query_param("kind", "statutory（法定，默认）或 committed（承诺）", {"type": "string",
                                                                      "enum": ["statutory", "committed"]})


def _kind() -> str:
    kind = request.args.get("kind") or "statutory"
    if kind not in ("statutory", "committed"):
        raise InvalidRequestError("kind 应为 statutory 或 committed", "kind must be statutory or committed",
                                  field="kind")
    return kind


def _limit_list(status: str) -> Response:
    first, max_results = query_page()
    with unit_of_work() as session:
        return jsonify(supervision_reports.limit_list(
            session, status, department=request.args.get("department") or None,
            bundle=request.args.get("bundle") or None, due_from=query_local_moment("from"),
            due_to=query_local_moment("to"), first=first, max_results=max_results, departments=own_departments()))


@blueprint.get("/supervision/warnings")
@doc(parameters=_FILTERS, responses={"200": ok("预警（黄牌）的办件与环节，按期限先后"), **_BAD})
def warnings() -> Response:
    """预警列表：即将超期的办件与环节"""
    return _limit_list("WARNING")


@blueprint.get("/supervision/overdue")
@doc(parameters=_FILTERS, responses={"200": ok("超期（红牌）的办件与环节，按期限先后"), **_BAD})
def overdue() -> Response:
    """超期列表：已超期的办件与环节"""
    return _limit_list("OVERDUE")


@blueprint.get("/supervision/on-time-rate")
@doc(parameters=[*_PERIOD, _KIND], responses={"200": ok("按一件事与部门统计的按时办结率（办件与环节）"), **_BAD})
def on_time_rate() -> Response:
    """按时办结率：按一件事、按部门"""
    kind = _kind()
    with unit_of_work() as session:
        return jsonify(supervision_reports.on_time_rate(session, query_local_moment("from"), query_local_moment("to"),
                                                        kind, own_departments()))


@blueprint.get("/supervision/handling-times")
@doc(parameters=[query_param("bundle", "一件事（流程定义 key）", {"type": "string"}),
                 query_param("from", "受理日期不早于（YYYY-MM-DD）", MOMENT),
                 query_param("to", "受理日期早于（不含）", MOMENT), _KIND, *_PAGE],
     responses={"200": ok("每个办件已用工作日（扣除暂停）与时限（含延期）对比"), **_BAD})
def handling_times() -> Response:
    """办理用时与时限对比"""
    first, max_results = query_page()
    kind = _kind()
    start, end = query_local_moment("from"), query_local_moment("to")
    with unit_of_work() as session:
        return jsonify(supervision_reports.handling_times(
            session, request.args.get("bundle") or None, start.date() if start else None,
            end.date() if end else None, kind, first, max_results, own_departments()))


@blueprint.get("/supervision/step-times")
@doc(parameters=[query_param("bundle", "一件事（流程定义 key）", {"type": "string"}), *_PERIOD],
     responses={"200": ok("各环节办理用时（平均、最长）与环节时限、按时率"), **_BAD})
def step_times() -> Response:
    """各环节办理用时"""
    with unit_of_work() as session:
        return jsonify(supervision_reports.step_times(session, request.args.get("bundle") or None,
                                                      query_local_moment("from"), query_local_moment("to"),
                                                      own_departments()))


@blueprint.get("/supervision/items")
@doc(parameters=[query_param("status", "OPEN（未办结）或 CLOSED", {"type": "string", "enum": ["OPEN", "CLOSED"]}),
                 query_param("department", "部门", {"type": "string"}),
                 query_param("bundle", "一件事（流程定义 key）", {"type": "string"}), *_PAGE],
     responses={"200": ok("督办事项，按督办期限先后"), **_BAD})
def items() -> Response:
    """督办事项列表"""
    status = request.args.get("status") or None
    if status is not None and status not in (supervision.OPEN, supervision.CLOSED):
        raise InvalidRequestError("status 应为 OPEN 或 CLOSED", "status must be OPEN or CLOSED", field="status")
    first, max_results = query_page()
    with unit_of_work() as session:
        return jsonify(supervision_reports.items(session, status, request.args.get("department") or None,
                                                 request.args.get("bundle") or None, first, max_results,
                                                 own_departments()))


_REASON_BODY = json_body({"type": "object", "required": ["reason"], "properties": {"reason": REASON}})


@blueprint.post("/supervision/items/<int:item_id>/close")
@doc(requestBody=_REASON_BODY, responses={"200": ok("已办结的督办事项"), **_BAD, **_NOT_FOUND, **_CONFLICT})
def close_item(item_id: int) -> Response:
    """办结督办事项（写明办结情况）"""
    body = read_json(required=True)
    reason = body_str(body, "reason", 2000)
    who = actor()
    with unit_of_work() as session:
        return jsonify(supervision.close_item(session, item_id, reason, who))


_REMIND_BODY = json_body({"type": "object", "properties": {
    "text": {**text(2000, "催办内容（默认：请尽快办理）"), "type": ["string", "null"]},
    "task_id": {**text(36, "只催办这一环节（默认：办件所有待办环节）"), "type": ["string", "null"]}}}, required=False)


@blueprint.post("/cases/<instance_id>/remind")
@doc(requestBody=_REMIND_BODY, responses={"200": ok("催办记录（通知了谁）"), **_BAD, **_NOT_FOUND, **_CONFLICT})
def remind(instance_id: str) -> Response:
    """催办：提醒待办环节的经办人"""
    body = read_json()
    text = body_str(body, "text", 2000)
    task_id = body_str(body, "task_id", 36)
    who = actor()
    with unit_of_work() as session:
        return jsonify(supervision.remind(session, instance_id, text, who, task_id=task_id))


_NOTE_BODY = json_body({"type": "object", "required": ["text"], "properties": {
    "text": text(4000, "批注", blank=False), "item_id": {"type": ["integer", "null"], "description": "督办事项"}}})


@blueprint.post("/cases/<instance_id>/notes")
@doc(requestBody=_NOTE_BODY, responses={"200": ok("督办批注"), **_BAD, **_NOT_FOUND})
def add_note(instance_id: str) -> Response:
    """督办批注"""
    body = read_json(required=True)
    text = body_str(body, "text", 4000)
    item_id = json_integer(body.get("item_id"))
    if body.get("item_id") is not None and item_id is None:
        raise InvalidRequestError("item_id 应为整数", "item_id must be an integer", field="item_id")
    who = actor()
    with unit_of_work() as session:
        return jsonify(supervision.add_note(session, instance_id, text, who, item_id=item_id))


@blueprint.get("/cases/<instance_id>/notes")
@doc(parameters=[UNMASK_PARAM], responses={"200": ok("办件的督办记录（催办、批注、改派）"), **_NOT_FOUND})
def list_notes(instance_id: str) -> Response:
    """办件的督办记录"""
    with unit_of_work() as session:
        notes = supervision.notes(session, instance_id)
        return jsonify(case_data_for_viewer(session, instance_id, notes, "case notes"))


_REASSIGN_BODY = json_body({"type": "object", "required": ["assignee", "reason"], "properties": {
    "assignee": text(128, "新的经办人用户名", blank=False), "reason": REASON}})


@blueprint.post("/tasks/<task_id>/reassign")
@doc(requestBody=_REASSIGN_BODY, responses={"200": ok("改派记录"), **_BAD, **_NOT_FOUND, **_CONFLICT})
def reassign(task_id: str) -> Response:
    """改派环节（部门负责人或督办人员）"""
    body = read_json(required=True)
    assignee = body_str(body, "assignee", 128)
    reason = body_str(body, "reason", 2000)
    who = actor()
    with unit_of_work() as session:
        return jsonify(supervision.reassign(session, task_id, assignee, reason, who))


def _recipients() -> list[str]:
    """The caller's own addresses (user, roles, groups, headed departments); an administrator may name others."""
    principal = current_user()
    own: list[str] = []
    if principal is not None:
        own = [f"user:{principal.username}", *(f"role:{r}" for r in sorted(principal.roles)),
               *(f"group:{g}" for g in sorted(principal.act_groups))]
        if DEPARTMENT_HEAD in principal.roles:
            own += [f"head:{d}" for d in principal.departments]
    raw = request.args.get("recipient") or ""
    asked = [notifications.check_recipient(part.strip()) for part in raw.split(",") if part.strip()]
    if not asked:
        return own
    if principal is None or not (principal.is_admin or set(asked) <= set(own)):
        raise PermissionDeniedError("只能查看发给自己的通知", "You may read only your own notifications")
    return asked


@blueprint.get("/notifications")
@doc(parameters=[query_param("recipient", "接收方，逗号分隔：user:名称、group:组、role:角色、head:部门"
                             "（默认本人的全部地址；管理员可查看任意接收方）", _RECIPIENTS),
                 query_param("unread", "只看未读", {"type": "boolean"}), *_PAGE],
     responses={"200": ok("站内通知，新的在前；unread 为未读数"), **_BAD})
def list_notifications() -> Response:
    """站内通知"""
    recipients = _recipients()
    first, max_results = query_page()
    with unit_of_work() as session:
        return jsonify(masked(notifications.list_for(session, recipients, query_bool("unread"), first, max_results)))


@blueprint.post("/notifications/<int:notification_id>/read")
@doc(parameters=[query_param("recipient", "接收方（同上）", _RECIPIENTS)],
     responses={"200": ok("已读的通知"), **_BAD, "404": problem("通知不存在")})
def read_notification(notification_id: int) -> Response:
    """标记通知已读"""
    recipients = _recipients()
    with unit_of_work() as session:
        return jsonify(notifications.mark_read(session, notification_id, recipients))


def _test_hooks_enabled() -> bool:
    return bool(current_app.config.get("TESTING")) or bool(current_app.config.get("TEST_HOOKS"))


_CLOCK_BODY = json_body({"type": "object", "properties": {
    "now": {"type": ["string", "null"], "format": "date-time", "maxLength": 64,
            "description": "冻结在该时刻（ISO 8601）"},
    "advance_s": {"type": ["number", "null"], "minimum": 0, "description": "向前拨动的秒数"}}}, required=False)


@blueprint.route("/test/clock", methods=["GET", "PUT", "DELETE"])
@doc(requestBody=_CLOCK_BODY, responses={"200": ok("当前的受控时钟"), **_BAD,
                                         "404": problem("未开启测试钩子（LIANBAN_TEST_HOOKS=1）")})
def test_clock() -> Response:
    """测试用受控时钟（仅测试环境）"""
    if not _test_hooks_enabled():
        raise NotFoundError("未开启测试钩子", "Test hooks are disabled (LIANBAN_TEST_HOOKS=1)", code="not_found")
    if request.method == "DELETE":
        timesource.reset()
    elif request.method == "PUT":
        body: dict[str, Any] = read_json(required=True)
        if "now" in body:
            raw = body_str(body, "now", 64) or ""
            try:
                timesource.set_now(datetime.fromisoformat(raw.replace("Z", "+00:00")))
            except ValueError:
                raise InvalidRequestError("now 应为 ISO 8601 时间", "now must be an ISO 8601 date-time",
                                          field="now") from None
        advance = body.get("advance_s")
        if advance is not None:
            if not isinstance(advance, (int, float)) or isinstance(advance, bool) or advance < 0:
                raise InvalidRequestError("advance_s 应为非负数", "advance_s must be a number ≥ 0", field="advance_s")
            timesource.advance(timedelta(seconds=advance))
    return jsonify(timesource.describe())
