"""form-js schemas (forms/*.form): read and check a form file, once, into the fields the server validates.

A form file is untrusted input, like a diagram: size and nesting limits, a JSON Schema check of its
shape, and every refusal names the file and the component. What the server enforces is what form-js
enforces in the browser (https://github.com/bpmn-io/form-js, schemaVersion 16): `validate.required`,
`minLength`, `maxLength`, `pattern`, `min`, `max`, `validationType` (email, phone), the options of
select / radio / checklist / taglist, number `decimalDigits`, datetime subtypes and
`disallowPassedDates`, and `conditional.hide` (see `feel.py`). Features it does not know are refused
when the form is loaded rather than silently not enforced.

Decisions: a select or radio field whose key ends in `_decision` (or any field with the custom
property `reasonField`) is a decision; its reason field (`<prefix>_opinion`, or the one named) must
exist, and a decision is never accepted without a non-blank reason.
"""

from __future__ import annotations

import json
import re
import re._parser as sre_parse  # the stdlib's own regex parser: read a pattern's structure, run nothing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from orchestrator.errors import DiagramError
from orchestrator.forms import feel

MAX_FORM_BYTES = 512 * 1024
MAX_COMPONENTS = 500
MAX_PATTERN_LENGTH = 300
# A text value is never longer than this, whatever the form says (patterns run on bounded input).
MAX_TEXT_LENGTH = 20_000
KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")

INPUT_TYPES = {"textfield", "textarea", "number", "checkbox", "select", "radio", "checklist", "taglist", "datetime"}
DISPLAY_TYPES = {"text", "html", "image", "spacer", "separator", "button"}
CONTAINER_TYPES = {"group"}
OPTION_TYPES = {"select", "radio", "checklist", "taglist"}
MULTI_TYPES = {"checklist", "taglist"}
VALIDATE_KEYS = {"required", "minLength", "maxLength", "pattern", "min", "max", "validationType"}
DECISION_SUFFIX = "_decision"
REASON_SUFFIX = "_opinion"

# The shape of a form file (form-js); the rest is checked component by component below.
FORM_FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["components"],
    "properties": {
        "id": {"type": "string", "maxLength": 255},
        "type": {"const": "default"},
        "schemaVersion": {"type": "integer"},
        "components": {"type": "array", "maxItems": MAX_COMPONENTS, "items": {"$ref": "#/$defs/component"}},
    },
    "$defs": {
        "component": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"type": "string"},
                "id": {"type": "string", "maxLength": 255},
                "key": {"type": "string"},
                "label": {"type": "string", "maxLength": 500},
                "validate": {"type": "object"},
                "values": {"type": "array", "maxItems": 1000, "items": {
                    "type": "object", "required": ["value"],
                    "properties": {"label": {"type": "string"}, "value": {"type": ["string", "number", "boolean"]}}}},
                "valuesKey": {"type": "string"},
                "conditional": {"type": "object", "properties": {"hide": {"type": "string"}}},
                "properties": {"type": "object", "additionalProperties": {"type": "string"}},
                "components": {"type": "array", "maxItems": MAX_COMPONENTS, "items": {"$ref": "#/$defs/component"}},
                "readonly": {"type": ["boolean", "string"]},
                "disabled": {"type": "boolean"},
                "decimalDigits": {"type": "integer", "minimum": 0, "maximum": 20},
                "subtype": {"enum": ["date", "time", "datetime"]},
                "disallowPassedDates": {"type": "boolean"},
            },
        },
    },
}
_FORM_FILE_VALIDATOR = Draft202012Validator(FORM_FILE_SCHEMA)


@dataclass(frozen=True)
class FormField:
    """One input of a form: what the server checks a submitted value against."""

    key: str
    label: str
    type: str
    component_id: str
    validate: Mapping[str, Any]
    options: tuple[Any, ...] | None = None  # static options; None with values_key: options from the data
    option_labels: Mapping[str, str] = field(default_factory=dict)
    values_key: str | None = None
    hide: tuple[feel.Node, ...] = ()  # its own condition and those of the groups around it
    editable: bool = True
    subtype: str | None = None
    decimal_digits: int | None = None
    disallow_passed_dates: bool = False
    default: Any = None
    reason_field: str | None = None  # set on decision fields

    @property
    def required(self) -> bool:
        return bool(self.validate.get("required"))


