"""Send back (退回) and retract (撤回) on the engine's task tree; no Flask, no SQL.

SpiffWorkflow keeps a case as a tree of task instances: a parallel split has one subtree per
branch, and a branch's later steps are descendants of its earlier ones. So rewinding one branch
means replacing the subtree that starts at the target step, and nothing else:

- ``rewind_branch`` (the default, inside one branch): the target step's subtree is removed and a
  fresh instance of the step (new id, so history keeps the first one) is put in its place under
  the same parent. Tasks of other branches, their data, their timers and their waiting join tokens
  are not touched; the rewound step carries the branch's latest data, so nothing the branch
  recorded is lost and the step overwrites what it submits again.
- ``reset_across`` (explicit, to a step before the split, e.g. intake): SpiffWorkflow's
  ``reset_from_task_id``, which drops everything downstream of the target, every branch included;
  that is exactly what is wanted there. ``undone_by`` lists what it will undo, for the preview.

Targets are completed user tasks on the path from the sender back through the tree. Walking up
stops being "in the branch" at a split (parallel or inclusive gateway, an implicit split, a
multi-instance body) or a join. A diagram narrows the targets with the user task property
``sendBack.targets`` (comma-separated activity ids).
"""

from __future__ import annotations

from collections.abc import Iterator
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from SpiffWorkflow.bpmn.specs.control import BoundaryEventJoin, BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.defaults import InclusiveGateway, ParallelGateway
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from orchestrator.engine.multi_instance import CamundaMultiInstance
from orchestrator.errors import ConflictError, InvalidRequestError

TARGETS_PROPERTY = "sendBack.targets"  # on the sender: comma-separated activity ids it may send back to
ASSIGN_PROPERTY = "sendBack.assignTo"  # on the target: previous (default, who did it) | candidates (the pool)
ASSIGN_POLICIES = ("previous", "candidates")


def send_back_property_problem(name: str | None, value: str | None, user_tasks: set[str]) -> tuple[str, str] | None:
    """Why a diagram's send-back property is wrong (zh, en), checked at deployment; None when it is fine."""
    if name == ASSIGN_PROPERTY and (value or "").strip() not in ASSIGN_POLICIES:
        return (f"sendBack.assignTo 应为 previous（退回给原办理人）或 candidates（退回到候选人待领），实际为“{value}”",
                f"sendBack.assignTo must be previous or candidates, not {value!r}")
    if name == TARGETS_PROPERTY:
        targets = [t.strip() for t in (value or "").split(",") if t.strip()]
        unknown = [t for t in targets if t not in user_tasks]
        if not targets or unknown:
            listed = "、".join(unknown) or "（空）"
            return (f"sendBack.targets 只能列出本流程中的用户任务 id（以逗号分隔），以下不是：{listed}",
                    f"sendBack.targets must list user task ids of the process; not user tasks: {unknown or value!r}")
    return None


@dataclass(frozen=True)
class SendBackTarget:
    """A completed user task the case may be sent back to."""

    task_id: str
    activity_id: str
    name: str | None
    across_split: bool  # before the sender's branch began: explicit, with a preview


@dataclass
class Undone:
    """What a send-back would undo: open and completed user tasks, jobs and timers downstream of the target."""

    open_user_tasks: list[dict[str, Any]] = field(default_factory=list)
    completed_user_tasks: list[dict[str, Any]] = field(default_factory=list)
    waiting: list[dict[str, Any]] = field(default_factory=list)


def _properties(task: Task) -> dict[str, Any]:
    return dict((getattr(task.task_spec, "extensions", None) or {}).get("properties") or {})


def _is_user_task(task: Task) -> bool:
    return bool(task.task_spec.manual) and getattr(task.task_spec, "bpmn_id", None) is not None


def _is_instance(task: Task) -> bool:
    return task.parent is not None and isinstance(task.parent.task_spec, CamundaMultiInstance)


def _starts_branches(task: Task) -> bool:
    """A node below which the tree holds several branches: walking above it leaves the sender's branch."""
    spec = task.task_spec
    if isinstance(spec, (ParallelGateway, InclusiveGateway, CamundaMultiInstance, UnstructuredJoin)):
        return True
    if isinstance(spec, BoundaryEventSplit):
        return False
    # A step with boundary events (the time-limit timers) has the merge of its boundary events as a
    # child next to its outgoing flow: that merge is not a branch, so the step does not split.
    taken = [c for c in task.children if not c.has_state(TaskState.PREDICTED_MASK)
             and not isinstance(c.task_spec, BoundaryEventJoin)]
    return len(taken) > 1


def _ancestors(task: Task) -> Iterator[Task]:
    node = task.parent
    while node is not None:
        yield node
        node = node.parent


def send_back_targets(sender: Task) -> list[SendBackTarget]:
    """Completed user tasks on the sender's path, nearest first; one per activity (its latest run)."""
    allowed_raw = _properties(sender).get(TARGETS_PROPERTY)
    allowed = {a.strip() for a in str(allowed_raw).split(",") if a.strip()} if allowed_raw else None
    targets: list[SendBackTarget] = []
    seen: set[str] = set()
    inside = not _is_instance(sender)
    for node in _ancestors(sender):
        if _starts_branches(node):
            inside = False
        if node.state != TaskState.COMPLETED or not _is_user_task(node) or _is_instance(node):
            continue
        activity = str(node.task_spec.bpmn_id)
        if activity in seen or activity == sender.task_spec.bpmn_id:
            seen.add(activity)
            continue
        seen.add(activity)
        if allowed is not None and activity not in allowed:
            continue
        targets.append(SendBackTarget(str(node.id), activity, node.task_spec.bpmn_name, not inside))
    return targets


