"""Claim, unclaim, delegate, resolve and set the assignee of a task; only the assignee completes.

Each operation locks the task's case row (its audit chain lives there), then changes the task with
a conditional UPDATE through `task_rows.change_tasks`: of many people claiming one task at once,
exactly one UPDATE finds it unclaimed; the others get a 409 naming who holds it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from orchestrator.auth.access import can_act_on_task, can_see_task
from orchestrator.auth.principal import Principal
from orchestrator.errors import ConflictError, InvalidRequestError, NotFoundError, PermissionDeniedError
from orchestrator.models import HumanTask, User
from orchestrator.services import approval_access, case_store, task_rows
from orchestrator.services.audit import record_event
from orchestrator.services.case_store import CaseRecord
from orchestrator.services.signin import load_principal

_TASKS: Table = HumanTask.__table__  # type: ignore[assignment]


def _not_found(task_id: str) -> NotFoundError:
    return NotFoundError(f"任务不存在：{task_id}", f"No task with id {task_id}", field="id")


def lock_task(session: Session, task_id: str, principal: Principal | None) -> tuple[CaseRecord, HumanTask]:
    """Lock the case that owns the task, then read the task as it is now (open, and visible to the caller)."""
    case = case_store.lock_owner_of(session, _TASKS, task_id)
    if case is None:
        raise _not_found(task_id)
    task = session.get(HumanTask, task_id, populate_existing=True)
    if task is None:
        raise _not_found(task_id)
    if principal is not None and not can_see_task(principal, task):
        raise PermissionDeniedError("无权查看或办理该任务（不属于您的部门）", "This task is outside your departments",
                                    field="id")
    if task.state != task_rows.OPEN:
        raise ConflictError("任务已办结或已取消", "Task is already completed or canceled", code="task.not_open")
    return case, task


def _held_by(task: HumanTask) -> ConflictError:
    return ConflictError(f"任务已被 {task.assignee} 认领", f"Task is already claimed by {task.assignee}",
                         code="task.already_claimed", extra={"assignee": task.assignee})


def _audit(session: Session, case: CaseRecord, event_type: str, actor: str, payload: dict[str, Any]) -> None:
    record_event(session, case, event_type, actor, payload)
    case_store.save(session, case)  # writes the case's new audit chain head


def _claim(session: Session, case: CaseRecord, task: HumanTask, user: str, actor: str) -> None:
    changed = task_rows.change_tasks(session, HumanTask.id == task.id, {"assignee": user},
                                     only_if=HumanTask.assignee.is_(None))
    if not changed:
        session.refresh(task)
        raise _held_by(task)
    _audit(session, case, "task.claimed", actor, {"task_id": task.id, "activity_id": task.activity_id,
                                                  "assignee": user})


def claim_task(session: Session, task_id: str, principal: Principal, user_id: str | None = None) -> None:
    """Take an unclaimed task (Camunda: `userId` may name the caller; administrators may name anyone)."""
    target = user_id or principal.username
    if target != principal.username and not principal.is_admin:
        raise PermissionDeniedError("只能为自己认领任务", "You can claim a task only for yourself", field="userId")
    case, task = lock_task(session, task_id, principal)
    if task.assignee is not None:
        if task.assignee == target:
            return  # claiming twice is harmless (Camunda answers 204 as well)
        raise _held_by(task)
    if not can_act_on_task(principal, task):
        raise PermissionDeniedError("您不是该任务的候选人，不能认领", "You are not a candidate for this task",
                                    field="id")
    _claim(session, case, task, target, principal.username)


def _heads_task(principal: Principal, task: HumanTask) -> bool:
    """A department head (or administrator) over one of the task's candidate groups."""
    if principal.is_admin:
        return True
    return "department_head" in principal.roles and bool(principal.act_groups & set(task.candidate_groups or []))


def unclaim_task(session: Session, task_id: str, principal: Principal) -> None:
    """Give a task back to its queue: the assignee, or a head of its department."""
    case, task = lock_task(session, task_id, principal)
    if task.assignee is None:
        return
    if task.assignee != principal.username and not _heads_task(principal, task):
        raise PermissionDeniedError("只有办理人或部门负责人可以退回认领", "Only the assignee or a department head "
                                    "may unclaim", field="id")
    previous = task.assignee
    task_rows.change_tasks(session, HumanTask.id == task.id, {"assignee": None, "owner": None,
                                                              "delegation_state": None})
    _audit(session, case, "task.unclaimed", principal.username, {"task_id": task.id, "previous": previous})


def _active_user(session: Session, username: str | None, field: str) -> User:
    if not username:
        raise InvalidRequestError("缺少用户 userId", "userId is required", field=field)
    return approval_access.active_user(session, username, field)


