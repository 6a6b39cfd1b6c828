"""Check a submission against a form on the server, field by field, with messages in Chinese.

The visible fields are worked out first, in document order, as form-js does: a field whose
`conditional.hide` is true is hidden, its value is dropped from the data the following conditions
see, and it is neither required nor stored. The values of the visible fields are then checked with
a JSON Schema built for this submission (jsonschema, Draft 2020-12) — types, lengths, patterns,
ranges, options, formats — and by the few rules JSON Schema has no word for (required as form-js
means it, decimal digits, dates not in the past, a reason for every decision).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from jsonschema import Draft202012Validator, FormatChecker

from orchestrator.forms import feel
from orchestrator.forms.schema import MAX_TEXT_LENGTH, MULTI_TYPES, FormField, FormSchema

SHANGHAI = ZoneInfo("Asia/Shanghai")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{5,20}$")
TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?(Z|[+-]\d{2}:\d{2})?$")
TYPE_NAMES = {"string": "文本", "number": "数字", "boolean": "是或否（true / false）", "array": "列表"}
FORMAT_HINTS = {"form-date": "日期（YYYY-MM-DD）", "form-time": "时间（HH:mm）",
                "form-datetime": "日期时间（ISO 8601，如 2026-12-01T09:30:00+08:00）",
                "form-email": "电子邮箱地址", "form-phone": "电话号码"}


@dataclass(frozen=True)
class FieldError:
    field: str
    label: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "label": self.label, "message": self.message}


@dataclass(frozen=True)
class Checked:
    """The outcome of a check: the values to store (visible, editable fields only) and the errors."""

    values: dict[str, Any]
    errors: tuple[FieldError, ...]
    hidden: frozenset[str]

    @property
    def ok(self) -> bool:
        return not self.errors


def _is_date(value: object) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:?\d{2})?", value):
        return False
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


_FORMATS = FormatChecker(formats=())
_FORMATS.checks("form-date")(_is_date)
_FORMATS.checks("form-datetime")(_is_datetime)
_FORMATS.checks("form-time")(lambda v: not isinstance(v, str) or bool(TIME.match(v)))
_FORMATS.checks("form-email")(lambda v: not isinstance(v, str) or bool(EMAIL.match(v)))
_FORMATS.checks("form-phone")(lambda v: not isinstance(v, str) or bool(PHONE.match(v)))


def visible_fields(form: FormSchema, context: Mapping[str, Any], submitted: Mapping[str, Any]) -> tuple[
        list[FormField], set[str]]:
    """The fields shown for this data, and the keys hidden; a hidden field's value leaves the data."""
    data = {**context, **submitted}
    shown: list[FormField] = []
    hidden: set[str] = set()
    for form_field in form.fields:
        if any(feel.evaluate(condition, data) is True for condition in form_field.hide):
            hidden.add(form_field.key)
            data.pop(form_field.key, None)
        else:
            shown.append(form_field)
    return shown, hidden


def _dynamic_options(form_field: FormField, context: Mapping[str, Any]) -> list[Any]:
    raw = context.get(form_field.values_key or "")
    return raw if isinstance(raw, list) else []


def _options(form_field: FormField, context: Mapping[str, Any]) -> list[Any] | None:
    if form_field.options is not None:
        return list(form_field.options)
    return [item.get("value") if isinstance(item, Mapping) else item for item in _dynamic_options(form_field, context)]


def _labels(form_field: FormField, context: Mapping[str, Any]) -> Mapping[str, str]:
    if form_field.options is not None:
        return form_field.option_labels
    return {str(item.get("value")): str(item.get("label") or item.get("value"))
            for item in _dynamic_options(form_field, context) if isinstance(item, Mapping)}


def _property_schema(form_field: FormField, context: Mapping[str, Any]) -> dict[str, Any]:
    rules = form_field.validate
    kind = form_field.type
    schema: dict[str, Any]
    if kind == "number":
        schema = {"type": "number"}
        if "min" in rules:
            schema["minimum"] = rules["min"]
        if "max" in rules:
            schema["maximum"] = rules["max"]
    elif kind == "checkbox":
        schema = {"type": "boolean"}
    elif kind in MULTI_TYPES:
        options = _options(form_field, context)
        schema = {"type": "array", "maxItems": 1000, "items": {"enum": options}}
    elif kind in ("select", "radio"):
        schema = {"enum": _options(form_field, context)}
    else:
        schema = {"type": "string", "maxLength": min(int(rules.get("maxLength", MAX_TEXT_LENGTH)), MAX_TEXT_LENGTH)}
        if "minLength" in rules:
            schema["minLength"] = rules["minLength"]
        if kind == "datetime":
            schema["format"] = f"form-{form_field.subtype or 'datetime'}"
        elif rules.get("validationType"):
            schema["format"] = f"form-{rules['validationType']}"
        if "pattern" in rules:
            schema["pattern"] = rules["pattern"]
    return schema


