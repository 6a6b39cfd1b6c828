"""/api/calendar: the working-day calendar (holidays, make-up days, imports, the data horizon, deadlines).

Changing the calendar moves every statutory deadline computed afterwards; with the accounts issue,
only administrators will be allowed to change it (reading stays open to every signed-in user).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.orm import Session

from orchestrator.errors import InvalidRequestError
from orchestrator.services import calendar
from orchestrator.web.apidoc import doc as _doc
from orchestrator.web.apidoc import query_param as _query
from orchestrator.web.apidoc import text as _text
from orchestrator.web.request_args import actor, body_str, json_body, query_bool
from orchestrator.web.session import unit_of_work

blueprint = Blueprint("calendar", __name__, url_prefix="/api/calendar")

_OK = {"description": "成功", "content": {"application/json": {"schema": {"type": "object"}}}}
_NO_DATA = {"description": "该年份没有日历数据（calendar.no_data）",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


# Years the calendar holds (calendar.list_year and the overrides refuse others).
_YEAR = {"name": "year", "in": "path", "required": True,
         "schema": {"type": "integer", "minimum": 1900, "maximum": 2999}}
_DATE = {"name": "date", "in": "path", "required": True, "schema": {"type": "string", "format": "date"}}
# An optional date: empty means none.
_OPTIONAL_DATE = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "maxLength": 0}],
                  "description": "发布日期（YYYY-MM-DD）"}


def _parse_date(raw: str | None, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw or "")
    except ValueError:
        raise InvalidRequestError(f"{field} 应为日期（YYYY-MM-DD），收到“{raw or ''}”",
                                  f"{field} must be a date (YYYY-MM-DD)", field=field) from None


def _changed(change: Callable[[Session], dict[str, Any] | None]) -> dict[str, Any] | None:
    """Run a change in its own transaction, then reload the calculator from what was committed."""
    try:
        with unit_of_work() as session:
            return change(session)
    finally:
        calendar.reload_overrides(current_app.extensions["lianban.sessions"])


@blueprint.get("/<int:year>")
@_doc(parameters=[_YEAR], responses={"200": _OK, "422": _NO_DATA})
def get_year(year: int) -> Response:
    """一年的日历：每天是否工作日及来源（人工设置 / 日历库 / 周末规则）"""
    with unit_of_work() as session:
        return jsonify(calendar.list_year(session, year))


_DAY_BODY = {"content": {"application/json": {"schema": {
    "type": "object", "required": ["is_workday"],
    "properties": {"is_workday": {"type": "boolean", "description": "true：上班（含调休上班）；false：放假"},
                   "name": {**_text(64, "如 国庆节、春节调休上班"), "type": ["string", "null"]},
                   "note": {**_text(2000), "type": ["string", "null"]}}}}}, "required": True}


@blueprint.put("/days/<date>")
@_doc(parameters=[_DATE], requestBody=_DAY_BODY, responses={"200": _OK})
def put_day(date: str) -> Response:
    """设置某一天为工作日或节假日（人工覆盖日历库）"""
    day = _parse_date(date, "date")
    body = json_body(required=True)
    is_workday = body.get("is_workday")
    if not isinstance(is_workday, bool):
        raise InvalidRequestError("is_workday 必须是 true 或 false", "is_workday must be a boolean",
                                  field="is_workday")
    name, note = body_str(body, "name", 64), body_str(body, "note", 2000)
    who = actor()
    return jsonify(_changed(lambda s: calendar.set_day(s, day, is_workday, name, note, who)))


@blueprint.delete("/days/<date>")
@_doc(parameters=[_DATE], responses={"204": {"description": "已删除，该日恢复日历库或周末规则"}})
def delete_day(date: str) -> tuple[str, int]:
    """删除某一天的人工设置"""
    day = _parse_date(date, "date")
    who = actor()
    _changed(lambda s: calendar.delete_day(s, day, who))
    return "", 204


@blueprint.post("/import")
@_doc(
    parameters=[
        _query("complete", "true（默认）：文件即该年完整安排，替换该年原有设置并标记为完整；false：只增改所列日期",
               {"type": "boolean", "default": True}),
        _query("source", "数据来源，如 国务院办公厅关于2027年部分节假日安排的通知", {"type": "string"}),
        _query("published_at", "发布日期（YYYY-MM-DD）", _OPTIONAL_DATE),
    ],
    requestBody={"required": True, "content": {
        "text/plain": {"schema": {"type": "string", "examples": ["2027-01-01 休 元旦\n2027-02-07 班 春节调休\n"]}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "contentMediaType": "text/plain", "description": "UTF-8 文本文件"},
            "source": _text(2000, "数据来源"), "published_at": _OPTIONAL_DATE}}}}},
    responses={"200": _OK},
)
def import_year() -> Response:
    """导入节假日安排文件（每行：日期 休/班 名称；# 为注释）"""
    upload = request.files.get("file")
    raw = upload.read() if upload is not None else request.get_data()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidRequestError("文件必须是 UTF-8 编码的文本", "The file must be UTF-8 text", field="file") from None
    complete = request.args.get("complete") is None or query_bool("complete")
    source = request.args.get("source") or request.form.get("source") or None
    published_raw = request.args.get("published_at") or request.form.get("published_at")
    published = _parse_date(published_raw, "published_at") if published_raw else None
    who = actor()
    return jsonify(_changed(lambda s: calendar.import_schedule(s, text, who, complete=complete, source=source,
                                                               published_at=published)))


@blueprint.put("/years/<int:year>")
@_doc(requestBody={"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["complete"],
    "properties": {"complete": {"type": "boolean"}, "source": {**_text(2000), "type": ["string", "null"]},
                   "published_at": {"anyOf": [_OPTIONAL_DATE, {"type": "null"}]}}}}}}, responses={"200": _OK})
def put_year(year: int) -> Response:
    """标记某年的节假日安排已完整录入（未设置的日期按周末规则）"""
    body = json_body(required=True)
    complete = body.get("complete")
    if not isinstance(complete, bool):
        raise InvalidRequestError("complete 必须是 true 或 false", "complete must be a boolean", field="complete")
    source = body_str(body, "source", 2000)
    published_raw = body_str(body, "published_at", 10)
    published = _parse_date(published_raw, "published_at") if published_raw else None
    who = actor()
    return jsonify(_changed(lambda s: calendar.mark_year(s, year, complete, who, source=source,
                                                         published_at=published)))


@blueprint.get("/status")
@_doc(responses={"200": _OK})
def status() -> Response:
    """日历数据截止年份，及数据即将用完时的预警"""
    with unit_of_work() as session:
        calendar.load_overrides(session)  # another process (the CLI, a worker) may have imported a year
    return jsonify(calendar.data_horizon())


@blueprint.get("/deadline")
@_doc(parameters=[
    _query("start", "受理日期（YYYY-MM-DD，北京时间）", {"type": "string", "format": "date"}, required=True),
    _query("days", "期限（工作日数）", {"type": "integer", "minimum": 0, "maximum": 3650}, required=True),
], responses={"200": _OK, "422": _NO_DATA})
def get_deadline() -> Response:
    """按工作日计算期限届满日（受理当日不计）"""
    start = _parse_date(request.args.get("start"), "start")
    raw_days = request.args.get("days", "")
    try:
        days = int(raw_days)
    except ValueError:
        raise InvalidRequestError("days 必须是整数（工作日数）", "days must be an integer", field="days") from None
    if not 0 <= days <= 3650:
        raise InvalidRequestError("days 应在 0 到 3650 之间", "days must be 0..3650", field="days")
    return jsonify(calendar.deadline(start, days))
