"""The engine adapter: runs one case's SpiffWorkflow state; no Flask, no SQL.

A `CaseRuntime` wraps one `BpmnWorkflow`. The service layer takes a `snapshot()` before and after
each operation and turns the difference into projection rows (`diff_snapshots`).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition as BaseMessageDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from orchestrator.engine.expressions import is_camunda_expression
from orchestrator.engine.serializer import make_serializer
from orchestrator.engine.specs import message_event
from orchestrator.errors import EngineError, ExpressionError, LianbanError

STATE_FORMAT = "lianban-1"
ACTIVE_MASK = TaskState.READY | TaskState.STARTED | TaskState.WAITING
# SpiffWorkflow's TaskIterator stops silently at this depth; a deeper tree would look finished.
SPIFF_MAX_DEPTH = 1000

_serializer = make_serializer()
_registry = _serializer.registry
_workflow_converter = _registry.convert_from_dict["BpmnWorkflow"].args[0].__self__


@dataclass(frozen=True)
class UserTaskInfo:
    """A user task as the diagram and the case data define it, expressions evaluated."""

    id: str
    activity_id: str
    name: str | None
    documentation: str | None
    assignee: str | None
    candidate_groups: list[str]
    candidate_users: list[str]
    due: datetime | None
    follow_up: datetime | None
    priority: int
    form_key: str | None
    properties: dict[str, Any]


@dataclass(frozen=True)
class ExternalTaskInfo:
    id: str
    activity_id: str
    name: str | None
    topic: str
    priority: int


@dataclass(frozen=True)
class ActivityRecord:
    id: str
    activity_id: str
    name: str | None
    activity_type: str
    started_at: datetime | None  # None: started before this operation
    ended_at: datetime | None
    canceled: bool


@dataclass
class Snapshot:
    """What is waiting in a case at one moment: enough to derive every projection."""

    user_tasks: set[str] = field(default_factory=set)
    external_tasks: set[str] = field(default_factory=set)
    timers: dict[str, tuple[str, str, datetime]] = field(default_factory=dict)  # id -> (activity, kind, due)
    messages: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (activity, message name)
    active: set[str] = field(default_factory=set)


@dataclass
class Changes:
    new_user_tasks: list[UserTaskInfo]
    ended_user_tasks: dict[str, bool]  # id -> canceled?
    new_external_tasks: list[ExternalTaskInfo]
    ended_external_tasks: dict[str, bool]
    timers_added: dict[str, tuple[str, str, datetime]]
    timers_removed: set[str]
    messages_added: dict[str, tuple[str, str]]
    messages_removed: set[str]
    activities: list[ActivityRecord]


def to_datetime(value: Any, where: str) -> datetime | None:
    """Accept a datetime, a date, or an ISO 8601 string; naive values are taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value.strip().upper().startswith("P"):
        try:  # an ISO 8601 duration: that long from now
            parsed = TimerEventDefinition.parse_iso_duration(value.strip())
            return datetime.now(UTC) + TimerEventDefinition.get_timedelta_from_start(parsed)
        except Exception as exc:  # SpiffWorkflow raises a bare Exception for a bad duration
            raise ExpressionError(f"{where} 不是有效的时长：{value}", f"{where} is not a valid ISO 8601 duration",
                                  ) from exc
    elif isinstance(value, str):
        try:
            result = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ExpressionError(
                f"{where} 不是有效的日期时间：{value}",
                f"{where} is not a valid ISO 8601 date-time: {value}",
            ) from exc
    else:
        raise ExpressionError(f"{where} 应为日期时间", f"{where} must be a date-time, got {type(value).__name__}")
    if result.tzinfo is None:
        result = result.replace(tzinfo=UTC)
    return result.astimezone(UTC)


