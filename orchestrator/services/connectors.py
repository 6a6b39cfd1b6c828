"""Connectors: how Lianban calls a department system for a topic, read from a JSON file.

The file (env `LIANBAN_CONNECTORS`, default `connectors.json` at the repository root when present)
maps topics to HTTP JSON calls; `connectors.example.json` documents the format. A topic without a
connector stays pull-only: department systems fetch its tasks over `/engine-rest/external-task`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from orchestrator.config import PROJECT_ROOT
from orchestrator.errors import LianbanError

log = logging.getLogger(__name__)

PUBLISHER = "lianban.publish_jobs"  # app.extensions key: wakes workers for job ids (set by celery_init_app)
Publisher = Callable[[list[str]], None]

# The embedded mode has no broker: a commit that creates connector jobs wakes the scheduler thread.
wake = threading.Event()

_ENV_REF = re.compile(r"\$\{ENV:([A-Za-z_][A-Za-z0-9_]*)\}")
_METHODS = ("POST", "PUT", "PATCH")
_KEYS = {"url", "method", "headers", "timeout_s", "retries", "backoff_s", "backoff_max_s", "jitter", "lock_margin_s",
         "variables_in", "variables_out", "error_codes", "description", "mode"}
_MANUAL_KEYS = {"mode", "description", "department", "system", "instructions", "variables_in", "result_fields",
                "due_workdays"}
RESULT_TYPES = {"string": "文本", "integer": "整数", "number": "数字", "boolean": "是/否", "date": "日期"}


class ConnectorConfigError(LianbanError):
    status = 500
    code = "connector.config_invalid"


@dataclass(frozen=True)
class Connector:
    """One topic's HTTP JSON call.

    variables_in: case variable → request field; variables_out: response field → case variable;
    error_codes: HTTP status ("422") or the response's `error_code` → BPMN error code (a business refusal).
    """

    topic: str
    url: str
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0
    retries: int = 3
    backoff_s: float = 2.0
    backoff_max_s: float = 300.0
    jitter: float = 0.5  # share of each back-off delay that is random (0: none, 1: "full jitter")
    lock_margin_s: float = 15.0
    variables_in: dict[str, str] = field(default_factory=dict)
    variables_out: dict[str, str] = field(default_factory=dict)
    error_codes: dict[str, str] = field(default_factory=dict)

    def resolved_headers(self) -> dict[str, str]:
        """Header values with `${ENV:NAME}` replaced; a missing variable is a configuration error."""

        def value_of(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConnectorConfigError(f"连接器“{self.topic}”的请求头引用的环境变量 {name} 未设置",
                                           f"Connector '{self.topic}': environment variable {name} is not set")
            return os.environ[name]

        return {key: _ENV_REF.sub(value_of, value) for key, value in self.headers.items()}


@dataclass(frozen=True)
class ResultField:
    """One value the clerk records from the department's system (二次录入), e.g. the licence number issued."""

    name: str  # the case variable it becomes
    label: str
    type: str = "string"  # a key of RESULT_TYPES
    required: bool = True
    pattern: str | None = None  # a regular expression the whole text value must match


@dataclass(frozen=True)
class ManualTopic:
    """A topic whose department has no integration: a clerk of `department` re-enters the case by hand.

    variables_in: case variable → the label of the field in the department's system (what to copy).
    """

    topic: str
    department: str  # the candidate group of the manual-entry task
    system: str
    instructions: str
    description: str = ""
    variables_in: dict[str, str] = field(default_factory=dict)
    result_fields: tuple[ResultField, ...] = ()
    due_workdays: int | None = None


@dataclass(frozen=True)
class ConnectorFile:
    http: dict[str, Connector] = field(default_factory=dict)
    manual: dict[str, ManualTopic] = field(default_factory=dict)


def connectors_path() -> Path | None:
    configured = os.environ.get("LIANBAN_CONNECTORS")
    if configured:
        return Path(configured)
    default = PROJECT_ROOT / "connectors.json"
    return default if default.exists() else None


def _fail(path: Path, where: str, zh: str, en: str) -> ConnectorConfigError:
    return ConnectorConfigError(f"连接器配置 {path}（{where}）：{zh}", f"Connector file {path} ({where}): {en}",
                                filename=str(path), field=where)


def _string_map(path: Path, where: str, value: Any) -> dict[str, str]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {v: v for v in value}  # a list sends or reads names unchanged
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise _fail(path, where, "应为字符串到字符串的映射或字符串列表",
                    "must be an object of strings or a list of strings")
    return dict(value)


