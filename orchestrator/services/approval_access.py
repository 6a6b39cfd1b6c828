"""Who may do which approval operation: small checks the approval services call under the case lock.

Kept apart so that the accounts framework (roles, departments) decides them in one place. The
rules (issue 6): only the assignee sends back, transfers or decides, and not while the task is
delegated (then only the delegate's resolve is allowed); only whoever completed a step retracts
it; only a department head of the step's department (or an administrator) adds or removes
signers, and a signer added must be an active user.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.auth.principal import Principal
from orchestrator.auth.roles import DEPARTMENT_HEAD
from orchestrator.errors import ConflictError, InvalidRequestError, PermissionDeniedError
from orchestrator.models import Department, HumanTask, User
from orchestrator.services.step_departments import own_department, resolve


def ensure_assignee(task: HumanTask, principal: Principal, action_zh: str) -> str:
    """Only the task's assignee sends back or transfers: not before it is claimed, nor while it is delegated."""
    if task.delegation_state == "PENDING":
        raise ConflictError(
            f"任务已委派给 {task.assignee}，委派期间不能{action_zh}："
            f"须由被委派人完成委派（resolve）交还 {task.owner} 后再办理",
            f"The task is delegated to {task.assignee}; only resolve is allowed until it is resolved",
            code="task.delegated", extra={"assignee": task.assignee, "owner": task.owner})
    if task.assignee is None:
        raise PermissionDeniedError(f"请先签收任务再{action_zh}", "Claim the task first", code="task.not_claimed")
    if task.assignee != principal.username:
        raise PermissionDeniedError(f"只有任务的办理人 {task.assignee} 可以{action_zh}",
                                    f"Only the task's assignee {task.assignee} may do this", code="task.not_assignee")
    return principal.username


def ensure_completed_by(task: HumanTask, principal: Principal) -> str:
    """Only the person who completed a step retracts it."""
    if task.completed_by != principal.username:
        raise PermissionDeniedError("只有办理该环节的人可以撤回",
                                    "Only the person who completed the step may retract it", code="task.not_completer")
    return principal.username


def step_departments(session: Session, task: HumanTask) -> set[str]:
    """The department codes a step belongs to: its candidate groups and the department its `department` property
    names (code or name; of a joint step's list, the one this instance is for: services/step_departments.py)."""
    codes = set(task.candidate_groups or [])
    named = own_department(task.properties, codes)
    codes.update(resolve(session, [named] if named else []).values())
    return codes


def ensure_may_manage_signers(session: Session, task: HumanTask, principal: Principal) -> str:
    """Adding or removing signers is for a department head of the step's department, or an administrator."""
    if principal.is_admin:
        return principal.username
    departments = step_departments(session, task)
    if DEPARTMENT_HEAD not in principal.roles or not principal.act_groups & departments:
        where = "、".join(sorted(departments)) or "（环节未指明部门，仅管理员可操作）"
        raise PermissionDeniedError(f"只有本环节所属部门的负责人可以加签或减签：{where}",
                             "Only a department head of the step's department may add or remove signers",
                             code="countersign.not_department_head")
    return principal.username


def active_user(session: Session, username: str, field: str) -> User:
    """A person a task or a signature is handed to must exist and be active (400 otherwise)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise InvalidRequestError(f"用户不存在或已停用：{username}", f"No active user {username}", field=field)
    return user


def existing_signer(session: Session, signer: str, kind: str) -> None:
    """A signer added to a countersign is an active user, or a department where the step signs per department."""
    if kind == "user":
        active_user(session, signer, "signer")
    elif session.scalar(select(Department.id).where(Department.code == signer)) is None:
        raise InvalidRequestError(f"部门不存在：{signer}（本环节按部门会签，加签应填部门编码）",
                                  f"No department {signer} (this step signs per department)", field="signer")


def groups_of(principal: Principal) -> list[str]:
    """The candidate groups (departments) a user belongs to: where copies to a department arrive."""
    return sorted(set(principal.departments) | principal.act_groups)


def ensure_may_set_proxy(principal: Principal, person: str) -> None:
    """A person sets their own proxy; for someone else it takes an administrator."""
    if person != principal.username and not principal.is_admin:
        raise PermissionDeniedError("只能为本人设置代理（为他人设置需管理员）",
                                    "Only an administrator sets a proxy for someone else")
