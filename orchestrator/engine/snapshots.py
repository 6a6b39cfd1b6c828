"""What waits in a case at one moment (a Snapshot), and what changed between two (Changes -> projections).

Re-exported by ``engine/runtime.py``, where the service layer imports them from.

- Timers: every waiting timer has a due time, including the timer behind an event-based gateway
  (SpiffWorkflow moves the catches' definitions onto the gateway) and an event sub-process's timer
  start. Message subscriptions likewise, one per message name a gateway waits for.
- Activities: a multi-instance body is reported as ``<id>#multiInstanceBody`` (type
  ``multiInstanceBody``) and its instances as ``<id>``, as Camunda 7's history does. Event
  sub-process triggers and flow splits are not diagram elements and never appear.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import uuid5

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from orchestrator import timesource
from orchestrator.engine.event_subprocess import EventSubprocessTrigger
from orchestrator.engine.multi_instance import CamundaMultiInstance

if TYPE_CHECKING:
    from orchestrator.engine.runtime import CaseRuntime

ACTIVE_MASK = TaskState.READY | TaskState.STARTED | TaskState.WAITING
MI_BODY_SUFFIX = "#multiInstanceBody"


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
    lane: str | None = None  # the lane's name: the assignment of last resort


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


def take_snapshot(tasks: Iterable[Task]) -> Snapshot:
    snap = Snapshot()
    for task in tasks:
        if not task.has_state(ACTIVE_MASK):
            continue
        spec = task.task_spec
        if isinstance(spec, EventSubprocessTrigger):
            if task.state == TaskState.WAITING:
                _add_waits(snap, task, spec.event_definition, spec.activity_id or spec.name)
            continue
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
            _add_waits(snap, task, getattr(spec, "event_definition", None), spec.bpmn_id)
    return snap


def _add_waits(snap: Snapshot, task: Task, definition: Any, activity_id: str) -> None:
    if not isinstance(definition, MultipleEventDefinition):
        _add_wait(snap, task, definition, activity_id, str(task.id))
        return
    # An event-based gateway: the definitions of the catches it leads to, in the order of its outputs.
    outputs = task.task_spec.outputs
    for index, inner in enumerate(definition.event_definitions):
        target = getattr(outputs[index], "bpmn_id", None) if index < len(outputs) else None
        _add_wait(snap, task, inner, target or activity_id, str(uuid5(task.id, f"wait-{index}")))


def _add_wait(snap: Snapshot, task: Task, definition: Any, activity_id: str, key: str) -> None:
    if isinstance(definition, TimerEventDefinition):
        due = timer_due(task, definition)
        if due is not None:
            kind = "cycle" if isinstance(definition, CycleTimerEventDefinition) else (
                "date" if isinstance(definition, TimeDateEventDefinition) else "duration"
            )
            snap.timers[key] = (activity_id, kind, due)
    elif isinstance(definition, MessageEventDefinition):
        snap.messages[key] = (activity_id, definition.name)


def timer_due(task: Task, definition: TimerEventDefinition) -> datetime | None:
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
    due: datetime = TimerEventDefinition.get_datetime(value)
    return due


def _epoch(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def activity_id_of(spec: Any) -> str | None:
    """The id the history reports for a task of this spec (None: not a diagram element)."""
    bpmn_id = getattr(spec, "bpmn_id", None)
    if bpmn_id is None or isinstance(spec, EventSubprocessTrigger):
        return None
    return f"{bpmn_id}{MI_BODY_SUFFIX}" if isinstance(spec, CamundaMultiInstance) else str(bpmn_id)


def activity_type(task: Task) -> str:
    if isinstance(task.task_spec, CamundaMultiInstance):
        return "multiInstanceBody"
    description = getattr(task.task_spec, "description", None) or type(task.task_spec).__name__
    words = description.replace("-", " ").split()
    return words[0].lower() + "".join(w.capitalize() for w in words[1:]) if words else "activity"


def diff_snapshots(runtime: CaseRuntime, before: Snapshot, after: Snapshot, since: float) -> Changes:
    """Compare two snapshots of one case and describe what projections must change."""
    activities: list[ActivityRecord] = []
    seen: set[str] = set()
    for task in runtime.all_tasks():
        key = str(task.id)
        seen.add(key)
        spec = task.task_spec
        activity_id = activity_id_of(spec)
        if activity_id is None:
            continue
        was_active = key in before.active
        finished = task.has_state(TaskState.FINISHED_MASK)
        if was_active and finished:
            activities.append(ActivityRecord(key, activity_id, spec.bpmn_name, activity_type(task), None,
                                             _epoch(task.last_state_change), task.state == TaskState.CANCELLED))
        elif not was_active and task.last_state_change >= since and (finished or key in after.active):
            if finished and task.state == TaskState.CANCELLED:
                continue  # never entered: a branch not taken
            at = _epoch(task.last_state_change)
            activities.append(ActivityRecord(key, activity_id, spec.bpmn_name, activity_type(task), at,
                                             at if finished else None, False))
    now = timesource.now()
    for key in before.active - seen:  # dropped from the tree (interrupted, terminated)
        activities.append(ActivityRecord(key, "", None, "", None, now, True))

    def ended(ids: set[str]) -> dict[str, bool]:
        result = {}
        for key in ids:
            task = runtime.get_task(key)
            result[key] = task is None or task.state == TaskState.CANCELLED
        return result

    new_external = sorted(after.external_tasks - before.external_tasks)
    return Changes(
        new_user_tasks=[runtime.user_task_info(k) for k in sorted(after.user_tasks - before.user_tasks)],
        ended_user_tasks=ended(before.user_tasks - after.user_tasks),
        new_external_tasks=[runtime.external_task_info(k) for k in new_external],
        ended_external_tasks=ended(before.external_tasks - after.external_tasks),
        timers_added={k: v for k, v in after.timers.items() if before.timers.get(k) != v},
        timers_removed=set(before.timers) - set(after.timers),
        messages_added={k: v for k, v in after.messages.items() if k not in before.messages},
        messages_removed=set(before.messages) - set(after.messages),
        activities=activities,
    )
