"""Throwing and boundary events with Camunda 7 semantics, where SpiffWorkflow's differ.

Throwing (end events, intermediate throw events, send tasks):

- Error and escalation: delivered to the nearest catcher, scope by scope, as Camunda does: a
  boundary event on the activity (or on the multi-instance body around it), then an event
  sub-process of the same scope, then the same one level up (the sub-process or call activity
  that contains the scope). SpiffWorkflow offers the event to every catcher of a workflow at once.
  When an interrupting catcher takes the event, the thrower waits (STARTED) and is cancelled with
  the scope the catcher interrupts, so that scope never completes normally first (the sub-process
  with the error end event is reported canceled, as in Camunda). An uncaught error ends the path
  like a none end event (Camunda's default, ``enableExceptionsAfterUnhandledBpmnError=false``); an
  uncaught escalation does nothing. Both are kept in ``workflow.bpmn_events``.
- Message: Camunda 7 runs a message throw without an implementation like a none event, so nothing
  inside the engine receives it (not even a catch in the same case). The message, with the task's
  variables as payload, is kept in ``workflow.bpmn_events`` so that the runtime can publish it
  (``CaseRuntime.thrown_messages``).
- Signal: broadcast to every waiting signal catch of the case; the payload is the task's variables
  only with ``<camunda:in variables="all"/>``, otherwise empty.

Boundary events: a non-interrupting message, signal or escalation boundary event stays subscribed
while its activity runs and starts a new path for every event (SpiffWorkflow listens once). When
the activity ends, a non-interrupting boundary event that already started paths stops listening
but its paths live on (SpiffWorkflow cancelled them with it, e.g. the reminders of a timer cycle).
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from SpiffWorkflow.bpmn.specs.control import BoundaryEventJoin, BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent, EndEvent, IntermediateThrowEvent, SendTask
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import (
    ErrorEventDefinition,
    EscalationEventDefinition,
    SignalEventDefinition,
)
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent, ThrowingEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

SIGNAL_VARIABLES = "signalVariables"  # extensions key: <camunda:in variables="all"/> on a signal throw


def throw_event(my_task: Task) -> bool:
    """Throw the event of a throwing spec the way Camunda 7 does (see the module docstring).

    True when an interrupting catcher took it: the thrower then waits (STARTED) to be cancelled with
    the scope the catcher interrupts, instead of completing that scope normally first.
    """
    definition = my_task.task_spec.event_definition
    top = my_task.workflow.top_workflow
    if isinstance(definition, (ErrorEventDefinition, EscalationEventDefinition)):
        event = BpmnEvent(definition, payload=deepcopy(my_task.data))
        catcher = deliver_in_scope(my_task, event)
        if catcher is None:
            top.bpmn_events.append(event)
            return False
        spec = catcher.task_spec
        return bool(getattr(spec, "cancel_activity", False) or getattr(spec, "interrupting", False))
    elif isinstance(definition, MessageEventDefinition):
        top.bpmn_events.append(BpmnEvent(definition, payload=deepcopy(my_task.data)))
    elif isinstance(definition, SignalEventDefinition):
        extensions = getattr(my_task.task_spec, "extensions", {}) or {}
        payload = deepcopy(my_task.data) if extensions.get(SIGNAL_VARIABLES) else {}
        top.catch(BpmnEvent(definition, payload=payload))
    else:
        definition.throw(my_task)
    return False


def deliver_in_scope(task: Task, event: BpmnEvent) -> Task | None:
    """Hand an error or escalation raised at ``task`` to its nearest catcher, and return that catcher."""
    from orchestrator.engine.event_subprocess import waiting_trigger  # that module imports this one

    activity: Task | None = task
    while activity is not None:
        level: Task | None = activity
        while level is not None:
            catcher = boundary_catcher(level, event)
            if catcher is not None:
                _deliver(catcher, event)
                return catcher
            parent = level.parent
            level = parent if parent is not None and isinstance(parent.task_spec, LoopTask) else None
        workflow = activity.workflow
        trigger = waiting_trigger(workflow, event)
        if trigger is not None:
            _deliver(trigger, event)
            return trigger
        parent_id = workflow.parent_task_id
        activity = None if parent_id is None else workflow.top_workflow.get_task_from_id(parent_id)
    return None


def boundary_catcher(activity: Task, event: BpmnEvent) -> Task | None:
    """The waiting boundary event attached to ``activity`` that catches ``event``, if any."""
    parent = activity.parent
    if parent is None or not isinstance(parent.task_spec, BoundaryEventSplit):
        return None
    for sibling in parent.children:
        if sibling is activity or sibling.state != TaskState.WAITING:
            continue
        spec = sibling.task_spec
        if isinstance(spec, CatchingEvent) and spec.catches(sibling, event):
            return sibling
    return None


def _deliver(catcher: Task, event: BpmnEvent) -> None:
    catcher.task_spec.catch(catcher, event)
    catcher.task_spec._update(catcher)


class _ThrowsLikeCamunda(ThrowingEvent):  # type: ignore[misc]
    def _run_hook(self, my_task: Task) -> bool | None:
        super(ThrowingEvent, self)._run_hook(my_task)
        return None if throw_event(my_task) else True


class LianbanEndEvent(_ThrowsLikeCamunda, EndEvent):  # type: ignore[misc]
    """An end event; terminate and cancel behave as in SpiffWorkflow."""


class LianbanThrowEvent(_ThrowsLikeCamunda, IntermediateThrowEvent):  # type: ignore[misc]
    """An intermediate throw event."""


class LianbanSendTask(_ThrowsLikeCamunda, SendTask):  # type: ignore[misc]
    """A send task with a ``messageRef`` and no external implementation."""


class LianbanBoundaryEvent(BoundaryEvent):  # type: ignore[misc]
    """A boundary event; non-interrupting message/signal/escalation ones catch every event."""

    def _repeats(self) -> bool:
        return not self.cancel_activity and not isinstance(self.event_definition, TimerEventDefinition)

    def catch(self, my_task: Task, event: BpmnEvent) -> None:
        if not self._repeats():
            super().catch(my_task, event)
            return
        if isinstance(event.payload, dict):
            my_task.data.update(deepcopy(event.payload))
        for output in self.outputs:
            if isinstance(output, BoundaryEventJoin):
                continue
            child = my_task._add_child(output, TaskState.FUTURE)
            child.triggered = True
            child.task_spec._predict(child, mask=TaskState.NOT_FINISHED_MASK)
            child.task_spec._update(child)


def stop_listening(task: Task) -> None:
    """A boundary event whose activity ended: no more events, but the paths it started go on."""
    for child in task.children:
        if child.has_state(TaskState.PREDICTED_MASK):
            task.workflow._remove_task(child.id)
    task.workflow.top_workflow.event_manager.remove_task(task)
    task._set_state(TaskState.CANCELLED)


class LianbanBoundaryEventJoin(BoundaryEventJoin):  # type: ignore[misc]
    """Ends the boundary events of an activity with it, keeping the paths non-interrupting ones started."""

    def _check_threshold_structured(self, my_task: Task) -> tuple[bool, list[Task]]:
        finished, cancel = super()._check_threshold_structured(my_task)
        if not finished:
            return finished, cancel
        kept = []
        for task in cancel:
            spec = task.task_spec
            started_paths = any(not c.has_state(TaskState.PREDICTED_MASK) for c in task.children)
            if isinstance(spec, BoundaryEvent) and not spec.cancel_activity and started_paths:
                stop_listening(task)
            else:
                kept.append(task)
        return finished, kept


def recorded_messages(workflow: Any) -> list[BpmnEvent]:
    """Messages thrown by the case and kept for publishing (see :func:`throw_event`)."""
    return [e for e in workflow.bpmn_events if isinstance(e.event_definition, MessageEventDefinition)]