def _message(form_field: FormField, keyword: str, rule: Any, value: Any, labels: Mapping[str, str]) -> str:
    label = f"「{form_field.label}」"
    if keyword == "type":
        return f"{label}应为{TYPE_NAMES.get(str(rule), str(rule))}"
    if keyword == "minLength":
        return f"{label}至少 {rule} 个字符"
    if keyword == "maxLength":
        return f"{label}最多 {rule} 个字符"
    if keyword == "pattern":
        return f"{label}格式不正确"
    if keyword == "minimum":
        return f"{label}不能小于 {rule}"
    if keyword == "maximum":
        return f"{label}不能大于 {rule}"
    if keyword == "enum":
        allowed = "、".join(labels.get(str(o), str(o)) for o in rule) or "（无可选项）"
        return f"{label}的值“{value}”不是可选项（可选：{allowed}）"
    if keyword == "format":
        return f"{label}应为{FORMAT_HINTS.get(str(rule), '正确的格式')}"
    if keyword == "maxItems":
        return f"{label}选项过多"
    return f"{label}的值不符合要求"


def _empty(form_field: FormField, value: Any) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    if form_field.type in MULTI_TYPES:
        return isinstance(value, list) and not value
    if form_field.type == "checkbox":
        return value is not True  # a required checkbox must be ticked
    return False


def _decimal_places(value: Any) -> int:
    exponent = Decimal(str(value)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def check(form: FormSchema, context: Mapping[str, Any], submitted: Mapping[str, Any],
          today: dt.date | None = None) -> Checked:
    """Check `submitted` against `form`, with `context` (the task's data) for conditions and dynamic options."""
    errors: list[FieldError] = []
    known = set(form.keys)
    for key in submitted:
        if key not in known:
            errors.append(FieldError(key, key, f"表单中没有字段“{key}”，不能提交"))
    incoming = {k: v for k, v in submitted.items() if k in known}
    shown, hidden = visible_fields(form, context, incoming)
    for key in sorted(hidden & set(incoming)):
        if incoming[key] not in (None, "", False, []):
            hidden_field = form.field(key)
            label = hidden_field.label if hidden_field else key
            errors.append(FieldError(key, label, f"「{label}」按当前填写内容不适用（表单已隐藏该字段），不能填写"))
    values: dict[str, Any] = {}
    for form_field in shown:
        if not form_field.editable:
            continue
        if form_field.key in incoming:
            values[form_field.key] = incoming[form_field.key]
        elif form_field.default is not None:
            values[form_field.key] = form_field.default
        elif form_field.type == "checkbox":
            values[form_field.key] = False  # form-js always submits a checkbox, unticked by default
    editable = [f for f in shown if f.editable]
    by_key = {f.key: f for f in editable}
    failed: set[str] = set()
    for form_field in editable:
        if form_field.required and _empty(form_field, values.get(form_field.key)):
            errors.append(FieldError(form_field.key, form_field.label, f"「{form_field.label}」为必填项"))
            failed.add(form_field.key)
    present = {k: v for k, v in values.items() if k not in failed and v is not None
               and not (isinstance(v, str) and v == "")}
    schema = {"type": "object", "properties": {k: _property_schema(by_key[k], context) for k in present}}
    for error in sorted(Draft202012Validator(schema, format_checker=_FORMATS).iter_errors(present),
                        key=lambda e: list(e.absolute_path)):
        key = str(error.absolute_path[0]) if error.absolute_path else ""
        at_fault = by_key.get(key)
        if at_fault is None or key in failed:
            continue
        failed.add(key)
        value = error.instance if not isinstance(error.instance, list) else present[key]
        errors.append(FieldError(key, at_fault.label, _message(at_fault, str(error.validator), error.validator_value,
                                                               value, _labels(at_fault, context))))
    errors.extend(_extra_rules(editable, present, failed, today or dt.datetime.now(SHANGHAI).date()))
    errors.extend(_reasons(form, editable, values, failed))
    order = {f.key: i for i, f in enumerate(form.fields)}
    errors.sort(key=lambda e: order.get(e.field, -1))
    return Checked(values=values, errors=tuple(errors), hidden=frozenset(hidden))


def _extra_rules(fields: list[FormField], present: Mapping[str, Any], failed: set[str],
                 today: dt.date) -> list[FieldError]:
    errors: list[FieldError] = []
    for form_field in fields:
        if form_field.key not in present or form_field.key in failed:
            continue
        value = present[form_field.key]
        label = f"「{form_field.label}」"
        if form_field.decimal_digits is not None and _decimal_places(value) > form_field.decimal_digits:
            digits = form_field.decimal_digits
            message = f"{label}最多 {digits} 位小数" if digits else f"{label}应为整数"
            errors.append(FieldError(form_field.key, form_field.label, message))
        elif form_field.disallow_passed_dates and form_field.subtype in ("date", "datetime"):
            day = dt.date.fromisoformat(value[:10])
            if day < today:
                errors.append(FieldError(form_field.key, form_field.label, f"{label}不能早于今天"))
    return errors


def _reasons(form: FormSchema, fields: list[FormField], values: Mapping[str, Any],
             failed: set[str]) -> list[FieldError]:
    """A decision is never taken without a reason, whatever the form's own `required` says."""
    errors: list[FieldError] = []
    shown = {f.key for f in fields}
    for decision in form.decisions:
        value = values.get(decision.key)
        if decision.key not in shown or value in (None, "", False) or not decision.reason_field:
            continue
        reason_field = form.field(decision.reason_field)
        if reason_field is None or reason_field.key in failed:
            continue
        reason = values.get(reason_field.key)
        if reason_field.key not in shown or not isinstance(reason, str) or not reason.strip():
            errors.append(FieldError(reason_field.key, reason_field.label,
                                     f"「{reason_field.label}」：作出“{decision.label}”必须说明理由"))
            failed.add(reason_field.key)
    return errors
