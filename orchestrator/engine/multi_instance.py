"""Multi-instance activities with Camunda 7 semantics (SpiffWorkflow's Camunda variant differs).

SpiffWorkflow's Camunda multi-instance keeps only the element variable of each instance (written
back into the collection), drops every other variable an instance set, offers none of Camunda's
counters, and rewrites its (shared, cached) spec while it runs. Here, as in Camunda 7:

- ``camunda:collection`` (a variable name) gives one instance per item, the item in the local
  ``camunda:elementVariable``; ``loopCardinality`` (an expression) gives that many instances.
- Each instance sees the local ``loopCounter`` (0-based) and the multi-instance body's
  ``nrOfInstances``, ``nrOfActiveInstances`` and ``nrOfCompletedInstances``.
- What an instance writes (except those locals) becomes a process variable when it completes:
  it is copied to the multi-instance body, and so to what follows. The collection is never rewritten.
- ``completionCondition`` is evaluated after each instance completes, with the process variables,
  the instance's locals and the up-to-date counters; when true the remaining instances are cancelled.

In the activity history the body is reported as ``<id>#multiInstanceBody``, as Camunda does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from copy import deepcopy
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.mixins import BpmnSpecMixin
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from orchestrator.engine.task_data import evaluate_with, fingerprints, written_variables
from orchestrator.errors import EngineError

COUNTERS = ("nrOfInstances", "nrOfActiveInstances", "nrOfCompletedInstances")
LOOP_COUNTER = "loopCounter"


class CamundaMultiInstance(LoopTask, BpmnSpecMixin):  # type: ignore[misc]
    """The multi-instance body; its instances are children running the spec named ``task_spec``."""

    sequential = False

    def __init__(
        self,
        wf_spec: Any,
        bpmn_id: str,
        task_spec: str,
        collection: str | None = None,
        element_variable: str | None = None,
        cardinality: str | None = None,
        condition: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.task_spec = task_spec
        self.collection = collection
        self.element_variable = element_variable
        self.cardinality = cardinality
        self.condition = condition

    # -- what each instance keeps to itself
    def local_names(self) -> set[str]:
        names = {LOOP_COUNTER, *COUNTERS}
        if self.element_variable and self.collection:
            names.add(self.element_variable)
        return names

    def _update_hook(self, my_task: Task) -> bool:
        if my_task.has_state(TaskState.READY | TaskState.STARTED):
            return False  # already running (SpiffWorkflow may update a task more than once)
        super()._update_hook(my_task)
        items = self._items(my_task)
        my_task.internal_data["merged"] = []
        my_task.internal_data["instances"] = len(items)
        if self.sequential:
            my_task.internal_data["items"] = items
        if not items:
            return True
        my_task._set_state(TaskState.STARTED)
        for index in range(1 if self.sequential else len(items)):
            self._create_instance(my_task, index, items[index])
        return False

    def _items(self, my_task: Task) -> list[Any]:
        if self.collection:
            if self.collection not in my_task.data:
                raise self._error(my_task, f"多实例集合变量 {self.collection} 不存在",
                                  f"the multi-instance collection variable {self.collection} does not exist")
            value = my_task.data[self.collection]
            if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, set, frozenset)):
                raise self._error(my_task, f"多实例集合 {self.collection} 必须是列表",
                                  f"the multi-instance collection {self.collection} must be a list")
            return list(value)
        count = my_task.workflow.script_engine.evaluate(my_task, self.cardinality)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise self._error(my_task, f"多实例数量（loopCardinality）必须是非负整数，实际为 {count!r}",
                              f"loopCardinality must evaluate to a non-negative integer, got {count!r}")
        return list(range(count))

    def _error(self, my_task: Task, zh: str, en: str) -> WorkflowTaskException:
        error = WorkflowTaskException(en, task=my_task)
        error.__cause__ = EngineError(zh, en, code="engine.multi_instance", status=422, element_id=self.bpmn_id)
        return error

    def _counters(self, my_task: Task) -> dict[str, int]:
        total = int(my_task.internal_data.get("instances", 0))
        completed = len(my_task.internal_data.get("merged", []))
        active = sum(1 for c in self._instances(my_task) if not c.has_state(TaskState.FINISHED_MASK))
        return {"nrOfInstances": total, "nrOfActiveInstances": active, "nrOfCompletedInstances": completed}

    def _create_instance(self, my_task: Task, index: int, item: Any) -> None:
        child_spec = my_task.workflow.spec.task_specs[self.task_spec]
        if not child_spec.completed_event.is_connected(self.merge_child):
            child_spec.completed_event.connect(self.merge_child)
        child = my_task._add_child(child_spec, TaskState.WAITING)
        child.triggered = True
        child.internal_data["loop_counter"] = index
        local: dict[str, Any] = {LOOP_COUNTER: index}
        if self.element_variable and self.collection:
            local[self.element_variable] = deepcopy(item)
        total = int(my_task.internal_data["instances"])
        completed = len(my_task.internal_data["merged"])
        local["nrOfInstances"] = total
        local["nrOfActiveInstances"] = 1 if self.sequential else total - completed
        local["nrOfCompletedInstances"] = completed
        child.data.update(local)
        # A local shadows a process variable of the same name: hide it while the child inherits.
        shadowed = {name: my_task.data.pop(name) for name in local if name in my_task.data}
        try:
            child.task_spec._update(child)
        finally:
            my_task.data.update(shadowed)
        child.internal_data["inputs"] = fingerprints(child.data)

    def merge_child(self, workflow: Any, child: Task) -> None:
        """An instance completed: propagate what it wrote, update counters, maybe finish the body."""
        my_task = child.parent
        if my_task is None or my_task.task_spec is not self or not my_task.has_state(TaskState.STARTED):
            return
        locals_ = self.local_names()
        written = written_variables(child.data, child.internal_data.get("inputs", {}), skip=locals_)
        my_task.data.update(deepcopy(written))
        my_task.internal_data.setdefault("merged", []).append(str(child.id))
        counters = self._counters(my_task)
        if self._completion_condition_met(my_task, child, counters):
            for instance in self._instances(my_task):
                if not instance.has_state(TaskState.FINISHED_MASK):
                    instance.cancel()
            my_task._set_state(TaskState.READY)
        elif counters["nrOfCompletedInstances"] >= counters["nrOfInstances"]:
            my_task._set_state(TaskState.READY)
        elif self.sequential:
            index = counters["nrOfCompletedInstances"]
            self._create_instance(my_task, index, my_task.internal_data["items"][index])
        else:
            for instance in self._instances(my_task):
                if not instance.has_state(TaskState.FINISHED_MASK):
                    instance.data.update(counters)

    def _completion_condition_met(self, my_task: Task, child: Task, counters: Mapping[str, int]) -> bool:
        if not self.condition:
            return False
        context = dict(my_task.data)
        context.update({k: v for k, v in child.data.items() if k in self.local_names()})
        context.update(counters)
        return bool(evaluate_with(child, self.condition, context, "completion condition", self.bpmn_id))


class CamundaParallelMultiInstance(CamundaMultiInstance):
    """All instances at once (``isSequential`` absent or false)."""


class CamundaSequentialMultiInstance(CamundaMultiInstance):
    """One instance after the other (``isSequential="true"``)."""

    sequential = True
