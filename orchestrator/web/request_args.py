"""Small, strict parsers for request bodies and query strings; errors name the field."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from flask import request

from orchestrator.errors import InvalidRequestError, NotFoundError


def json_body(required: bool = False) -> dict[str, Any]:
    if not request.data:
        if required:
            raise InvalidRequestError("请求体不能为空", "A JSON body is required", field="body")
        return {}
    try:
        body = request.get_json(force=True, silent=False)
    except Exception as exc:  # werkzeug raises BadRequest subclasses with HTML bodies: keep ours
        raise InvalidRequestError("请求体不是合法的 JSON", "Request body is not valid JSON", field="body") from exc
    if not isinstance(body, dict):
        raise InvalidRequestError("请求体必须是 JSON 对象", "Request body must be a JSON object", field="body")
    where = _nul_at(body, "")
    if where is not None:
        raise InvalidRequestError(f"字段 {where} 含有空字符（NUL），不能保存", f"{where} contains a NUL character",
                                  field=where, code="request.nul_character")
    return body


def _nul_at(value: Any, path: str) -> str | None:
    """The path of the first string (a key or a value) holding a NUL character: no database text can hold one."""
    if isinstance(value, str):
        return path or "body" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return inner
            found = _nul_at(item, inner)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_at(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


# The largest id an INTEGER column holds (the ids in paths: /api/users/<int:user_id>, …).
MAX_ID = 2**31 - 1
# Larger integers do not fit the database's BIGINT (an OFFSET, a LIMIT) and mean nothing as a count.
QUERY_INT_LIMIT = 2**53


def query_arg(name: str) -> str | None:
    """The one value of a query parameter; the same parameter given twice is a 400 naming it."""
    values = request.args.getlist(name)
    if len(values) > 1:
        raise InvalidRequestError(f"参数 {name} 只能给一个值", f"Query parameter {name} takes one value", field=name)
    return values[0] if values else None


def query_int(name: str, default: int) -> int:
    raw = query_arg(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidRequestError(f"参数 {name} 必须是整数", f"Query parameter {name} must be an integer",
                                  field=name) from exc
    if abs(value) > QUERY_INT_LIMIT:
        raise InvalidRequestError(f"参数 {name} 超出范围", f"Query parameter {name} is out of range", field=name)
    return value


def check_request_parameters() -> None:
    """Before every request: a NUL character in a path segment, a query or a form parameter is a 400 naming it
    (no database text can hold one, and PostgreSQL would refuse it deep inside a query); an integer id beyond
    what an id column holds names nothing (404), where the database would refuse to compare it."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, int) and value > MAX_ID:
            raise NotFoundError(f"{name} 不存在：{value}", f"No {name} {value}", field=name)
        if isinstance(value, str) and "\x00" in value:
            raise InvalidRequestError(f"路径参数 {name} 含有空字符（NUL）",
                                      f"Path parameter {name} contains a NUL character",
                                      field=name, code="request.nul_character")
    for source in (request.args, request.form if request.mimetype in _FORM_TYPES else None):
        if source is None:
            continue
        for key, values in source.lists():
            if "\x00" in key or any("\x00" in v for v in values):
                where = key.replace("\x00", "\\0")
                raise InvalidRequestError(f"参数 {where} 含有空字符（NUL）",
                                          f"Parameter {where} contains a NUL character",
                                          field=where, code="request.nul_character")


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


def query_bool(name: str) -> bool:
    """true/false (1/0, yes/no); absent or empty is false; anything else is a 400 naming the parameter."""
    return query_flag(name) is True


def query_flag(name: str) -> bool | None:
    """Like query_bool, but absent or empty is None (no filter)."""
    raw = (query_arg(name) or "").lower()
    if raw not in _TRUE and raw not in _FALSE:
        raise InvalidRequestError(f"参数 {name} 应为 true 或 false", f"Query parameter {name} must be true or false",
                                  field=name)
    return None if raw == "" else raw in _TRUE


def query_time(name: str) -> datetime | None:
    return query_time_value(query_arg(name), name)


def query_time_value(raw: object, name: str) -> datetime | None:
    """An ISO 8601 time from a query string or a body field; naive values are UTC."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise InvalidRequestError(f"参数 {name} 不是有效的时间", f"{name} is not a date-time", field=name)
    text = raw.replace(" ", "+")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidRequestError(f"参数 {name} 不是有效的时间", f"Query parameter {name} is not a date-time",
                                  field=name) from exc
    return _in_utc_range(value if value.tzinfo else value.replace(tzinfo=UTC))


def _in_utc_range(value: datetime) -> datetime:
    """The moment as given; one a few hours past either end of what UTC can hold (0001-01-01 in Shanghai) is that
    end, which compares with stored times as it should (stored times are UTC)."""
    try:
        value.astimezone(UTC)
        return value
    except OverflowError:
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


def query_local_moment(name: str) -> datetime | None:
    """A date (YYYY-MM-DD: 00:00 Asia/Shanghai of that day) or an ISO 8601 date-time (naive: Shanghai)."""
    from orchestrator.workcalendar import SHANGHAI

    raw = query_arg(name)
    if not raw:
        return None
    text = raw.strip().replace(" ", "+")
    try:
        if len(text) == 10:
            return _in_utc_range(datetime.combine(date.fromisoformat(text), time(0, 0), SHANGHAI))
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequestError(f"{name} 应为日期（YYYY-MM-DD，北京时间）或带时区的时间",
                                  f"{name} must be a date or an ISO 8601 date-time", field=name) from None
    return _in_utc_range(value if value.tzinfo else value.replace(tzinfo=SHANGHAI))


def query_page(limit: int = 1000, default: int = 100, minimum: int = 1) -> tuple[int, int]:
    """firstResult / maxResults, checked (the Camunda routes take maxResults=0, an empty page, as Camunda does)."""
    first, max_results = query_int("firstResult", 0), query_int("maxResults", default)
    if first < 0:
        raise InvalidRequestError("firstResult 不能为负数", "firstResult must be ≥ 0", field="firstResult")
    if not minimum <= max_results <= limit:
        raise InvalidRequestError(f"maxResults 应在 {minimum} 到 {limit} 之间",
                                  f"maxResults must be {minimum}..{limit}", field="maxResults")
    return first, max_results


def body_str(body: dict[str, Any], name: str, max_len: int = 255) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise InvalidRequestError(f"{name} 必须是不超过 {max_len} 个字符的字符串",
                                  f"{name} must be a string of at most {max_len} characters", field=name)
    return value


def json_integer(value: Any) -> int | None:
    """A JSON integer, also when written 1.0 (JSON Schema's integer, and what Camunda's Jackson reads); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def body_bool(body: dict[str, Any], name: str) -> bool:
    """An optional true/false field (absent or null is false)."""
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidRequestError(f"{name} 必须是 true 或 false", f"{name} must be a boolean", field=name)
    return bool(value)


def user_id_field(body: dict[str, Any]) -> str | None:
    """The `userId` of a claim, delegate or assignee body: a user name, or null."""
    value = body.get("userId")
    if value is not None and (not isinstance(value, str) or not value or len(value) > 128):
        raise InvalidRequestError("userId 必须是用户名字符串", "userId must be a user name", field="userId")
    return value


def actor() -> str | None:
    """The user name of who is asking (set by the auth guard), for audit events."""
    from orchestrator.auth import current_user

    principal = current_user()
    return principal.username if principal is not None else None
