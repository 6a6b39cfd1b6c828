"""/api/cases/{id}/clock and /api/supervision/clocks: the statutory clock of a case and the 督办 lists.

Times are given twice: Asia/Shanghai ISO strings (`deadline`) and UTC (`deadline_utc`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from orchestrator.errors import InvalidRequestError
from orchestrator.services import clock
from orchestrator.web.access import own_departments
from orchestrator.web.apidoc import MOMENT, PAGE, text
from orchestrator.web.apidoc import doc as _doc
from orchestrator.web.apidoc import query_param as _query
from orchestrator.web.request_args import actor, body_str, json_body, json_integer, query_local_moment, query_page
from orchestrator.web.session import unit_of_work

blueprint = Blueprint("clock", __name__, url_prefix="/api")

_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_OK = {"description": "成功：办件的时限（含暂停与延期记录）",
       "content": {"application/json": {"schema": {"type": "object"}}}}
_ERRORS = {
    "400": {"description": "请求参数错误（field 指明字段）", "content": _PROBLEM},
    "404": {"description": "办件不存在或没有时限", "content": _PROBLEM},
    "409": {"description": "时限状态不允许该操作（已暂停 / 未暂停 / 已结束）", "content": _PROBLEM},
    "422": {"description": "期限所在年份没有日历数据（calendar.no_data）", "content": _PROBLEM},
}


# WARNING and / or OVERDUE (the server also takes other letter cases), separated by commas; empty means both.
_STATUS = "(?:WARNING|OVERDUE|warning|overdue)"
_STATUSES = rf"^$|^[\s,]*{_STATUS}(?:\s*,[\s,]*{_STATUS})*[\s,]*$"


def _required_str(body: dict[str, Any], name: str, max_len: int) -> str:
    value = body_str(body, name, max_len)
    if value is None or not value.strip():
        raise InvalidRequestError(f"{name} 不能为空", f"{name} is required", field=name)
    return value.strip()


@blueprint.get("/cases/<instance_id>/clock")
@_doc(responses={"200": _OK, "404": _ERRORS["404"]})
def get_clock(instance_id: str) -> Response:
    """办件的法定 / 承诺时限：期限、状态、暂停与延期记录"""
    with unit_of_work() as session:
        return jsonify(clock.describe(session, instance_id))


_PAUSE_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["kind"],
    "properties": {"kind": {"type": "string", "enum": list(clock.PAUSE_REASONS),
                            "description": "特别程序：听证、检验检测、现场勘验、专家评审、补正材料、其他"},
                   "note": {**text(2000), "type": ["string", "null"]}}}}}}


@blueprint.post("/cases/<instance_id>/clock/pause")
@_doc(requestBody=_PAUSE_BODY, responses={"200": _OK, **_ERRORS})
def pause_clock(instance_id: str) -> Response:
    """暂停计时（特别程序或补正，《行政许可法》第四十五条）"""
    body = json_body(required=True)
    kind = _required_str(body, "kind", 32)
    note = body_str(body, "note", 2000)
    who = actor()
    with unit_of_work() as session:
        return jsonify(clock.pause(session, instance_id, kind, note, who))


@blueprint.post("/cases/<instance_id>/clock/resume")
@_doc(responses={"200": _OK, **_ERRORS})
def resume_clock(instance_id: str) -> Response:
    """恢复计时：暂停的工作日数顺延期限"""
    who = actor()
    with unit_of_work() as session:
        return jsonify(clock.resume(session, instance_id, who))


_EXTEND_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["days", "approved_by", "reason"],
    "properties": {"days": {"type": "integer", "minimum": 1, "maximum": clock.MAX_COMMITTED_EXTENSION_DAYS,
                            "description": "延长的工作日数（法定时限合计不超过 15）"},
                   "approved_by": text(128, "批准人", blank=False),
                   "reason": text(2000, "延期理由", blank=False),
                   "kind": {"enum": [clock.STATUTORY, clock.COMMITTED, "", None],
                            "default": clock.STATUTORY, "description": "省略或空即 statutory（法定）"}}}}}}


@blueprint.post("/cases/<instance_id>/clock/extend")
@_doc(requestBody=_EXTEND_BODY, responses={"200": _OK, **_ERRORS})
def extend_clock(instance_id: str) -> Response:
    """延期：延长的工作日数、批准人与理由"""
    body = json_body(required=True)
    days = json_integer(body.get("days"))
    if days is None or not 1 <= days <= clock.MAX_COMMITTED_EXTENSION_DAYS:
        raise InvalidRequestError("days 必须是正整数（工作日数）", "days must be a positive integer", field="days")
    approved_by = _required_str(body, "approved_by", 128)
    reason = _required_str(body, "reason", 2000)
    kind = body_str(body, "kind", 16) or clock.STATUTORY
    who = actor()
    with unit_of_work() as session:
        return jsonify(clock.extend(session, instance_id, days, approved_by, reason, who, kind=kind))


@blueprint.get("/supervision/clocks")
@_doc(parameters=[
    _query("status", "WARNING（预警）或 OVERDUE（超期），可逗号分隔；默认两者",
           {"type": "string", "pattern": _STATUSES}),
    _query("bundle", "一件事（流程定义 key）", {"type": "string"}),
    _query("kind", "statutory（法定）或 committed（承诺）", {"type": "string", "enum": ["statutory", "committed"]}),
    _query("due_before", "期限早于（YYYY-MM-DD 北京时间当日零时，或 ISO 8601 时间）", MOMENT), *PAGE,
], responses={"200": {"description": "预警 / 超期办件列表，按期限先后",
                      "content": {"application/json": {"schema": {"type": "object"}}}},
              "400": _ERRORS["400"]})
def supervision_clocks() -> Response:
    """预警与超期办件列表（督办）"""
    raw_status = request.args.get("status") or "WARNING,OVERDUE"
    statuses = [part.strip().upper() for part in raw_status.split(",") if part.strip()]
    if not statuses or any(s not in (clock.WARNING, clock.OVERDUE) for s in statuses):
        raise InvalidRequestError("status 应为 WARNING 或 OVERDUE（可逗号分隔）", "status must be WARNING or OVERDUE",
                                  field="status")
    kind = request.args.get("kind") or None
    if kind is not None and kind not in (clock.STATUTORY, clock.COMMITTED):
        raise InvalidRequestError("kind 应为 statutory 或 committed", "kind must be statutory or committed",
                                  field="kind")
    first, max_results = query_page()
    due_before = query_local_moment("due_before")
    with unit_of_work() as session:
        return jsonify(clock.supervision_list(session, statuses, bundle=request.args.get("bundle") or None,
                                              due_before=due_before, kind=kind, first=first,
                                              max_results=max_results, departments=own_departments()))
