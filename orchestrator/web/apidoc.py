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
