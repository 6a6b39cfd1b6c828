"""Variables written to the whole case at once, as Camunda's process scope holds them.

SpiffWorkflow keeps one copy of the data per branch; a join merges the copies and refuses branches that
wrote one variable differently (``runtime._check_join_conflicts``). A value that belongs to the case rather
than to a branch — the result a clerk records for a 二次录入 task on a non-interrupting boundary branch, whose
own copy ends with the branch — is written into every copy that is still to be merged: the case's
``workflow.data`` (the case record once it ends), every task not finished yet (the main flow reads it there),
and the last data of each branch that already waits at a join that has not fired. The copies then agree and
a later case-scope write of the same variable replaces the value everywhere instead of leaving two branches
in conflict.

A copy that holds its own value of such a variable (a branch's form wrote it) is never overwritten silently:
when the copies disagree, the write is refused (409 ``engine.branch_variable_conflict``), as the join would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from orchestrator.engine.joins import branch_arrivals
from orchestrator.errors import EngineError

# Tasks whose data is their own: a predicted (FUTURE, LIKELY, MAYBE) task's data is filled from its parent when
# it becomes ready, so it is written to but not asked what it holds.
_HOLDS_DATA = TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR


def live_copies(tasks: Iterable[Task]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The task data that will still reach a join or the end — unfinished tasks, and the branches that arrived
    at a join that has not fired — and, of those, the copies that hold data of their own."""
    every: dict[int, dict[str, Any]] = {}
    holding: dict[int, dict[str, Any]] = {}
    for task in tasks:
        if task.has_state(TaskState.NOT_FINISHED_MASK):
            every[id(task.data)] = task.data
            if task.has_state(_HOLDS_DATA):
                holding[id(task.data)] = task.data
        if isinstance(task.task_spec, UnstructuredJoin) and task.state == TaskState.WAITING:
            for arrival in [task, *branch_arrivals(task)]:
                if arrival.parent is not None:
                    every[id(arrival.parent.data)] = holding[id(arrival.parent.data)] = arrival.parent.data
    return list(every.values()), list(holding.values())


def _disagree(copies: list[dict[str, Any]], name: str) -> bool:
    """Some copies hold a value of `name` that others do not: a branch wrote its own."""
    return len({repr(copy[name]) if name in copy else "<missing>" for copy in copies}) > 1


def write(workflow_data: dict[str, Any], tasks: Iterable[Task], values: Mapping[str, Any], element_id: str) -> None:
    """Set `values` in every live copy of the case data and in the case's own data; refuse branch-written ones."""
    every, holding = live_copies(tasks)
    conflicts = sorted(name for name in values if _disagree(holding, name))
    if conflicts:
        names = ", ".join(conflicts)
        raise EngineError(
            f"并行分支已各自写入变量 {names}，不能再作为办件变量统一写入（{element_id}）；请为各分支使用不同的变量名",
            f"Parallel branches hold their own values of {names}: it cannot be written to the whole case "
            f"({element_id}); namespace each branch's outputs",
            code="engine.branch_variable_conflict", status=409, element_id=element_id,
            extra={"variables": conflicts},
        )
    for data in [workflow_data, *every]:
        data.update(values)


__all__ = ["live_copies", "write"]
