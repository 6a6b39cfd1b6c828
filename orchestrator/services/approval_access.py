"""Who may do which approval operation: small checks the approval services call.

Kept apart so that the accounts framework (roles, departments) decides them in one place.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from orchestrator.errors import LianbanError
from orchestrator.models import HumanTask


class ForbiddenError(LianbanError):
    status = 403
    code = "auth.forbidden"


def ensure_assignee(task: HumanTask, actor: str | None, action_zh: str) -> str:
    """Only the task's assignee sends back, transfers, or decides; an unclaimed task must be claimed first."""
    if actor is None:
        raise ForbiddenError(f"{action_zh}需要登录", f"Signing in is required to {action_zh}", code="auth.required")
    if task.assignee is None:
        raise ForbiddenError(f"请先签收任务再{action_zh}", "Claim the task first", code="task.not_claimed")
    if task.assignee != actor:
        raise ForbiddenError(f"只有任务的办理人可以{action_zh}", "Only the task's assignee may do this")
    return actor


def ensure_completed_by(task: HumanTask, actor: str | None) -> str:
    """Only the person who completed a step retracts it."""
    if actor is None or task.completed_by != actor:
        raise ForbiddenError("只有办理该环节的人可以撤回", "Only the person who completed the step may retract it")
    return actor


def ensure_may_manage_signers(task: HumanTask, actor: str | None) -> str:
    """Adding or removing signers is for a department head of the step (or the current signer's head)."""
    if actor is None:
        raise ForbiddenError("加签/减签需要登录", "Signing in is required", code="auth.required")
    return actor


def ensure_signed_in(actor: str | None, action_zh: str) -> str:
    if actor is None:
        raise ForbiddenError(f"{action_zh}需要登录", f"Signing in is required to {action_zh}", code="auth.required")
    return actor


def groups_of(session: Session, user: str) -> list[str]:
    """The candidate groups (departments, roles) a user belongs to: where copies to a department arrive."""
    return []


def is_administrator(session: Session, user: str) -> bool:
    return False


def ensure_may_set_proxy(session: Session, actor: str, principal: str) -> None:
    """A person sets their own proxy; for someone else it takes an administrator or a department head."""
    if principal != actor and not is_administrator(session, actor):
        raise ForbiddenError("只能为本人设置代理", "Only an administrator sets a proxy for someone else")
