"""Helpers over SpiffWorkflow task data, which is copied per task where Camunda has one shared scope.

SpiffWorkflow gives every task its own copy of the data; Camunda 7 has one variable scope per
process instance (plus local variables of multi-instance instances). These helpers let the engine
tell which variables a branch actually wrote, and read the freshest value of each variable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.defaults import CallActivity
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from orchestrator.errors import LianbanError


def fingerprint(value: Any) -> str:
    """A short, stable digest of a JSON-like value (to notice a change without storing a copy)."""
    try:
        text = json.dumps(value, sort_keys=True, default=repr, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def fingerprints(data: Mapping[str, Any]) -> dict[str, str]:
    return {key: fingerprint(value) for key, value in data.items()}


def written_variables(data: Mapping[str, Any], before: Mapping[str, str], skip: Iterable[str] = ()) -> dict[str, Any]:
    """The variables of ``data`` that are new or changed since ``before`` (a ``fingerprints`` result)."""
    ignored = set(skip)
    return {
        key: value
        for key, value in data.items()
        if key not in ignored and before.get(key) != fingerprint(value)
    }


def scope_variables(workflow: Any, exclude: Iterable[Task] = ()) -> dict[str, Any]:
    """The freshest value of every variable in one scope: task data merged in time order.

    The scope is the (sub)workflow plus the embedded sub-processes running in it (not called
    processes). Finished and waiting tasks alike, oldest change first, so each variable ends with the
    value its latest writer left. Multi-instance instances are skipped (their variables are local).
    """
    from orchestrator.engine.multi_instance import CamundaMultiInstance  # imports this module

    skipped = {task.id for task in exclude}
    merged: dict[str, Any] = {k: v for k, v in workflow.data.items() if k != "data_objects"}
    tasks = [
        task
        for task in _scope_tasks(workflow)
        if task.id not in skipped
        and task.has_state(TaskState.COMPLETED | TaskState.READY | TaskState.STARTED | TaskState.WAITING)
        and not (task.parent is not None and isinstance(task.parent.task_spec, CamundaMultiInstance))
    ]
    for task in sorted(tasks, key=lambda t: t.last_state_change):
        merged.update(task.data)
    return merged


def _scope_tasks(workflow: Any) -> Iterator[Task]:
    yield from workflow.tasks.values()
    top = workflow.top_workflow
    for subprocess in list(top.subprocesses.values()):
        if subprocess.completed:
            continue
        owner = top.get_task_from_id(subprocess.parent_task_id)
        if owner is not None and owner.workflow is workflow and not isinstance(owner.task_spec, CallActivity):
            yield from _scope_tasks(subprocess)


def evaluate_with(
    task: Task, expression: str, context: Mapping[str, Any], what: str, element_id: str | None = None
) -> Any:
    """Evaluate a diagram expression against ``context`` (not the task's own data), errors as SpiffWorkflow's.

    ``element_id`` names the diagram element in the error when the expression itself fails.
    """
    environment = task.workflow.script_engine.environment
    try:
        return environment.evaluate(expression, dict(context))
    except SpiffWorkflowException:
        raise
    except Exception as exc:
        if isinstance(exc, LianbanError) and exc.element_id is None:
            exc.element_id = element_id
        message = exc.message_en if isinstance(exc, LianbanError) else str(exc)
        raise WorkflowTaskException(f"Error evaluating {what} '{expression}': {message}", task=task,
                                    exception=exc) from exc
