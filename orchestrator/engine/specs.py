"""Task spec classes that Lianban adds to SpiffWorkflow, and the calls that drive them from outside.

- :class:`ExternalTask` — a service/send/business-rule task with ``camunda:type="external"``.
  When the engine reaches it, ``_run_hook`` returns ``None``: SpiffWorkflow then leaves the task in
  ``TaskState.STARTED`` and ``do_engine_steps`` never touches it again. The runtime sees it as a job
  (topic, priority and properties are in ``task.task_spec.extensions``) and later finishes it with
  :func:`complete_external_task` or :func:`throw_bpmn_error`.
- :class:`PassThroughTask` — ``bpmn:task`` and ``bpmn:manualTask``. Camunda 7 runs both as pass-through
  activities; SpiffWorkflow would make them wait for a person (``manual = True``).
- :class:`DecisionTask` — a business-rule task calling a DMN table; with ``camunda:resultVariable``
  it stores the result the way Camunda 7 does (``mapDecisionResult``), without it the outputs are
  merged into the task data (SpiffWorkflow's behaviour).
- :class:`CamundaCallActivity` — passes variables as ``camunda:in`` / ``camunda:out`` say
  (``variables="all"`` or ``source``/``target`` pairs); without them nothing is passed, as in
  Camunda 7 (SpiffWorkflow copies everything both ways).

Events thrown and caught with Camunda semantics are in ``events``, ``event_subprocess`` and
``multi_instance``; outgoing flows of activities in ``flows``; joins in ``joins``.
"""

from __future__ import annotations

from collections.abc import Mapping
from copy import deepcopy
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.defaults import CallActivity
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins import BpmnSpecMixin
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.camunda.specs.business_rule_task import BusinessRuleTask
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from orchestrator.errors import EngineError

MAP_DECISION_RESULTS = ("resultList", "singleResult", "singleEntry", "collectEntries")
CALL_IN = "in"  # extensions keys of a call activity: [{"all": True} | {"source": s, "target": t}]
CALL_OUT = "out"


class ExternalTask(BpmnSpecMixin):  # type: ignore[misc]
    """A task done by a department system that fetches and completes it through the REST API."""

    def __init__(self, wf_spec: Any, bpmn_id: str, **kwargs: Any) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.manual = False

    def _run_hook(self, my_task: Task) -> bool | None:
        # None: SpiffWorkflow moves the task to STARTED and waits for an outside completion.
        return None

    @property
    def topic(self) -> str:
        return str(getattr(self, "extensions", {}).get("topic", ""))


class PassThroughTask(BpmnSpecMixin):  # type: ignore[misc]
    """``bpmn:task`` / ``bpmn:manualTask``: completes as soon as it is reached (Camunda 7 semantics)."""

    def __init__(self, wf_spec: Any, bpmn_id: str, **kwargs: Any) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.manual = False


class DecisionTask(BusinessRuleTask):  # type: ignore[misc]
    """A DMN business-rule task honouring ``camunda:resultVariable`` and ``camunda:mapDecisionResult``."""

    def _run_hook(self, my_task: Task) -> bool:
        extensions = getattr(self, "extensions", {})
        result_variable = extensions.get("resultVariable")
        if not result_variable:
            return bool(super()._run_hook(my_task))
        mapping = extensions.get("mapDecisionResult") or "resultList"
        table = self.dmnEngine.decision_table
        rules = self.dmnEngine.decide(my_task)
        if table.hit_policy != "COLLECT":
            rules = rules[:1]
        results = [dict(rule.output_as_dict(my_task)) for rule in rules]
        my_task.data[result_variable] = _map_decision_result(my_task, mapping, results)
        return True


