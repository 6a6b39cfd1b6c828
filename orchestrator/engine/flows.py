"""Outgoing sequence flows of an activity or event that are conditional, default or several (Camunda 7 rules).

Camunda 7 leaves a task, or an event, on every outgoing flow whose condition is true and on every
flow without a condition (an implicit parallel split); the default flow is taken only when no other
flow is. When nothing can be taken it raises an error instead of stopping. SpiffWorkflow refuses
several outgoing flows on anything but a gateway, so the parser puts a :class:`ConditionalFlowSplit`
(no BPMN id: it is not a diagram element) between the element and its targets.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.bpmn_task_spec import BpmnTaskSpec
from SpiffWorkflow.specs.MultiChoice import MultiChoice
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from orchestrator.engine.task_data import evaluate_with
from orchestrator.errors import EngineError


class ConditionalFlowSplit(MultiChoice, BpmnTaskSpec):  # type: ignore[misc]
    """Takes the outgoing flows of ``source_id`` the way Camunda 7 does (see the module docstring)."""

    def __init__(
        self,
        wf_spec: Any,
        name: str,
        source_id: str | None = None,
        default_task_spec: str | None = None,
        flow_ids: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(wf_spec, name, **kwargs)
        self.source_id = source_id
        self.default_task_spec = default_task_spec
        self.flow_ids: dict[str, str] = dict(flow_ids or {})

    def _run_hook(self, my_task: Task) -> bool:
        specs = my_task.workflow.spec.task_specs
        taken = []
        for condition, target in self.cond_task_specs:
            if target == self.default_task_spec:
                continue
            if condition is None or self._holds(my_task, condition.args[0], target):
                taken.append(specs[target])
        if not taken and self.default_task_spec is not None:
            taken.append(specs[self.default_task_spec])
        if not taken:
            cause = EngineError(
                f"{self.source_id} 的流出顺序流条件均不成立，且没有默认流，流程无法继续",
                f"No outgoing sequence flow of {self.source_id} can be taken: every condition is false "
                "and there is no default flow",
                code="engine.no_outgoing_flow",
                status=422,
                element_id=self.source_id,
            )
            raise WorkflowTaskException("no outgoing sequence flow can be taken", task=my_task) from cause
        my_task._sync_children(taken, TaskState.FUTURE)
        for child in my_task.children:
            child.task_spec._predict(child, mask=TaskState.FUTURE | TaskState.PREDICTED_MASK)
        return True

    def _holds(self, my_task: Task, expression: str, target: str) -> bool:
        flow = self.flow_ids.get(target, target)
        return bool(evaluate_with(my_task, expression, my_task.data, f"the condition of sequence flow {flow}", flow))
