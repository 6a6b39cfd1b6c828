"""Object-level checks: may this user see or act on this task, see this case, read this ID number."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.auth.principal import Principal
from orchestrator.auth.roles import ANALYST, APPLICANT, PII_ROLES
from orchestrator.models import CarbonCopy, HumanTask
from orchestrator.services.privacy import mask_id_number, mask_pii, pii_names

__all__ = ["CaseScope", "can_act_on_task", "can_see_task", "can_view_case", "case_scope", "is_applicant_of",
           "mask_id_number", "mask_pii", "may_unmask", "pii_names"]


class TaskLike(Protocol):
    assignee: str | None
    owner: str | None
    candidate_groups: list[str]
    candidate_users: list[str]


class CaseLike(Protocol):
    id: str
    started_by: str | None
    variables: dict[str, Any]


def can_see_task(principal: Principal, task: TaskLike) -> bool:
    if principal.sees_every_group:
        return True
    me = principal.username
    if me in (task.assignee, task.owner) or me in (task.candidate_users or []):
        return True
    assert principal.view_groups is not None
    return bool(principal.view_groups.intersection(task.candidate_groups or []))


def can_act_on_task(principal: Principal, task: TaskLike) -> bool:
    """Claim, complete, delegate: the assignee, or a candidate of an unclaimed task (administrators too)."""
    if principal.is_admin:
        return True
    me = principal.username
    if task.assignee is not None:
        return task.assignee == me or task.owner == me
    if me in (task.candidate_users or []):
        return True
    return bool(principal.act_groups.intersection(task.candidate_groups or []))


def is_applicant_of(principal: Principal, case: CaseLike) -> bool:
    me = principal.username
    return case.started_by == me or (case.variables or {}).get("applicant_username") == me


def can_view_case(session: Session, principal: Principal, case: CaseLike) -> bool:
    """Applicants their own cases; staff and supervisors cases with a task in their reach; anyone a case was
    copied to (抄送, to them or their department)."""
    if principal.sees_every_group:
        return True
    if APPLICANT in principal.roles and is_applicant_of(principal, case):
        return True
    tasks = session.execute(
        select(HumanTask.assignee, HumanTask.owner, HumanTask.completed_by, HumanTask.candidate_groups,
               HumanTask.candidate_users).where(HumanTask.instance_id == case.id)
    ).all()
    for assignee, owner, completed_by, groups, users in tasks:
        if principal.username in (assignee, owner, completed_by) or principal.username in (users or []):
            return True
        if principal.view_groups is not None and principal.view_groups.intersection(groups or []):
            return True
    return _copied_to(session, principal, case.id)


def _copied_to(session: Session, principal: Principal, instance_id: str) -> bool:
    """A case copied (抄送) to the user or to one of their departments may be read by them."""
    groups = set(principal.departments) | principal.act_groups
    addressed = (CarbonCopy.recipient_kind == "user") & (CarbonCopy.recipient == principal.username)
    if groups:
        addressed = addressed | ((CarbonCopy.recipient_kind == "group") & CarbonCopy.recipient.in_(sorted(groups)))
    return session.scalar(select(CarbonCopy.id).where(CarbonCopy.instance_id == instance_id, addressed).limit(1)) \
        is not None


@dataclass(frozen=True)
class CaseScope:
    """Which cases a list may show `user`: as an applicant its own; as staff those with a task of `groups`
    (its departments, or the subtree it oversees) or one it holds, held or completed."""

    user: str
    applicant: bool
    groups: frozenset[str]


def case_scope(principal: Principal) -> CaseScope | None:
    """The reach of case lists, as can_view_case reaches single cases; None: every case (administrators, top
    supervisors, analysts, who read lists of cases to model and measure bundles and never their data)."""
    if principal.sees_every_group or ANALYST in principal.roles:
        return None
    return CaseScope(principal.username, APPLICANT in principal.roles, principal.view_groups or frozenset())


def may_unmask(principal: Principal, case: CaseLike | None) -> bool:
    """Who may read ID numbers in clear (on request, audited): window clerks, department staff and administrators
    (PII_ROLES); applicants their own cases'."""
    if principal.roles & PII_ROLES:
        return True
    return case is not None and APPLICANT in principal.roles and is_applicant_of(principal, case)
