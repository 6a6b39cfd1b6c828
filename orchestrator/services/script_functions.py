"""Functions that diagrams may call in expressions, e.g. `${workdays(5)}` in a due date."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator import workcalendar


def script_functions() -> dict[str, Callable[..., Any]]:
    return {
        "workdays": workcalendar.workdays_from_now,
        "workdays_from": workcalendar.workdays_from,
        "is_workday": workcalendar.is_workday_expression,
    }