def set_assignee(session: Session, task_id: str, principal: Principal, user_id: str | None) -> None:
    """A department head assigns (or, with no user, unassigns) a task of its departments to one of its staff."""
    case, task = lock_task(session, task_id, principal)
    if not _heads_task(principal, task):
        raise PermissionDeniedError("只有该任务所属部门的负责人可以指定办理人",
                                    "Only a head of the task's department may set its assignee", field="id")
    if user_id is None:
        unclaim_task(session, task_id, principal)
        return
    target = _active_user(session, user_id, "userId")
    if not can_act_on_task(load_principal(session, target, "session"), _unassigned_view(task)):
        raise InvalidRequestError(f"{user_id} 不是该任务的候选人（不在其部门）",
                                  f"{user_id} is not a candidate for this task", field="userId")
    previous = task.assignee
    task_rows.change_tasks(session, HumanTask.id == task.id, {"assignee": target.username, "owner": None,
                                                              "delegation_state": None})
    _audit(session, case, "task.assigned", principal.username,
           {"task_id": task.id, "assignee": target.username, "previous": previous})


class _TaskView:
    """The task as if nobody held it: whether someone could take it at all."""

    def __init__(self, task: HumanTask) -> None:
        self.assignee: str | None = None
        self.owner: str | None = None
        self.candidate_groups = list(task.candidate_groups or [])
        self.candidate_users = list(task.candidate_users or [])


def _unassigned_view(task: HumanTask) -> _TaskView:
    return _TaskView(task)


def delegate_task(session: Session, task_id: str, principal: Principal, user_id: str | None,
                  reason: str | None = None) -> None:
    """The assignee hands the task to someone for an opinion; it comes back with `resolve` (Camunda delegation)."""
    case, task = lock_task(session, task_id, principal)
    if task.assignee != principal.username and not principal.is_admin:
        raise PermissionDeniedError("只有办理人可以委派任务", "Only the assignee may delegate", field="id")
    target = _active_user(session, user_id, "userId")
    owner = task.owner or task.assignee or principal.username
    task_rows.change_tasks(session, HumanTask.id == task.id, {"assignee": target.username, "owner": owner,
                                                              "delegation_state": "PENDING"})
    _audit(session, case, "task.delegated", principal.username,
           {"task_id": task.id, "activity_id": task.activity_id, "delegate": target.username, "owner": owner,
            "reason": (reason or "").strip() or None})


def resolve_task(session: Session, task_id: str, principal: Principal, reason: str | None = None) -> CaseRecord:
    """The delegate gives the task back to its owner."""
    case, task = lock_task(session, task_id, principal)
    if task.delegation_state != "PENDING":
        raise ConflictError("该任务没有待处理的委派", "Task has no pending delegation", code="task.not_delegated")
    if task.assignee != principal.username and not principal.is_admin:
        raise PermissionDeniedError("只有被委派人可以完成委派", "Only the delegate may resolve", field="id")
    task_rows.change_tasks(session, HumanTask.id == task.id, {"assignee": task.owner,
                                                              "delegation_state": "RESOLVED"})
    _audit(session, case, "task.resolved", principal.username, {
        "task_id": task.id, "activity_id": task.activity_id, "delegate": principal.username, "owner": task.owner,
        "reason": (reason or "").strip() or None})
    return case


def ensure_can_complete(session: Session, case: CaseRecord, task_id: str, principal: Principal) -> None:
    """Only the assignee completes. An unclaimed task is claimed for a candidate in the same transaction first.

    Called under the case's row lock by every completion path (Camunda complete/submit-form, forms).
    A task delegated and not yet resolved cannot be completed (Camunda refuses it as well).
    """
    task = session.get(HumanTask, task_id, populate_existing=True)
    if task is None or task.state != task_rows.OPEN:
        raise ConflictError("任务已办结或已取消", "Task is already completed or canceled", code="task.not_open")
    if not can_see_task(principal, task):
        raise PermissionDeniedError("无权办理该任务（不属于您的部门）", "This task is outside your departments",
                                    field="id")
    if task.assignee is None:
        if not can_act_on_task(principal, task):
            raise PermissionDeniedError("您不是该任务的候选人", "You are not a candidate for this task", field="id")
        _claim(session, case, task, principal.username, principal.username)
        return
    if task.delegation_state == "PENDING":
        raise ConflictError("任务已委派，须由被委派人完成委派后再办理", "Task is delegated; resolve it first",
                            code="task.delegated")
    if task.assignee != principal.username:
        raise PermissionDeniedError(f"只有办理人 {task.assignee} 可以办理该任务",
                                    f"Only the assignee {task.assignee} may complete this task",
                                    code="task.not_assignee", field="id")