def _map_decision_result(task: Task, mapping: str, results: list[dict[str, Any]]) -> Any:
    if mapping == "resultList":
        return results
    if mapping == "singleResult":
        if len(results) > 1:
            raise WorkflowTaskException("singleResult: the decision matched more than one rule", task=task)
        return results[0] if results else None
    if mapping == "collectEntries":
        values: list[Any] = []
        for result in results:
            if len(result) != 1:
                raise WorkflowTaskException("collectEntries: each result needs exactly one output", task=task)
            values.extend(result.values())
        return values
    if mapping == "singleEntry":
        if len(results) > 1 or (results and len(results[0]) != 1):
            raise WorkflowTaskException("singleEntry: expected one rule with one output", task=task)
        return next(iter(results[0].values())) if results else None
    raise WorkflowTaskException(f"unknown mapDecisionResult {mapping}", task=task)


def message_event(name: str, variables: Mapping[str, Any] | None = None) -> BpmnEvent:
    """The event to hand to ``workflow.catch`` for Camunda's ``POST /message`` (correlate by name).

    The compiled specs use SpiffWorkflow's BPMN ``MessageEventDefinition`` (not the Camunda variant,
    whose payload is an expression): the catching task merges ``variables`` into its data. Events
    only match definitions of the very same class, so always build them here.
    """
    return BpmnEvent(MessageEventDefinition(name), payload=dict(variables or {}))


def waiting_external_tasks(workflow: Any) -> list[Task]:
    """External tasks the engine has reached and that wait for a department system (STARTED)."""
    tasks: list[Task] = [
        task for task in workflow.get_tasks(state=TaskState.STARTED) if isinstance(task.task_spec, ExternalTask)
    ]
    for subprocess in workflow.subprocesses.values():
        tasks.extend(
            task for task in subprocess.get_tasks(state=TaskState.STARTED) if isinstance(task.task_spec, ExternalTask)
        )
    return tasks


def _require_waiting_external(task: Task) -> None:
    if not isinstance(task.task_spec, ExternalTask) or task.state != TaskState.STARTED:
        raise EngineError(
            f"任务 {task.task_spec.name} 不是等待中的外部任务",
            f"task {task.task_spec.name} is not a waiting external task",
            code="engine.not_waiting_external_task",
            status=409,
        )


def complete_external_task(task: Task, variables: Mapping[str, Any] | None = None) -> None:
    """Finish a waiting external task with the variables the worker returned.

    The caller then runs ``workflow.do_engine_steps()`` to move the case on.
    """
    _require_waiting_external(task)
    if variables:
        task.data.update(dict(variables))
    task.complete()


def throw_bpmn_error(
    task: Task,
    error_code: str,
    error_message: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> bool:
    """Raise a BPMN error from a waiting external task (Camunda's ``/external-task/{id}/bpmnError``).

    The error is caught by the nearest catcher whose code matches (or that has no code): an error
    boundary event on the task, an error event sub-process of its scope, then the same for each
    enclosing sub-process. Returns False when nothing catches it; the task is then left waiting and
    the runtime decides (Camunda raises an incident). The caller then runs ``workflow.do_engine_steps()``.
    """
    from orchestrator.engine.events import deliver_in_scope  # events imports this module's users

    _require_waiting_external(task)
    definition = ErrorEventDefinition(error_message or error_code, error_code)
    event = BpmnEvent(definition, payload=dict(variables or {}))
    return deliver_in_scope(task, event) is not None


def _mapped(source: Mapping[str, Any], mappings: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for mapping in mappings:
        if mapping.get("all"):
            result.update(deepcopy(dict(source)))
        else:
            result[mapping["target"]] = deepcopy(source.get(mapping["source"]))
    return result


class CamundaCallActivity(CallActivity):  # type: ignore[misc]
    """A call activity passing only what ``camunda:in`` / ``camunda:out`` name (see the module docstring)."""

    def copy_data(self, my_task: Task, subworkflow: Any) -> None:
        start = subworkflow.get_next_task(subworkflow.task_tree, skip_subprocesses=True, spec_name="Start")
        mappings = list(getattr(self, "extensions", {}).get(CALL_IN, []))
        start.set_data(**_mapped(my_task.data, mappings))

    def update_data(self, my_task: Task, subworkflow: Any) -> None:
        mappings = list(getattr(self, "extensions", {}).get(CALL_OUT, []))
        my_task.data.update(_mapped(subworkflow.last_task.data, mappings))
