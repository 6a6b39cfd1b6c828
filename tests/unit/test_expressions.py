"""Camunda-style expressions and bare ISO 8601 timer literals reach the sandbox as Python."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.engine.expressions import is_camunda_expression, is_iso8601_timer_literal, to_python
from orchestrator.engine.sandbox import Sandbox, SandboxEnvironment
from orchestrator.errors import ExpressionError


def evaluate(expression: str, **context: Any) -> Any:
    return Sandbox().evaluate(to_python(expression), context)


CAMUNDA = [
    ('${a > 1 && b == "x"}', {"a": 2, "b": "x"}, True),
    ('${a > 1 && b == "x"}', {"a": 2, "b": "y"}, False),
    ("${!approved}", {"approved": False}, True),
    ("${! approved && urgent}", {"approved": False, "urgent": True}, True),
    ("${!a == b}", {"a": True, "b": False}, True),
    ("${a || b}", {"a": False, "b": True}, True),
    ("${a or b and c}", {"a": False, "b": True, "c": False}, False),
    ("${empty list}", {"list": []}, True),
    ("${empty list}", {"list": [1]}, False),
    ("${empty name}", {"name": None}, True),
    ("${not empty name}", {"name": "Li"}, True),
    ("${not empty name}", {"name": ""}, False),
    ("${amount gt 1000}", {"amount": 1001}, True),
    ("${amount ge 10 and amount le 20 and amount ne 15}", {"amount": 10}, True),
    ("${amount lt 1 or amount eq 5}", {"amount": 5}, True),
    ("${amount div 4}", {"amount": 10}, 2.5),
    ("${amount mod 4}", {"amount": 10}, 2),
    ("${x == null}", {"x": None}, True),
    ("${x != null}", {"x": None}, False),
    ("${approved == true}", {"approved": True}, True),
    ("${approved == false}", {"approved": True}, False),
    ("${customer.name == 'Li'}", {"customer": {"name": "Li"}}, True),
    ("${customer.address.city}", {"customer": {"address": {"city": "杭州"}}}, "杭州"),
    ("${items[0].price * 2}", {"items": [{"price": 5}]}, 10),
    ("${amount > 1000 ? 'director' : 'clerk'}", {"amount": 5}, "clerk"),
    ("${a ? 1 : b ? 2 : 3}", {"a": False, "b": True}, 2),
    ("#{amount > 1000}", {"amount": 1001}, True),
    ("  ${ amount > 1000 }  ", {"amount": 1}, False),
    ("${text == 'a && b || !c'}", {"text": "a && b || !c"}, True),
    ('${text == "it\'s ${not} null"}', {"text": "it's ${not} null"}, True),
    ("${status == 'empty'}", {"status": "empty"}, True),
    ("${workdays}", {"workdays": 5}, 5),
    ("${-amount + 1}", {"amount": 3}, -2),
    ("${1.5e1 > 10}", {}, True),
    ("${x not in [1, 2]}", {"x": 3}, True),
    ("Case ${id} is ${state}", {"id": 7, "state": "open"}, "Case 7 is open"),
]


@pytest.mark.parametrize(("expression", "context", "expected"), CAMUNDA, ids=[case[0] for case in CAMUNDA])
def test_camunda_expression_evaluates_like_juel(expression: str, context: dict[str, Any], expected: Any) -> None:
    assert evaluate(expression, **context) == expected


def test_and_and_or_become_python_keywords() -> None:
    assert to_python('${a > 1 && b == "x"}') == 'a > 1 and b == "x"'
    assert to_python("${a || b}") == "a or b"


def test_not_wraps_exactly_its_operand() -> None:
    assert to_python("${!approved}") == "(not approved)"
    assert to_python("${!a.b[0] == c}") == "(not a.b[0]) == c"


def test_empty_becomes_the_sandbox_helper() -> None:
    assert to_python("${empty list}") == "is_empty_value(list)"
    assert to_python("${not empty customer.name}") == "(not is_empty_value(customer.name))"


def test_string_containing_operators_is_kept_verbatim() -> None:
    assert to_python("${s == 'a && !b || null'}") == "s == 'a && !b || null'"


def test_keywords_after_a_dot_are_keys_not_operators() -> None:
    assert to_python("${form.empty == form.not}") == "form.empty == form.not"


def test_plain_python_is_returned_unchanged() -> None:
    assert to_python("  amount > 1000 and ok  ") == "amount > 1000 and ok"
    assert evaluate("amount > 1000 and ok", amount=1001, ok=True) is True


def test_python_string_containing_a_dollar_brace_stays_python() -> None:
    assert to_python('"${x}"') == '"${x}"'
    assert not is_camunda_expression('"${x}"')


TIMERS = [
    "PT5M",
    "P5D",
    "P1DT2H",
    "PT1.5S",
    "P1Y2M",
    "P2W",
    "R3/PT1H",
    "R/PT10M",
    "R3/2026-10-01T00:00:00Z/PT1H",
    "R/PT1H/2026-10-01T00:00:00Z",
    "2026-10-01T09:00:00+08:00",
    "2026-10-01T09:00:00Z",
    "2026-10-01T09:00",
    "2026-10-01",
]


@pytest.mark.parametrize("literal", TIMERS)
def test_bare_timer_literal_becomes_a_python_string(literal: str) -> None:
    assert is_iso8601_timer_literal(literal)
    assert to_python(f"  {literal}\n") == repr(literal)
    assert evaluate(literal) == literal


@pytest.mark.parametrize(
    "text",
    ["P", "PT", "P5", "PT5", "5D", "amount", "R3", "R3/", "2026-13-01", "2026-10-01T25:00:00",
     "R/2026-10-01T00:00:00Z/2026-10-02T00:00:00Z", "'PT5M'", "P5DX"],
)
def test_non_timer_text_is_not_a_timer_literal(text: str) -> None:
    assert not is_iso8601_timer_literal(text)


def test_quoted_python_timer_string_still_works() -> None:
    assert evaluate("'PT5M'") == "PT5M"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("${a}", True), ("#{a}", True), ("Case ${id}", True), ("a and b", False), ("'${a}'", False), ("PT5M", False)],
)
def test_camunda_expressions_are_recognised(text: str, expected: bool) -> None:
    assert is_camunda_expression(text) is expected


@pytest.mark.parametrize(
    "expression",
    ["${a > }", "${(a > 1}", "${a > 1)}", "${'unterminated}", "${a @ b}", "${}", "${a ? b}", "${a", "${!}", ""],
)
def test_untranslatable_expression_names_itself(expression: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        SandboxEnvironment().evaluate(expression, {"a": 1, "b": 2})
    if expression:
        assert caught.value.extra["expression"] == expression
    assert caught.value.message_zh and caught.value.message_en


def test_composite_text_concatenates_its_parts() -> None:
    assert evaluate("dept_${dept}", dept="market") == "dept_market"
    assert evaluate("${year}-${month}", year=2026, month=10) == "2026-10"


@pytest.mark.parametrize("expression", ["${a} && ${b}", "${a} || ${b}", "${a} == ${b}", "${a} and ${b}"])
def test_several_expressions_joined_by_operators_are_refused(expression: str) -> None:
    # As text they would always be non-empty, so a gateway would always take the branch.
    with pytest.raises(ExpressionError):
        to_python(expression)
