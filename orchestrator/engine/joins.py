"""Joins that merge branch data as one shared scope would (parallel, inclusive, end of a scope).

SpiffWorkflow copies the data into each branch and, at a join, lets the branch that arrives last
overwrite everything: a variable one branch changed is reset by another branch's stale copy. In
Camunda 7 all branches write one scope. Here a join keeps, for each variable, the value of the
branch that wrote it (changed it compared with the data where the branches parted); branches that
wrote different values are refused before the join runs (``runtime._check_join_conflicts``).

:class:`ScopeEndJoin` ends every process and sub-process: it also lets waiting event sub-process
triggers go (they never keep a scope open) and cancels them when the scope completes.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.control import _EndJoin
from SpiffWorkflow.bpmn.specs.defaults import InclusiveGateway, ParallelGateway
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskIterator, TaskState

_MISSING = object()


def branch_arrivals(my_task: Task) -> list[Task]:
    """The other finished instances of ``my_task``'s join spec that belong to this activation of the join.

    Instances finished before an earlier firing of the same join on this path (a loop) are excluded.
    """
    spec = my_task.task_spec
    same = [t for t in my_task.workflow.tasks.values() if t.task_spec == spec and t is not my_task]
    previous = [t.last_state_change for t in same if t.state == TaskState.COMPLETED and my_task.is_descendant_of(t)]
    since = max(previous, default=float("-inf"))
    return [
        t
        for t in same
        if t.has_state(TaskState.FINISHED_MASK) and not my_task.is_descendant_of(t) and t.last_state_change > since
    ]


def common_ancestor_data(tasks: list[Task]) -> dict[str, Any]:
    """The data of the nearest task that is an ancestor of (or one of) all ``tasks``."""
    chains = []
    for task in tasks:
        chain = []
        node: Task | None = task
        while node is not None:
            chain.append(node)
            node = node.parent
        chains.append(chain)
    if not chains:
        return {}
    shared = {t.id for t in chains[0]}
    for chain in chains[1:]:
        shared &= {t.id for t in chain}
    return next((dict(node.data) for node in chains[0] if node.id in shared), {})


def merge_branch_data(my_task: Task) -> None:
    """Give the join task the data of its own branch plus what each other branch wrote."""
    arrivals = branch_arrivals(my_task)
    own = my_task.parent
    others = sorted((t.parent for t in arrivals if t.parent is not None), key=lambda t: t.last_state_change)
    if own is None:
        return
    base = common_ancestor_data([own, *others])
    merged = deepcopy(own.data)
    for parent in others:
        for key, value in parent.data.items():
            written = base.get(key, _MISSING) != value
            own_unchanged = own.data.get(key, _MISSING) == base.get(key, _MISSING)
            if written and own_unchanged:
                merged[key] = deepcopy(value)
    for task in arrivals:
        if task.state == TaskState.COMPLETED:
            task._drop_children(force=True)
    my_task.data = merged


class LianbanParallelGateway(ParallelGateway):  # type: ignore[misc]
    def _run_hook(self, my_task: Task) -> bool:
        merge_branch_data(my_task)
        return True


class LianbanInclusiveGateway(InclusiveGateway):  # type: ignore[misc]
    def _run_hook(self, my_task: Task) -> bool:
        merge_branch_data(my_task)
        matches, defaults = self._get_matching_outputs(my_task)
        if not matches and not defaults:
            raise WorkflowTaskException("No conditions satisfied on gateway", task=my_task)
        my_task._sync_children(matches or defaults, TaskState.FUTURE)
        for child in my_task.children:
            child.task_spec._predict(child, mask=TaskState.FUTURE | TaskState.PREDICTED_MASK)
        return True


class ScopeEndJoin(_EndJoin):  # type: ignore[misc]
    """The end of a process or sub-process: waits for every path, not for event sub-process triggers."""

    def _check_threshold_unstructured(self, my_task: Task) -> bool:
        from orchestrator.engine.event_subprocess import EventSubprocessTrigger  # imports this module

        for task in TaskIterator(my_task.workflow.task_tree, state=TaskState.NOT_FINISHED_MASK, end_at_spec=self.name):
            if task is my_task:
                continue
            if isinstance(task.task_spec, EventSubprocessTrigger) and task.state == TaskState.WAITING:
                continue
            return False
        return True

    def _run_hook(self, my_task: Task) -> bool:
        from orchestrator.engine.event_subprocess import EventSubprocessTrigger

        for task in list(my_task.workflow.tasks.values()):
            if isinstance(task.task_spec, EventSubprocessTrigger) and not task.has_state(TaskState.FINISHED_MASK):
                task.cancel()
        merge_branch_data(my_task)
        my_task.workflow.data.update(my_task.data)
        return True