def _number(path: Path, where: str, value: Any, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise _fail(path, where, f"应为不小于 {minimum} 的数字", f"must be a number >= {minimum}")
    return float(value)


def parse_connectors(path: Path, text: str) -> dict[str, Connector]:
    """Validate the file and build the HTTP connectors; every problem names the topic and the field."""
    return parse_connector_file(path, text).http


def _text(path: Path, where: str, value: Any, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, where, "应为非空字符串", "must be a non-empty string")
    return value.strip()


def _result_fields(path: Path, where: str, value: Any) -> tuple[ResultField, ...]:
    if not isinstance(value, dict) or not value:
        raise _fail(path, where, "应为 {案件变量: {label, type, required, pattern}}，至少一项",
                    "must map case variables to {label, type, required, pattern}, at least one")
    fields: list[ResultField] = []
    for name, raw in value.items():
        at = f"{where}.{name}"
        if isinstance(raw, str):
            raw = {"label": raw}
        if not isinstance(raw, dict):
            raise _fail(path, at, "应为对象或中文标签", "must be an object or a label")
        unknown = sorted(set(raw) - {"label", "type", "required", "pattern"})
        if unknown:
            raise _fail(path, f"{at}.{unknown[0]}", "未知字段", "unknown field")
        kind = raw.get("type", "string")
        if kind not in RESULT_TYPES:
            raise _fail(path, f"{at}.type", f"只支持 {'/'.join(RESULT_TYPES)}",
                        f"must be one of {sorted(RESULT_TYPES)}")
        required = raw.get("required", True)
        if not isinstance(required, bool):
            raise _fail(path, f"{at}.required", "应为 true 或 false", "must be a boolean")
        pattern = raw.get("pattern")
        if pattern is not None:
            try:
                re.compile(_text(path, f"{at}.pattern", pattern))
            except re.error as error:
                raise _fail(path, f"{at}.pattern", f"不是合法的正则表达式：{error}",
                            f"invalid regex: {error}") from None
        fields.append(ResultField(name, _text(path, f"{at}.label", raw.get("label")), kind, required, pattern))
    return tuple(fields)


def _manual_topic(path: Path, where: str, topic: str, raw: dict[str, Any]) -> ManualTopic:
    unknown = sorted(set(raw) - _MANUAL_KEYS)
    if unknown:
        raise _fail(path, f"{where}.{unknown[0]}", "人工二次录入的主题不支持该字段", "unknown field for a manual topic")
    due = raw.get("due_workdays")
    if due is not None and (isinstance(due, bool) or not isinstance(due, int) or not 1 <= due <= 60):
        raise _fail(path, f"{where}.due_workdays", "应为 1 到 60 之间的整数（工作日）", "must be an integer 1..60")
    return ManualTopic(
        topic=topic,
        department=_text(path, f"{where}.department", raw.get("department")),
        system=_text(path, f"{where}.system", raw.get("system")),
        instructions=_text(path, f"{where}.instructions", raw.get("instructions")),
        description=_text(path, f"{where}.description", raw.get("description"), required=False),
        variables_in=_string_map(path, f"{where}.variables_in", raw.get("variables_in", {})),
        result_fields=_result_fields(path, f"{where}.result_fields", raw.get("result_fields")),
        due_workdays=due,
    )


def parse_connector_file(path: Path, text: str) -> ConnectorFile:
    """Validate the file: HTTP connectors and manual (二次录入) topics; every problem names the topic and field."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise _fail(path, f"第 {error.lineno} 行", f"不是合法的 JSON：{error.msg}",
                    f"invalid JSON at line {error.lineno}: {error.msg}") from None
    if not isinstance(document, dict) or not isinstance(document.get("connectors"), dict):
        raise _fail(path, "connectors", "顶层应为 {\"connectors\": {主题: 配置}}",
                    "the top level must be {\"connectors\": {topic: config}}")
    result: dict[str, Connector] = {}
    manual: dict[str, ManualTopic] = {}
    unknown_top = sorted(k for k in document if k not in ("connectors",) and not k.startswith("_"))
    if unknown_top:
        raise _fail(path, unknown_top[0], "未知字段", "unknown field")
    for topic, raw in document["connectors"].items():
        where = f"connectors.{topic}"
        if not isinstance(raw, dict):
            raise _fail(path, where, "应为对象", "must be an object")
        mode = raw.get("mode", "http")
        if mode not in ("http", "manual"):
            raise _fail(path, f"{where}.mode", "只支持 http（调用部门系统）或 manual（人工二次录入）",
                        "must be http or manual")
        if mode == "manual":
            manual[topic] = _manual_topic(path, where, topic, raw)
            continue
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise _fail(path, f"{where}.{unknown[0]}", "未知字段", "unknown field")
        raw = {key: value for key, value in raw.items() if key not in ("description", "mode")}
        url = raw.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _fail(path, f"{where}.url", "缺少 url 或不是 http(s) 地址", "url is missing or not http(s)")
        method = raw.get("method", "POST")
        if method not in _METHODS:
            raise _fail(path, f"{where}.method", f"只支持 {'/'.join(_METHODS)}", f"must be one of {_METHODS}")
        headers = _string_map(path, f"{where}.headers", raw.get("headers", {}))
        retries = raw.get("retries", 3)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise _fail(path, f"{where}.retries", "应为非负整数", "must be a non-negative integer")
        error_codes = raw.get("error_codes", {})
        if not isinstance(error_codes, dict) or not all(isinstance(v, str) and v for v in error_codes.values()):
            raise _fail(path, f"{where}.error_codes", "应为 {HTTP 状态码或 error_code: BPMN 错误码}",
                        "must map HTTP statuses or error_code values to BPMN error codes")
        result[topic] = Connector(
            topic=topic, url=url, method=method, headers=headers,
            timeout_s=_number(path, f"{where}.timeout_s", raw.get("timeout_s", 10.0), 0.1),
            retries=retries,
            backoff_s=_number(path, f"{where}.backoff_s", raw.get("backoff_s", 2.0), 0.0),
            backoff_max_s=_number(path, f"{where}.backoff_max_s", raw.get("backoff_max_s", 300.0), 0.0),
            jitter=_fraction(path, f"{where}.jitter", raw.get("jitter", 0.5)),
            lock_margin_s=_number(path, f"{where}.lock_margin_s", raw.get("lock_margin_s", 15.0), 0.0),
            variables_in=_string_map(path, f"{where}.variables_in", raw.get("variables_in", {})),
            variables_out=_string_map(path, f"{where}.variables_out", raw.get("variables_out", {})),
            error_codes={str(k): v for k, v in error_codes.items()},
        )
        for name, value in headers.items():
            if "${" in _ENV_REF.sub("", value):
                raise _fail(path, f"{where}.headers.{name}", "环境变量引用应写作 ${ENV:名称}",
                            "environment references are written ${ENV:NAME}")
    return ConnectorFile(result, manual)


def _fraction(path: Path, where: str, value: Any) -> float:
    number = _number(path, where, value, 0.0)
    if number > 1:
        raise _fail(path, where, "应为 0 到 1 之间的数字", "must be a number between 0 and 1")
    return number


class _Registry:
    """The parsed file, re-read when its path or modification time changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, float] | None = None
        self._file = ConnectorFile()

    def get(self) -> ConnectorFile:
        path = connectors_path()
        if path is None:
            return ConnectorFile()
        try:
            key = (str(path), path.stat().st_mtime)
        except OSError:
            raise _fail(path, "path", "文件不存在或不可读", "file is missing or unreadable") from None
        with self._lock:
            if key != self._key:
                self._file = parse_connector_file(path, path.read_text(encoding="utf-8"))
                self._key = key
            return self._file


