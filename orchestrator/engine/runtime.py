"""The engine adapter: runs one case's SpiffWorkflow state; no Flask, no SQL.

A `CaseRuntime` wraps one `BpmnWorkflow`. The service layer takes a `snapshot()` before and after
each operation and turns the difference into projection rows (`diff_snapshots`).
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.serializer.default.workflow import WorkflowConverter
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from orchestrator import timesource
from orchestrator.engine.event_subprocess import EventSubprocessTrigger
from orchestrator.engine.events import recorded_messages
from orchestrator.engine.expressions import is_camunda_expression
from orchestrator.engine.joins import branch_arrivals, common_ancestor_data
from orchestrator.engine.multi_instance import CamundaMultiInstance
from orchestrator.engine.serializer import make_serializer
from orchestrator.engine.snapshots import (
    ACTIVE_MASK,
    ActivityRecord,
    Changes,
    ExternalTaskInfo,
    Snapshot,
    UserTaskInfo,
    diff_snapshots,
    take_snapshot,
)
from orchestrator.engine.specs import message_event, throw_bpmn_error
from orchestrator.errors import EngineError, ExpressionError, LianbanError

STATE_FORMAT = "lianban-1"
_VARIABLE_ONLY = re.compile(r"^(?:\$\{\s*([A-Za-z_]\w*)\s*\}|([A-Za-z_]\w*))$")
# SpiffWorkflow's TaskIterator stops silently at this depth; a deeper tree would look finished.
SPIFF_MAX_DEPTH = 1000

timesource.install_engine_clock()  # engine timers are due on the same clock as the scheduler
_serializer = make_serializer()
_registry = _serializer.registry
_workflow_converter = _registry.convert_from_dict["BpmnWorkflow"].args[0].__self__

__all__ = [
    "STATE_FORMAT", "ActivityRecord", "CaseRuntime", "Changes", "ExternalTaskInfo", "Snapshot", "ThrownMessage",
    "UserTaskInfo", "diff_snapshots", "to_datetime",
]


@dataclass(frozen=True)
class ThrownMessage:
    """A message the case threw for a recipient outside the engine."""

    name: str
    variables: dict[str, Any]


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
            delta: timedelta = TimerEventDefinition.get_timedelta_from_start(parsed)
            return timesource.now() + delta
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
            dct = WorkflowConverter.to_dict(conv, workflow)  # the workflow without its specs
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

    def mark_task(self, task_id: str, mark: str) -> None:
        """Remember a fact about one task in the case state (e.g. that a clerk does it by hand)."""
        self._require(task_id).internal_data[mark] = True

    def is_marked(self, task_id: str, mark: str) -> bool | None:
        """Whether the task carries the mark; None when the task is no longer in the case state."""
        task = self.get_task(task_id)
        return None if task is None else bool(task.internal_data.get(mark))

    def activity_of(self, task_id: str) -> str | None:
        task = self.get_task(task_id)
        return getattr(task.task_spec, "bpmn_id", None) if task is not None else None

    @property
    def is_completed(self) -> bool:
        return bool(self.workflow.is_completed())

    def variables(self) -> dict[str, Any]:
        """Process-scope variables as Camunda clients see them: the latest data of the case.

        Local variables of multi-instance instances and the data of event sub-process triggers
        (not diagram elements) are left out.
        """
        if self.workflow.is_completed():
            return dict(self.workflow.data)
        merged: dict[str, Any] = dict(self.workflow.data)
        active = sorted((t for t in self.all_tasks() if t.has_state(ACTIVE_MASK)
                         and not isinstance(t.task_spec, EventSubprocessTrigger)), key=lambda t: t.last_state_change)
        if not active and self.workflow.last_task is not None:
            active = [self.workflow.last_task]
        for task in active:
            parent = task.parent
            if parent is not None and isinstance(parent.task_spec, CamundaMultiInstance):
                local = parent.task_spec.local_names()
                merged.update({k: v for k, v in task.data.items() if k not in local})
            else:
                merged.update(task.data)
        return merged

    def snapshot(self) -> Snapshot:
        return take_snapshot(self.all_tasks())

    def thrown_messages(self) -> list[ThrownMessage]:
        """Messages the case threw (message end/throw events, send tasks) that nothing in the engine receives.

        Camunda 7 runs such an event like a none event; Lianban keeps each one, with the throwing
        task's variables, in the engine state until :meth:`clear_thrown_messages`, so that a
        service can publish them after its transaction commits.
        """
        return [ThrownMessage(event.event_definition.name, dict(event.payload or {}))
                for event in recorded_messages(self.workflow)]

    def clear_thrown_messages(self) -> None:
        kept = set(map(id, recorded_messages(self.workflow)))
        self.workflow.bpmn_events = [e for e in self.workflow.bpmn_events if id(e) not in kept]

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
            lane=getattr(spec, "lane", None) or None,
        )

    def form_key_of(self, task_id: str) -> str | None:
        """The form key of a user task (`camunda:formKey`), its expression evaluated if it has one."""
        task = self._require(task_id)
        raw = (getattr(task.task_spec, "extensions", None) or {}).get("formKey")
        if isinstance(raw, str) and is_camunda_expression(raw):
            value = self.evaluate(task, raw, f"{task.task_spec.bpmn_id}.formKey")
            return str(value) if value else None
        return str(raw) if raw else None

    def task_data(self, task_id: str) -> dict[str, Any]:
        """Everything a task sees: the process variables on its path and its own locals (loopCounter, …)."""
        return dict(self._require(task_id).data)

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
        """Deliver a message to this case's waiting catches; returns how many caught it.

        As Camunda's ``processVariables``, the variables become process variables: every path that
        has not finished sees them, and the catching element merges them at the top of its data.
        """
        event = message_event(name, variables)
        catchers = [t for t in self.workflow.event_manager.tasks.values() if t.task_spec.catches(t, event)]
        if not catchers:
            return 0
        if variables:
            self.set_variables(variables, [])
        # BpmnWorkflow.catch returns nothing; the event manager says how many tasks caught it.
        try:
            caught = self.workflow.event_manager.catch(event, internal=False)
        except SpiffWorkflowException as exc:
            raise _from_engine_exception(exc, None) from None
        if caught:
            self.run()
        return int(caught or 0)

    def throw_bpmn_error(self, task_id: str, error_code: str, error_message: str | None,
                         variables: Mapping[str, Any]) -> bool:
        """A department system reports a BPMN error for a waiting external task (Camunda's ``bpmnError``).

        The nearest error boundary event or error event sub-process that matches the code catches
        it. False when nothing catches it: the task stays waiting and the caller raises an incident.
        """
        task = self._require(task_id)
        try:
            caught = throw_bpmn_error(task, error_code, error_message, variables)
        except SpiffWorkflowException as exc:
            raise _from_engine_exception(exc, task.task_spec.bpmn_id) from None
        if caught:
            self.run()
        return caught

    def set_variables(self, modifications: Mapping[str, Any], deletions: list[str]) -> None:
        """Set or remove variables on every path that has not finished yet."""
        targets = [self.workflow.data] + [t.data for t in self.all_tasks() if t.has_state(TaskState.NOT_FINISHED_MASK)]
        for data in targets:
            data.update(modifications)
            for name in deletions:
                data.pop(name, None)

    def retime_timers(self, moments: Mapping[str, str]) -> int:
        """Move waiting date timers whose expression is exactly one of `moments`' variables (`${name}`) to its
        new value, and set those variables; returns how many timers moved (0: nothing was changed).

        How a diagram's timer follows Lianban's statutory clock: a pause or an extension moves it too."""
        waiting = []
        for task in self.all_tasks():
            definition = getattr(task.task_spec, "event_definition", None)
            if task.state != TaskState.WAITING or not isinstance(definition, TimeDateEventDefinition):
                continue
            match = _VARIABLE_ONLY.match(str(definition.expression or "").strip())
            name = (match.group(1) or match.group(2)) if match else ""
            if name in moments and task._get_internal_data("event_value") != moments[name]:
                waiting.append((task, moments[name]))
        if not waiting:
            return 0
        self.set_variables(moments, [])
        for task, value in waiting:
            task._set_internal_data(event_value=value)
        return len(waiting)

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
    branches = branch_arrivals(task)
    parents = [t.parent for t in [task, *branches] if t.parent is not None]
    if len(parents) < 2:
        return
    base = common_ancestor_data(parents)
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
        where = spec.bpmn_id or task.workflow.spec.name
        raise EngineError(
            f"并行分支在汇聚网关 {where} 处对同一变量写入了不同的值：{names}；请为各分支使用不同的变量名",
            f"Parallel branches wrote different values to the same variable(s) {names} before join {where}; "
            "namespace each branch's outputs",
            code="engine.branch_variable_conflict",
            status=409,
            element_id=where,
            extra={"variables": conflicts},
        )


def _from_engine_exception(exc: Exception, element_id: str | None) -> LianbanError:
    """Turn a SpiffWorkflow exception into our error, keeping the inner Lianban error when there is one."""
    task = getattr(exc, "task", None)
    spec = task.task_spec if task is not None else None
    where = element_id or getattr(spec, "bpmn_id", None) or getattr(spec, "source_id", None)
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


ScriptFunctions = dict[str, Callable[..., Any]]
