"""OpenAPI details declared on a view (`@doc(...)`), read by web/openapi.py when it builds the document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
# The content of an error response: every error is RFC 9457 problem+json (see web/errors.py).
PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def doc(**details: Any) -> Callable[[F], F]:
    """OpenAPI details of one view (request body, query parameters, responses)."""

    def mark(view: F) -> F:
        view.openapi_details = details  # type: ignore[attr-defined]
        return view

    return mark


def query_param(name: str, description: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


# Shared schemas of what the parsers in web/request_args.py accept. No text the server stores may hold a NUL
# character (web/openapi.py adds NO_NUL to every other string); a required text must hold more than whitespace.
NO_NUL = r"^[^\u0000]*$"
NOT_BLANK = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"


def text(max_len: int, description: str | None = None, *, blank: bool = True) -> dict[str, Any]:
    """A string of at most `max_len` characters; `blank=False`: one the server strips and requires."""
    schema: dict[str, Any] = {"type": "string", "maxLength": max_len, "pattern": NO_NUL if blank else NOT_BLANK}
    if description:
        schema["description"] = description
    return schema


def comma_separated(values: list[str] | tuple[str, ...], description: str, *, any_case: bool = False) -> dict[str, Any]:
    """A query string of choices separated by commas (blanks between commas are skipped)."""
    words = [*values, *(v.lower() for v in values)] if any_case else list(values)
    one = f"(?:{'|'.join(words)})"
    return {"type": "string", "pattern": rf"^[\s,]*(?:{one}(?:\s*,[\s,]*{one})*)?[\s,]*$",
            "description": description}


def json_request(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    """A JSON request body; `required=False` where the server treats a missing body as `{}`."""
    return {"required": required, "content": {"application/json": {"schema": schema}}}


# A day (YYYY-MM-DD, Asia/Shanghai) or an ISO 8601 date-time (query_local_moment).
MOMENT = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
          "description": "YYYY-MM-DD（北京时间当日 0 点）或带时区的 ISO 8601 时间"}
# A user name in a claim, delegate or assignee body (user_id_field).
USER_ID = {"type": ["string", "null"], "minLength": 1, "maxLength": 128, "pattern": NO_NUL, "description": "用户名"}
REASON = text(2000, "理由（必填）", blank=False)
# firstResult / maxResults of a Lianban list (query_page with its defaults).
PAGE = [query_param("firstResult", "分页起点", {"type": "integer", "minimum": 0}),
        query_param("maxResults", "每页条数（最多 1000）", {"type": "integer", "minimum": 1, "maximum": 1000})]
