"""Form files, FEEL conditions and server-side checks, without a database."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from orchestrator.errors import DiagramError
from orchestrator.forms import feel
from orchestrator.forms.schema import load_form
from orchestrator.forms.validation import check


def _form(*components: dict[str, Any]) -> bytes:
    return json.dumps({"type": "default", "id": "Form_t", "schemaVersion": 16, "components": list(components)}).encode()


def _messages(form: Any, values: dict[str, Any], context: dict[str, Any] | None = None,
              today: dt.date | None = None) -> dict[str, str]:
    return {e.field: e.message for e in check(form, context or {}, values, today=today).errors}


@pytest.mark.parametrize(("expression", "data", "expected"), [
    ('=department != "dept-fire-rescue"', {"department": "dept-fire-rescue"}, False),
    ('=department != "dept-fire-rescue"', {}, True),  # null != "x" is true in FEEL
    ("=inspection_rejected != true", {"inspection_rejected": True}, False),
    ("=rectification_abandoned = true", {"rectification_abandoned": "true"}, None),  # no coercion
    ("=amount >= 1000 and kind = \"E\"", {"amount": 1500, "kind": "E"}, True),
    ("=amount >= 1000 and kind = \"E\"", {"amount": 15.5, "kind": "E"}, False),
    ("=amount > 10 or missing", {"amount": 5}, None),
    ("=not(a = 1)", {"a": 2}, True),
    ('=district in ["城中区", "城西区"]', {"district": "城西区"}, True),
    ("=applicant.age + 1 > 18", {"applicant": {"age": 18}}, True),
    ("=is defined(x)", {"x": 0}, True),
    ("=-a < 0", {"a": 3}, True),
    ('="a" < "b"', {}, True),
    ("=1 / 0", {}, None),
])
def test_feel_conditions_evaluate_as_form_js_does(expression: str, data: dict[str, Any], expected: Any) -> None:
    assert feel.evaluate(feel.parse(expression), data) == expected


@pytest.mark.parametrize("expression", [
    "department != 'x'",  # no "=" prefix
    "=a ? b : c", "=for x in y return x", "=a(", "=a = ", "=" + "(" * 50 + "1" + ")" * 50, "=a ;", "=" + "a" * 1001,
])
def test_unsupported_feel_is_refused_with_a_chinese_reason(expression: str) -> None:
    with pytest.raises(feel.FeelError) as info:
        feel.parse(expression)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in str(info.value))


@pytest.mark.parametrize(("content", "fragment"), [
    (b"\xff\xfe", "UTF-8 JSON"),
    (b"[" * 100_000, "UTF-8 JSON"),
    (b'{"components": "nope"}', "结构不符合"),
    (_form({"type": "iframe", "id": "Frame_1"}), "不支持的组件类型 iframe"),
    (_form({"type": "textfield", "key": "a.b", "id": "F1"}), "字段 key"),
    (_form({"type": "textfield", "key": "a", "id": "F1"}, {"type": "textarea", "key": "a", "id": "F2"}), "重复"),
    (_form({"type": "textfield", "key": "a", "id": "F1", "validate": {"pattern": "^(a+)+$"}}), "嵌套的重复"),
    (_form({"type": "textfield", "key": "a", "id": "F1", "validate": {"pattern": "(["}}), "不是合法的正则"),
    (_form({"type": "textfield", "key": "a", "id": "F1", "validate": {"custom": 1}}), "不支持的校验规则"),
    (_form({"type": "select", "key": "x_decision", "id": "F1", "values": [{"label": "准予", "value": "approve"}]}),
     "没有可填写的理由字段 x_opinion"),
    (_form({"type": "select", "key": "s", "id": "F1", "values": []}), "没有选项"),
    (_form({"type": "textfield", "key": "a", "id": "F1", "conditional": {"hide": "=a ? 1"}}), "隐藏条件"),
])
def test_a_bad_form_file_is_refused_naming_the_file_and_component(content: bytes, fragment: str) -> None:
    with pytest.raises(DiagramError) as info:
        load_form("broken", content)
    assert info.value.code == "form.invalid" and info.value.filename == "broken.form"
    assert fragment in info.value.message_zh, info.value.message_zh


def test_a_decision_needs_a_reason_even_where_the_form_does_not_require_one() -> None:
    form = load_form("decide", _form(
        {"type": "radio", "key": "permit_decision", "id": "F1", "label": "决定",
         "values": [{"label": "准予", "value": "approve"}, {"label": "不予准予", "value": "reject"}]},
        {"type": "textarea", "key": "permit_opinion", "id": "F2", "label": "理由"},
        {"type": "checkbox", "key": "rejected", "id": "F3", "label": "不通过", "properties": {"reasonField": "issues"}},
        {"type": "textfield", "key": "issues", "id": "F4", "label": "问题"},
    ))
    assert [d.key for d in form.decisions] == ["permit_decision", "rejected"]
    assert _messages(form, {"permit_decision": "approve", "permit_opinion": " "}) == {
        "permit_opinion": "「理由」：作出“决定”必须说明理由"}
    assert _messages(form, {"rejected": True}) == {"issues": "「问题」：作出“不通过”必须说明理由"}
    assert _messages(form, {"rejected": False}) == {}  # no decision taken, nothing to justify
    assert _messages(form, {"permit_decision": "reject", "permit_opinion": "不符合条件"}) == {}


def test_values_are_checked_by_type_range_digits_options_and_format() -> None:
    form = load_form("kinds", _form(
        {"type": "number", "key": "amount", "id": "F1", "label": "金额", "decimalDigits": 2,
         "validate": {"min": 0, "max": 100}},
        {"type": "number", "key": "count", "id": "F2", "label": "人数", "decimalDigits": 0},
        {"type": "checklist", "key": "items", "id": "F3", "label": "事项",
         "values": [{"label": "消防", "value": "fire"}, {"label": "食品", "value": "food"}]},
        {"type": "datetime", "subtype": "date", "key": "day", "id": "F4", "label": "日期", "disallowPassedDates": True},
        {"type": "datetime", "subtype": "time", "key": "at", "id": "F5", "label": "时间"},
        {"type": "datetime", "subtype": "datetime", "key": "when", "id": "F6", "label": "日期时间"},
        {"type": "textfield", "key": "mail", "id": "F7", "label": "邮箱", "validate": {"validationType": "email"}},
        {"type": "select", "key": "district", "id": "F8", "label": "区县", "valuesKey": "districts"},
        {"type": "checkbox", "key": "agree", "id": "F9", "label": "已阅读告知书", "validate": {"required": True}},
    ))
    today = dt.date(2026, 11, 30)
    context = {"districts": [{"label": "城中区", "value": "630102"}]}
    good = {"amount": 12.5, "count": 3, "items": ["fire"], "day": "2026-12-01", "at": "09:30", "when":
            "2026-12-01T09:30:00+08:00", "mail": "li@example.cn", "district": "630102", "agree": True}
    assert _messages(form, good, context, today) == {}
    bad = {"amount": 100.001, "count": 2.5, "items": ["fire", "tax"], "day": "2026-11-29", "at": "25:00",
           "when": "2026-12-01", "mail": "li@", "district": "630103"}
    assert _messages(form, bad, context, today) == {
        "amount": "「金额」不能大于 100",
        "count": "「人数」应为整数",
        "items": "「事项」的值“tax”不是可选项（可选：消防、食品）",
        "day": "「日期」不能早于今天",
        "at": "「时间」应为时间（HH:mm）",
        "when": "「日期时间」应为日期时间（ISO 8601，如 2026-12-01T09:30:00+08:00）",
        "mail": "「邮箱」应为电子邮箱地址",
        "district": "「区县」的值“630103”不是可选项（可选：城中区）",  # options from the case data (valuesKey)
        "agree": "「已阅读告知书」为必填项",  # a required checkbox must be ticked
    }
    assert _messages(form, {**good, "amount": True}, context, today)["amount"] == "「金额」应为数字"


def test_hidden_fields_are_not_required_not_stored_and_not_accepted() -> None:
    form = load_form("cond", _form(
        {"type": "checkbox", "key": "by_post", "id": "F1", "label": "邮寄"},
        {"type": "group", "id": "G1", "conditional": {"hide": "=by_post != true"}, "components": [
            {"type": "textfield", "key": "address", "id": "F2", "label": "地址", "validate": {"required": True}},
        ]},
        {"type": "textfield", "key": "note", "id": "F3", "label": "备注", "conditional": {"hide": "=address = null"}},
    ))
    checked = check(form, {}, {})
    assert checked.ok and checked.values == {"by_post": False} and checked.hidden == {"address", "note"}
    assert _messages(form, {"by_post": True}) == {"address": "「地址」为必填项"}
    assert _messages(form, {"address": "西宁"}) == {
        "address": "「地址」按当前填写内容不适用（表单已隐藏该字段），不能填写"}
    assert check(form, {}, {"by_post": True, "address": "西宁", "note": "放门卫"}).values == {
        "by_post": True, "address": "西宁", "note": "放门卫"}