@dataclass(frozen=True)
class FormSchema:
    """A checked form: the document to serve and the fields to validate, in document order."""

    name: str
    document: Mapping[str, Any]
    fields: tuple[FormField, ...]

    def field(self, key: str) -> FormField | None:
        return next((f for f in self.fields if f.key == key), None)

    @property
    def decisions(self) -> tuple[FormField, ...]:
        return tuple(f for f in self.fields if f.reason_field)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fields)


def _refuse(filename: str, zh: str, en: str, component_id: str | None = None) -> DiagramError:
    return DiagramError(f"表单 {filename} 无效：{zh}", f"Form {filename} is invalid: {en}", code="form.invalid",
                        filename=filename, element_id=component_id)


def load_form(name: str, content: bytes) -> FormSchema:
    """Parse and check one form file; raises DiagramError (`form.invalid`) naming file and component."""
    filename = f"{name}.form"
    if len(content) > MAX_FORM_BYTES:
        raise _refuse(filename, f"文件过大（上限 {MAX_FORM_BYTES // 1024} KiB）", "file too large")
    try:
        document = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _refuse(filename, "不是合法的 UTF-8 JSON", f"not valid UTF-8 JSON ({exc.__class__.__name__})") from None
    error = next(iter(_FORM_FILE_VALIDATOR.iter_errors(document)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "（根）"
        raise _refuse(filename, f"结构不符合 form-js 格式（{where}）", f"bad structure at {where}: {error.message}")
    builder = _Builder(filename)
    builder.walk(document["components"], ())
    builder.check_decisions()
    return FormSchema(name=name, document=document, fields=tuple(builder.fields))


class _Builder:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.fields: list[FormField] = []
        self.count = 0

    def refuse(self, component: Mapping[str, Any], zh: str, en: str) -> DiagramError:
        return _refuse(self.filename, zh, en, str(component.get("id") or component.get("key") or "") or None)

    def walk(self, components: list[Mapping[str, Any]], hide: tuple[feel.Node, ...]) -> None:
        for component in components:
            self.count += 1
            if self.count > MAX_COMPONENTS:
                raise self.refuse(component, f"组件过多（上限 {MAX_COMPONENTS}）", "too many components")
            kind = component["type"]
            condition = self.condition(component)
            own = hide + ((condition,) if condition is not None else ())
            if kind in CONTAINER_TYPES:
                if component.get("path"):
                    raise self.refuse(component, "不支持带 path 的分组", "groups with a path are not supported")
                self.walk(list(component.get("components") or []), own)
            elif kind in INPUT_TYPES:
                self.fields.append(self.input(component, own))
            elif kind not in DISPLAY_TYPES:
                raise self.refuse(component, f"不支持的组件类型 {kind}", f"unsupported component type {kind}")

    def condition(self, component: Mapping[str, Any]) -> feel.Node | None:
        text = (component.get("conditional") or {}).get("hide")
        if not text:
            return None
        try:
            return feel.parse(text)
        except feel.FeelError as exc:
            raise self.refuse(component, f"隐藏条件 {text!r} 无法解析：{exc}",
                              f"conditional.hide {text!r} is not supported FEEL") from None

    def input(self, component: Mapping[str, Any], hide: tuple[feel.Node, ...]) -> FormField:
        key = component.get("key")
        kind = component["type"]
        if not isinstance(key, str) or not KEY.match(key):
            raise self.refuse(component, f"字段 key {key!r} 不合法（字母开头，仅字母、数字、下划线）",
                              f"field key {key!r} must be an identifier")
        if any(f.key == key for f in self.fields):
            raise self.refuse(component, f"字段 key {key} 重复", f"duplicate field key {key}")
        validate = dict(component.get("validate") or {})
        unknown = set(validate) - VALIDATE_KEYS
        if unknown:
            raise self.refuse(component, f"不支持的校验规则 {sorted(unknown)}",
                              f"unsupported validation {sorted(unknown)}")
        self.check_validate(component, validate)
        options: tuple[Any, ...] | None = None
        labels: dict[str, str] = {}
        values_key = component.get("valuesKey")
        if kind in OPTION_TYPES:
            if "valuesExpression" in component:
                raise self.refuse(component, "不支持 valuesExpression", "valuesExpression is not supported")
            if values_key is None:
                values = component.get("values") or []
                if not values:
                    raise self.refuse(component, "选项字段没有选项", "an option field needs values or valuesKey")
                options = tuple(v["value"] for v in values)
                labels = {str(v["value"]): str(v.get("label") or v["value"]) for v in values}
        properties = dict(component.get("properties") or {})
        reason = properties.get("reasonField")
        if reason is None and kind in ("select", "radio") and key.endswith(DECISION_SUFFIX):
            reason = key[: -len(DECISION_SUFFIX)] + REASON_SUFFIX
        readonly = component.get("readonly")
        return FormField(
            key=key,
            label=str(component.get("label") or key),
            type=kind,
            component_id=str(component.get("id") or key),
            validate=validate,
            options=options,
            option_labels=labels,
            values_key=values_key if kind in OPTION_TYPES else None,
            hide=hide,
            editable=not (readonly is True or (isinstance(readonly, str) and readonly) or component.get("disabled")),
            subtype=component.get("subtype") if kind == "datetime" else None,
            decimal_digits=component.get("decimalDigits") if kind == "number" else None,
            disallow_passed_dates=bool(component.get("disallowPassedDates")),
            default=component.get("defaultValue"),
            reason_field=reason,
        )

    def check_validate(self, component: Mapping[str, Any], validate: Mapping[str, Any]) -> None:
        for name in ("minLength", "maxLength"):
            if name in validate and (not isinstance(validate[name], int) or isinstance(validate[name], bool)
                                     or validate[name] < 0):
                raise self.refuse(component, f"{name} 应为非负整数", f"{name} must be a non-negative integer")
        for name in ("min", "max"):
            if name in validate and (isinstance(validate[name], bool) or not isinstance(validate[name], int | float)):
                raise self.refuse(component, f"{name} 应为数字", f"{name} must be a number")
        if validate.get("validationType") not in (None, "email", "phone"):
            raise self.refuse(component, f"不支持的 validationType {validate['validationType']}",
                              "validationType must be email or phone")
        pattern = validate.get("pattern")
        if pattern is not None:
            self.check_pattern(component, pattern)

    def check_pattern(self, component: Mapping[str, Any], pattern: Any) -> None:
        """Refuse patterns that could backtrack for ever (a repeat inside a repeat), before any value meets them."""
        if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN_LENGTH:
            raise self.refuse(component, f"pattern 应为不超过 {MAX_PATTERN_LENGTH} 个字符的正则表达式",
                              "pattern must be a short regular expression")
        try:
            parsed = sre_parse.parse(pattern)
        except re.error as exc:
            raise self.refuse(component, f"pattern 不是合法的正则表达式：{exc}", f"invalid pattern: {exc}") from None
        if _nested_repeat(list(parsed), inside_repeat=False):
            raise self.refuse(component, "pattern 含嵌套的重复（如 (a+)+），可能导致回溯失控",
                              "pattern has a nested repeat (catastrophic backtracking)")

    def check_decisions(self) -> None:
        by_key = {f.key: f for f in self.fields}
        for decision in self.fields:
            if not decision.reason_field:
                continue
            reason = by_key.get(decision.reason_field)
            if reason is None or reason.type not in ("textfield", "textarea") or not reason.editable:
                raise _refuse(self.filename, f"审批决定 {decision.key} 没有可填写的理由字段 {decision.reason_field}",
                              f"decision {decision.key} has no editable reason field {decision.reason_field}",
                              decision.component_id)


def _nested_repeat(items: list[Any], inside_repeat: bool) -> bool:
    for op, arg in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            unbounded = high == sre_parse.MAXREPEAT or high > 100
            if inside_repeat and unbounded:
                return True
            if _nested_repeat(list(sub), inside_repeat or unbounded):
                return True
        elif name == "SUBPATTERN":
            if _nested_repeat(list(arg[-1]), inside_repeat):
                return True
        elif name == "BRANCH":
            if any(_nested_repeat(list(branch), inside_repeat) for branch in arg[1]):
                return True
        elif name in ("ASSERT", "ASSERT_NOT"):
            if _nested_repeat(list(arg[1]), inside_repeat):
                return True
    return False