def find_target(sender: Task, target_activity: str) -> SendBackTarget:
    for target in send_back_targets(sender):
        if target.activity_id == target_activity:
            return target
    raise InvalidRequestError(
        f"不能退回到环节 {target_activity}：它不是本环节之前已办理的步骤，或流程图不允许退回到该环节",
        f"{target_activity} is not an allowed send-back target of {sender.task_spec.bpmn_id}",
        code="approval.send_back_target", field="target", element_id=target_activity,
    )


def undone_by(target: Task) -> Undone:
    """Everything below the target in the tree (every branch, when the target is before a split)."""
    undone = Undone()
    for task in _subtree(target):
        spec = task.task_spec
        activity = getattr(spec, "bpmn_id", None)
        if activity is None:
            continue
        entry = {"task_id": str(task.id), "activity_id": activity, "name": spec.bpmn_name}
        if _is_user_task(task) and task.state == TaskState.READY:
            undone.open_user_tasks.append(entry)
        elif _is_user_task(task) and task.state == TaskState.COMPLETED:
            undone.completed_user_tasks.append(entry)
        elif task.state in (TaskState.WAITING, TaskState.STARTED, TaskState.READY) and not spec.manual \
                and not isinstance(spec, UnstructuredJoin):
            undone.waiting.append(entry)
    return undone


def _subtree(task: Task) -> Iterator[Task]:
    """The task, its descendants, and the tasks of subprocesses started below it."""
    workflow = task.workflow.top_workflow
    for node in task:
        yield node
        sub = workflow.subprocesses.get(node.id)
        if sub is not None:
            yield from sub.task_tree


def rewind_branch(target: Task, data: dict[str, Any]) -> Task:
    """Replace the target's subtree (its branch from the target on) by a fresh target step with `data`.

    Returns the fresh node: the step itself, or the split of its boundary events when it has some.
    """
    node = target.parent if isinstance(target.parent.task_spec, BoundaryEventSplit) else target
    data = deepcopy(data)
    workflow = node.workflow
    parent = node.parent
    position = parent._children.index(node.id)
    top = workflow.top_workflow
    for task in list(node):
        if task.id in top.subprocesses:
            top.delete_subprocess(task)
    workflow._remove_task(node.id)
    fresh = parent._add_child(node.task_spec, TaskState.FUTURE)
    parent._children.remove(fresh.id)
    parent._children.insert(position, fresh.id)
    fresh.task_spec._predict(fresh, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE)  # as reset_branch does
    fresh.task_spec._update(fresh)
    fresh.data = data
    _forget_removed(top)
    return fresh


def reset_across(target: Task, data: dict[str, Any]) -> Task:
    """Reset the case to a step before the split with SpiffWorkflow's reset (every branch is dropped).

    The reset step and its boundary events get fresh ids, so that the history keeps their first run.
    """
    top = target.workflow.top_workflow
    top.reset_from_task_id(target.id, data=deepcopy(data))
    renewed = [target]
    if isinstance(target.parent.task_spec, BoundaryEventSplit):
        renewed = list(target.parent.children)
    for task in renewed:
        _renew_id(task)
    _forget_removed(top)
    return target


def _renew_id(task: Task) -> None:
    workflow = task.workflow
    parent = task.parent
    old = task.id
    position = parent._children.index(old)
    workflow.tasks.pop(old)
    task.id = uuid4()
    workflow.tasks[task.id] = task
    parent._children[position] = task.id
    for child in task.children:
        child._parent = task.id


def _forget_removed(top: Any) -> None:
    """Event catches of removed tasks must not stay registered with the event manager."""
    manager = top.event_manager
    manager.tasks = {key: task for key, task in manager.tasks.items() if task.workflow.tasks.get(task.id) is task}


def open_step_below(node: Task, activity_id: str) -> Task | None:
    """After the engine ran on: the open user task of `activity_id` at or below a rewound node."""
    for task in node:
        if _is_user_task(task) and task.state == TaskState.READY and task.task_spec.bpmn_id == activity_id:
            return task
    return None


def retract_blocker(done: Task) -> str | None:
    """Why the step `done` can no longer be taken back (None: it can).

    Refused once anything after it was completed: a user task, a department's external task, or a
    join that has fired (the flow went on past the merge). A diverging gateway right after the step is
    no merge: SpiffWorkflow's gateways are joins with one input there, and they fire at once.
    """
    for task in _subtree(done):
        if task is done:
            continue
        spec = task.task_spec
        if isinstance(spec, UnstructuredJoin) and len(spec.inputs) > 1 and _join_fired_after(task):
            return "join"
        if task.state != TaskState.COMPLETED or getattr(spec, "bpmn_id", None) is None:
            continue
        if _is_user_task(task) or (getattr(spec, "extensions", {}) or {}).get("type") == "external":
            return "completed"
    return None


def _join_fired_after(token: Task) -> bool:
    """Whether the join a branch's token reached has fired since (a token waiting there has not)."""
    if token.state == TaskState.COMPLETED:
        return True
    if token.state != TaskState.CANCELLED:
        return False  # still waiting
    return any(t.task_spec is token.task_spec and t.state == TaskState.COMPLETED
               and t.last_state_change >= token.last_state_change for t in token.workflow.tasks.values())


def open_user_tasks_below(done: Task) -> list[Task]:
    return [t for t in _subtree(done) if t is not done and _is_user_task(t) and t.state == TaskState.READY]


def check_same_branch(sender: Task, target: Task) -> None:
    node = target.parent if isinstance(target.parent.task_spec, BoundaryEventSplit) else target
    if not sender.is_descendant_of(node):
        raise ConflictError("退回目标不在本分支上", "The target is not on the sender's branch",
                            code="approval.send_back_target")