def _epoch(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _activity_type(task: Task) -> str:
    description = getattr(task.task_spec, "description", None) or type(task.task_spec).__name__
    words = description.replace("-", " ").split()
    return words[0].lower() + "".join(w.capitalize() for w in words[1:]) if words else "activity"


class CaseRuntime:
    """One case's workflow, with the operations the service layer needs."""

    def __init__(self, workflow: BpmnWorkflow) -> None:
        self.workflow = workflow

    # -- life cycle ---------------------------------------------------------------------------
    @classmethod
    def create(cls, spec: Any, subprocess_specs: Mapping[str, Any], script_engine: Any) -> CaseRuntime:
        workflow = BpmnWorkflow(spec, dict(subprocess_specs), script_engine=script_engine)
        return cls(workflow)

    @classmethod
    def restore(cls, blob: bytes, spec: Any, subprocess_specs: Mapping[str, Any], script_engine: Any) -> CaseRuntime:
        """Rebuild a workflow from stored state and the definition's (cached) spec objects."""
        dct = json.loads(zlib.decompress(blob))
        if dct.pop("format", None) != STATE_FORMAT:
            raise EngineError("案件状态格式未知", "Unknown engine state format", code="engine.state_format")
        _serializer.migrate(dct)
        workflow = BpmnWorkflow(spec, dict(subprocess_specs), script_engine=script_engine, deserializing=True)
        conv = _workflow_converter
        workflow.tasks = conv.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        conv.set_default_attributes(workflow, dct)
        conv.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = _registry.restore(dct.pop("bpmn_events", []))
        return cls(workflow)

    def dump(self) -> bytes:
        """Serialize the state without the spec (stored once per definition version), compressed."""
        self._check_depth()
        workflow = self.workflow
        conv = _workflow_converter
        _registry._encoder_mode = True
        try:
            dct = super(type(conv), conv).to_dict(workflow)
            dct["subprocesses"] = conv.mapping_to_dict(workflow.subprocesses)
            dct["bpmn_events"] = _registry.convert(workflow.bpmn_events)
            dct[_serializer.VERSION_KEY] = _serializer.VERSION
            dct["format"] = STATE_FORMAT
            text = json.dumps(dct, cls=_serializer._encoder_cls, separators=(",", ":"))
        finally:
            _registry._encoder_mode = False
        return zlib.compress(text.encode("utf-8"), 1)

    # -- queries ------------------------------------------------------------------------------
    def all_tasks(self) -> Iterator[Task]:
        yield from self.workflow.tasks.values()
        for sub in self.workflow.subprocesses.values():
            yield from sub.tasks.values()

    def get_task(self, task_id: str) -> Task | None:
        try:
            return self.workflow.get_task_from_id(UUID(task_id))
        except (ValueError, SpiffWorkflowException, KeyError):
            return None

    def activity_of(self, task_id: str) -> str | None:
        task = self.get_task(task_id)
        return getattr(task.task_spec, "bpmn_id", None) if task is not None else None

    @property
    def is_completed(self) -> bool:
        return bool(self.workflow.is_completed())

    def variables(self) -> dict[str, Any]:
        """Process-scope variables as Camunda clients see them: the latest data of the case."""
        if self.workflow.is_completed():
            return dict(self.workflow.data)
        merged: dict[str, Any] = dict(self.workflow.data)
        active = sorted((t for t in self.all_tasks() if t.has_state(ACTIVE_MASK)), key=lambda t: t.last_state_change)
        if not active and self.workflow.last_task is not None:
            active = [self.workflow.last_task]
        for task in active:
            merged.update(task.data)
        return merged

    def snapshot(self) -> Snapshot:
        snap = Snapshot()
        for task in self.all_tasks():
            if not task.has_state(ACTIVE_MASK):
                continue
            spec = task.task_spec
            if getattr(spec, "bpmn_id", None) is None:
                continue
            key = str(task.id)
            if isinstance(spec, UnstructuredJoin) and task.state == TaskState.WAITING:
                continue  # a token waiting at a join: the join is entered once, when it fires
            snap.active.add(key)
            if spec.manual and task.state == TaskState.READY:
                snap.user_tasks.add(key)
            elif getattr(spec, "extensions", {}).get("type") == "external" and not spec.manual:
                snap.external_tasks.add(key)
            elif task.state == TaskState.WAITING:
                definition = getattr(spec, "event_definition", None)
                if isinstance(definition, TimerEventDefinition):
                    due = self._timer_due(task, definition)
                    if due is not None:
                        kind = "cycle" if isinstance(definition, CycleTimerEventDefinition) else (
                            "date" if isinstance(definition, TimeDateEventDefinition) else "duration"
                        )
                        snap.timers[key] = (spec.bpmn_id, kind, due)
                elif isinstance(definition, BaseMessageDefinition):
                    snap.messages[key] = (spec.bpmn_id, definition.name)
        return snap

    @staticmethod
    def _timer_due(task: Task, definition: TimerEventDefinition) -> datetime | None:
        value = task._get_internal_data("event_value")
        if value is None:
            return None
        if isinstance(definition, CycleTimerEventDefinition):
            if not isinstance(value, dict) or value.get("cycles") == 0:
                return None
            return datetime.fromisoformat(value["next"]).astimezone(UTC)
        if isinstance(definition, TimeDateEventDefinition):
            parsed = TimerEventDefinition.parse_time_or_duration(value)
            return parsed.astimezone(UTC) if isinstance(parsed, datetime) else None
        return TimerEventDefinition.get_datetime(value)

    def user_task_info(self, task_id: str) -> UserTaskInfo:
        task = self.get_task(task_id)
        assert task is not None
        spec = task.task_spec
        ext: dict[str, Any] = dict(getattr(spec, "extensions", {}) or {})
        where = spec.bpmn_id

        def value(name: str) -> Any:
            raw = ext.get(name)
            if raw is None or raw == "":
                return None
            if isinstance(raw, str) and is_camunda_expression(raw):
                return self.evaluate(task, raw, f"{where}.{name}")
            return raw

        def names(name: str) -> list[str]:
            raw = value(name)
            if raw is None:
                return []
            items = raw if isinstance(raw, (list, tuple, set)) else str(raw).split(",")
            return [str(item).strip() for item in items if str(item).strip()]

        priority_raw = value("priority")
        try:
            priority = int(priority_raw) if priority_raw is not None else 50
        except (TypeError, ValueError) as exc:
            raise ExpressionError(
                f"{where} 的优先级不是整数：{priority_raw}", f"priority of {where} is not an integer", element_id=where
            ) from exc
        assignee = value("assignee")
        return UserTaskInfo(
            id=task_id,
            activity_id=where,
            name=spec.bpmn_name,
            documentation=ext.get("documentation") or getattr(spec, "documentation", None),
            assignee=str(assignee) if assignee else None,
            candidate_groups=names("candidateGroups"),
            candidate_users=names("candidateUsers"),
            due=to_datetime(value("dueDate"), f"{where}.dueDate"),
            follow_up=to_datetime(value("followUpDate"), f"{where}.followUpDate"),
            priority=priority,
            form_key=ext.get("formKey") or getattr(getattr(spec, "form", None), "key", None),
            properties=dict(ext.get("properties") or {}),
        )

    def external_task_info(self, task_id: str) -> ExternalTaskInfo:
        task = self.get_task(task_id)
        assert task is not None
        ext = dict(getattr(task.task_spec, "extensions", {}) or {})
        raw_priority = ext.get("priority")
        if isinstance(raw_priority, str) and is_camunda_expression(raw_priority):
            raw_priority = self.evaluate(task, raw_priority, f"{task.task_spec.bpmn_id}.priority")
        try:
            priority = int(raw_priority) if raw_priority not in (None, "") else 0
        except (TypeError, ValueError):
            priority = 0
        return ExternalTaskInfo(
            id=task_id,
            activity_id=task.task_spec.bpmn_id,
            name=task.task_spec.bpmn_name,
            topic=str(ext.get("topic") or ""),
            priority=priority,
        )

    def evaluate(self, task: Task, expression: str, where: str) -> Any:
        try:
            return self.workflow.script_engine.evaluate(task, expression)
        except WorkflowTaskException as exc:
            raise _from_engine_exception(exc, where) from None

    # -- operations ---------------------------------------------------------------------------
    def run(self) -> None:
        """Run engine steps to the next wait states, refusing silent data loss at parallel joins."""
        try:
            self.workflow.do_engine_steps(will_complete_task=_check_join_conflicts)
        except LianbanError:
            raise
        except SpiffWorkflowException as exc:
            raise _from_engine_exception(exc, None) from None
        self._check_depth()

    def fire_timers(self) -> None:
        try:
            self.workflow.refresh_timers()
        except SpiffWorkflowException as exc:
            raise _from_engine_exception(exc, None) from None
        self.run()

    def complete_user_task(self, task_id: str, variables: Mapping[str, Any]) -> None:
        task = self._require(task_id)
        if not (task.task_spec.manual and task.state == TaskState.READY):
            raise EngineError("该任务当前不可办理", "Task is not ready", code="task.not_ready", status=409)
        task.data.update(namespaced_outputs(task, variables))
        try:
            task.run()
        except SpiffWorkflowException as exc:
            raise _from_engine_exception(exc, task.task_spec.bpmn_id) from None
        self.run()

    def complete_external_task(self, task_id: str, variables: Mapping[str, Any]) -> None:
        task = self._require(task_id)
        task.data.update(variables)
        try:
            if task.state == TaskState.STARTED:
                task.complete()
            else:
                task.run()
        except SpiffWorkflowException as exc:
            raise _from_engine_exception(exc, task.task_spec.bpmn_id) from None
        self.run()

    def correlate_message(self, name: str, variables: Mapping[str, Any]) -> int:
        """Deliver a message to this case's waiting catches; returns how many caught it."""
        # BpmnWorkflow.catch returns nothing; the event manager says how many tasks caught it.
        caught = self.workflow.event_manager.catch(message_event(name, variables), internal=False)
        if caught:
            self.run()
        return int(caught or 0)

    def set_variables(self, modifications: Mapping[str, Any], deletions: list[str]) -> None:
        """Set or remove variables on every path that has not finished yet."""
        targets = [self.workflow.data] + [t.data for t in self.all_tasks() if t.has_state(TaskState.NOT_FINISHED_MASK)]
        for data in targets:
            data.update(modifications)
            for name in deletions:
                data.pop(name, None)

    def cancel(self) -> None:
        self.workflow.cancel()

    def _require(self, task_id: str) -> Task:
        task = self.get_task(task_id)
        if task is None:
            raise EngineError("任务不存在", f"Task {task_id} not found in case", code="task.not_found", status=404)
        return task

    def _check_depth(self) -> None:
        if len(self.workflow.tasks) < SPIFF_MAX_DEPTH:
            return
        reachable = sum(1 for _ in self.workflow.get_tasks_iterator())
        if reachable < len(self.workflow.tasks):
            raise EngineError(
                "流程执行树过深（超过 1000 层），引擎无法继续可靠执行；请检查流程中的循环",
                "Engine task tree exceeds depth 1000; SpiffWorkflow would stop silently. Check loops in the diagram.",
                code="engine.depth_limit",
                status=422,
            )


OUTPUT_PREFIX_PROPERTY = "outputPrefix"


def namespaced_outputs(task: Task, variables: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a task's `outputPrefix` property (camunda:properties), so that one form shared by several
    parallel branches (a correction request, say) writes each branch's own variables."""
    properties = (getattr(task.task_spec, "extensions", None) or {}).get("properties") or {}
    prefix = properties.get(OUTPUT_PREFIX_PROPERTY)
    if not prefix:
        return dict(variables)
    return {f"{prefix}{name}": value for name, value in variables.items()}


def _check_join_conflicts(task: Task) -> None:
    """Before a parallel/inclusive join merges branch data, refuse branches that wrote one variable differently."""
    spec = task.task_spec
    if not isinstance(spec, UnstructuredJoin):
        return
    branches = [t for t in task.workflow.tasks.values()
                if t.task_spec == spec and t is not task and t.has_state(TaskState.FINISHED_MASK)
                and not task.is_descendant_of(t)]
    parents = [t.parent for t in [task, *branches] if t.parent is not None]
    if len(parents) < 2:
        return
    base = _common_ancestor_data(parents)
    missing = object()
    written: dict[str, list[Any]] = {}
    for parent in parents:
        for key, value in parent.data.items():
            if base.get(key, missing) != value:
                written.setdefault(key, []).append(value)
    conflicts = sorted(key for key, values in written.items()
                       if len(values) > 1 and any(v != values[0] for v in values[1:]))
    if conflicts:
        names = ", ".join(conflicts)
        raise EngineError(
            f"并行分支在汇聚网关 {spec.bpmn_id} 处对同一变量写入了不同的值：{names}；请为各分支使用不同的变量名",
            f"Parallel branches wrote different values to the same variable(s) {names} before join {spec.bpmn_id}; "
            "namespace each branch's outputs",
            code="engine.branch_variable_conflict",
            status=409,
            element_id=spec.bpmn_id,
            extra={"variables": conflicts},
        )


def _common_ancestor_data(tasks: list[Task]) -> dict[str, Any]:
    chains = []
    for task in tasks:
        chain = []
        node: Task | None = task
        while node is not None:
            chain.append(node)
            node = node.parent
        chains.append(chain)
    shared = set(id(t) for t in chains[0])
    for chain in chains[1:]:
        shared &= set(id(t) for t in chain)
    for node in chains[0]:
        if id(node) in shared:
            return dict(node.data)
    return {}


def _from_engine_exception(exc: Exception, element_id: str | None) -> LianbanError:
    """Turn a SpiffWorkflow exception into our error, keeping the inner Lianban error when there is one."""
    task = getattr(exc, "task", None)
    where = element_id or (getattr(task.task_spec, "bpmn_id", None) if task is not None else None)
    inner: BaseException | None = exc
    while inner is not None:
        if isinstance(inner, LianbanError):
            if where and inner.element_id is None:
                inner.element_id = where
            return inner
        inner = getattr(inner, "exception", None) or inner.__cause__
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return EngineError(
        f"流程执行出错（{where or '未知环节'}）：{message}",
        f"Engine error at {where or 'unknown element'}: {message}",
        code="engine.execution_failed",
        status=422,
        element_id=where,
        line=getattr(exc, "line_number", None) or None,
    )


def diff_snapshots(runtime: CaseRuntime, before: Snapshot, after: Snapshot, since: float) -> Changes:
    """Compare two snapshots of one case and describe what projections must change."""
    activities: list[ActivityRecord] = []
    seen: set[str] = set()
    for task in runtime.all_tasks():
        key = str(task.id)
        seen.add(key)
        spec = task.task_spec
        if getattr(spec, "bpmn_id", None) is None:
            continue
        was_active = key in before.active
        finished = task.has_state(TaskState.FINISHED_MASK)
        if was_active and finished:
            activities.append(ActivityRecord(key, spec.bpmn_id, spec.bpmn_name, _activity_type(task), None,
                                             _epoch(task.last_state_change), task.state == TaskState.CANCELLED))
        elif not was_active and task.last_state_change >= since and (finished or key in after.active):
            if finished and task.state == TaskState.CANCELLED:
                continue  # never entered: a branch not taken
            at = _epoch(task.last_state_change)
            activities.append(ActivityRecord(key, spec.bpmn_id, spec.bpmn_name, _activity_type(task), at,
                                             at if finished else None, False))
    now = datetime.now(UTC)
    for key in before.active - seen:  # dropped from the tree (interrupted, terminated)
        activities.append(ActivityRecord(key, "", None, "", None, now, True))

    def ended(ids: set[str]) -> dict[str, bool]:
        result = {}
        for key in ids:
            task = runtime.get_task(key)
            result[key] = task is None or task.state == TaskState.CANCELLED
        return result

    return Changes(
        new_user_tasks=[runtime.user_task_info(k) for k in sorted(after.user_tasks - before.user_tasks)],
        ended_user_tasks=ended(before.user_tasks - after.user_tasks),
        new_external_tasks=[runtime.external_task_info(k) for k in sorted(after.external_tasks - before.external_tasks)],
        ended_external_tasks=ended(before.external_tasks - after.external_tasks),
        timers_added={k: v for k, v in after.timers.items() if before.timers.get(k) != v},
        timers_removed=set(before.timers) - set(after.timers),
        messages_added={k: v for k, v in after.messages.items() if k not in before.messages},
        messages_removed=set(before.messages) - set(after.messages),
        activities=activities,
    )


ScriptFunctions = dict[str, Callable[..., Any]]