registry = _Registry()


def load_connectors() -> dict[str, Connector]:
    return registry.get().http


def connector_for(topic: str) -> Connector | None:
    return load_connectors().get(topic)


def load_manual_topics() -> dict[str, ManualTopic]:
    return registry.get().manual


class _NewTask(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def topic(self) -> str: ...


def publish_after_commit(session: Session, new_tasks: Sequence[_NewTask]) -> None:
    """After this transaction commits, wake a worker for each new job whose topic has a connector.

    Never fails the caller: a broken connector file or an unreachable broker only delays the job
    until the sweeper finds it.
    """
    if not new_tasks:
        return
    try:
        job_ids = [t.id for t in new_tasks if connector_for(t.topic) is not None]
    except LianbanError as error:
        log.warning("连接器配置无效，任务留给清扫器：%s", error.message_zh)
        return
    if not job_ids:
        return
    publisher: Publisher | None = current_app.extensions.get(PUBLISHER) if has_app_context() else None

    def publish(_session: Session) -> None:
        if publisher is None:
            wake.set()
            return
        try:
            publisher(job_ids)
        except Exception:  # the sweeper re-publishes; the request has succeeded already
            log.warning("发布连接器任务消息失败，稍后由清扫器补发：%s", job_ids, exc_info=True)

    event.listen(session, "after_commit", publish, once=True)


