"""Event sub-processes with Camunda 7 semantics (SpiffWorkflow's CamundaParser runs them as call activities).

For each event sub-process the parser adds, to the scope that contains it (the process or a
sub-process), an :class:`EventSubprocessTrigger` that starts with the scope and waits for the
start event's message, timer, signal, error or escalation; the sub-process itself becomes an
:class:`EventSubprocessTask` that the trigger starts (its start event then runs as a none event).

- Interrupting (``isInterrupting`` absent or true; error starts always): the trigger fires once,
  cancels everything else in the scope (other triggers included), then runs the handler; when the
  handler ends, the scope ends.
- Non-interrupting: every event starts one more handler alongside the scope's other work; the
  trigger keeps waiting (a duration or date timer fires once, a cycle once per repetition).
- A waiting trigger never keeps its scope open: when everything else has ended, the scope ends and
  the trigger is cancelled (:class:`~orchestrator.engine.joins.ScopeEndJoin`).
- The handler starts with the scope's current variables plus the event's payload (a message's
  variables, the thrower's variables for errors and escalations). A non-interrupting handler hands
  back only what it wrote, so it never resets a variable the main flow changed meanwhile.
- Errors and escalations reach a trigger through ``events.deliver_in_scope``, after the boundary
  events of the activity that raised them.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from SpiffWorkflow.bpmn.specs.bpmn_task_spec import BpmnTaskSpec
from SpiffWorkflow.bpmn.specs.defaults import SubWorkflowTask
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from orchestrator.engine.task_data import fingerprints, scope_variables, written_variables


class EventSubprocessTrigger(CatchingEvent, BpmnTaskSpec):  # type: ignore[misc]
    """Waits, while its scope runs, for the start event of one event sub-process (not a diagram element)."""

    def __init__(
        self,
        wf_spec: Any,
        name: str,
        event_definition: Any,
        handler: str = "",
        interrupting: bool = True,
        activity_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(wf_spec, name, event_definition, **kwargs)
        self.handler = handler
        self.interrupting = interrupting
        self.activity_id = activity_id  # the start event's id, for the timer/message projections

    def _predict_hook(self, my_task: Task) -> None:
        """Handlers are started explicitly, one per event."""

    def catches(self, my_task: Task, event: BpmnEvent) -> bool:
        return my_task.state == TaskState.WAITING and bool(super().catches(my_task, event))

    def catch(self, my_task: Task, event: BpmnEvent) -> None:
        if self.interrupting:
            self.event_definition.catch(my_task, event)  # fires; the payload waits in internal data
        else:
            self._start_handler(my_task, event.payload)

    def _update_hook(self, my_task: Task) -> bool:
        if not my_task.has_state(TaskState.WAITING):
            BpmnTaskSpec._update_hook(self, my_task)
            my_task._set_state(TaskState.WAITING)
        definition = self.event_definition
        if isinstance(definition, CycleTimerEventDefinition):
            if definition.cycle_complete(my_task):
                if self.interrupting:
                    return True
                self._start_handler(my_task, None)
            if my_task._get_internal_data("event_fired", False):
                return True  # every repetition done
        elif definition.has_fired(my_task):
            return True
        my_task.workflow.top_workflow.event_manager.add_task(my_task)
        return False

    def _run_hook(self, my_task: Task) -> bool:
        payload = my_task.internal_data.get(self.event_definition.name)
        if self.interrupting:
            interrupt_scope(my_task)
            self._start_handler(my_task, payload)
        elif not isinstance(self.event_definition, CycleTimerEventDefinition):
            self._start_handler(my_task, payload)
        return True

    def _start_handler(self, my_task: Task, payload: Any) -> None:
        variables = scope_variables(my_task.workflow, exclude=[my_task])
        inputs = fingerprints(variables)
        if isinstance(payload, dict):
            variables.update(deepcopy(payload))
        my_task.data = variables
        child = my_task._add_child(my_task.workflow.spec.task_specs[self.handler], TaskState.FUTURE)
        child.triggered = True
        child.internal_data["inputs"] = inputs
        child.task_spec._predict(child, mask=TaskState.NOT_FINISHED_MASK)
        child.task_spec._update(child)


class EventSubprocessTask(SubWorkflowTask):  # type: ignore[misc]
    """The event sub-process itself, started by its trigger."""

    def update_data(self, my_task: Task, subworkflow: Any) -> None:
        data = deepcopy(subworkflow.last_task.data)
        trigger = my_task.parent
        interrupting = trigger is None or getattr(trigger.task_spec, "interrupting", True)
        if not interrupting:
            data = written_variables(data, my_task.internal_data.get("inputs", {}))
        my_task.data = data


def interrupt_scope(trigger: Task) -> None:
    """Cancel everything in the trigger's (sub)workflow except the trigger and its ancestors."""
    workflow = trigger.workflow
    keep = {trigger.id}
    node = trigger.parent
    while node is not None:
        keep.add(node.id)
        node = node.parent
    doomed = [t for t in workflow.tasks.values() if t.id not in keep and not t.has_state(TaskState.FINISHED_MASK)]
    for task in sorted(doomed, key=lambda t: t.depth, reverse=True):
        if task.id in workflow.tasks and not task.has_state(TaskState.FINISHED_MASK):
            task.cancel()


def waiting_trigger(workflow: Any, event: BpmnEvent) -> Task | None:
    """A trigger of ``workflow`` (not of its sub-workflows) that catches ``event`` now, if any."""
    for task in workflow.tasks.values():
        if isinstance(task.task_spec, EventSubprocessTrigger) and task.task_spec.catches(task, event):
            return task
    return None
