"""Row-level checks of the form, draft, material, report and supervision routes: this task, this case, this ID
number, these departments.

The route's role rule is declared with `@permission` (auth/policy.py); these answer the question the
rule cannot, with the row already loaded: may this user work on this task (a draft, an upload), see
this case (a download), read personal ID numbers in clear.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from orchestrator.auth import can_act_on_task, can_see_task, can_view_case, require_user
from orchestrator.auth.access import may_unmask, pii_names
from orchestrator.errors import NotFoundError, PermissionDeniedError
from orchestrator.models import HumanTask, ProcessInstance
from orchestrator.services.audit import record_event
from orchestrator.services.privacy import mask_document
from orchestrator.web.apidoc import query_param
from orchestrator.web.request_args import query_bool

# The `unmask` query parameter of every read of one case's data (OpenAPI).
UNMASK_PARAM = query_param("unmask", "true：身份证号显示原文（仅办理人员、系统管理员与申请人本人；每次记入审计 "
                           "pii.viewed），默认脱敏", {"type": "boolean"})


def require_task_access(session: Session, task: HumanTask, act: bool) -> None:
    """Refuse (403) a caller who may not see (`act=False`) or work on (`act=True`) this task."""
    principal = require_user()
    if not can_see_task(principal, task):
        raise PermissionDeniedError("无权查看或办理该任务（不属于您的部门）", "This task is outside your departments",
                                    field="task_id")
    if act and not can_act_on_task(principal, task):
        raise PermissionDeniedError("只有该任务的办理人（或未认领任务的候选人）可以操作",
                                    "Only the assignee (or a candidate of an unclaimed task) may do this",
                                    code="task.not_assignee", field="task_id")


def require_case_access(session: Session, instance_id: str) -> ProcessInstance:
    """Refuse (403) a caller who may not see this case; 404 for an unknown one."""
    case = session.get(ProcessInstance, instance_id)
    if case is None:
        raise NotFoundError(f"办件不存在：{instance_id}", f"No process instance with id {instance_id}", field="id")
    if not can_view_case(session, require_user(), case):
        raise PermissionDeniedError("无权查看该办件", "This case is outside your scope", field="instance_id")
    return case


def case_data_for_viewer(session: Session, instance_id: str, data: Any, via: str) -> Any:
    """Case data (or a report of one case) as this caller may see it: personal ID numbers masked
    (services/privacy.py) unless the request asks `?unmask=true`.

    Asking is allowed to those with a need (may_unmask: window clerks, department staff and administrators, an
    applicant for its own case) and refused to everyone else (403 `pii.unmask_denied`); every view in clear is
    an audit event `pii.viewed` on the global chain, naming the case, the variables (the report's parts) that
    held a number and the route (`via`).
    """
    names = pii_names(data if isinstance(data, Mapping) else {"items": data})
    if not query_bool("unmask"):
        return mask_document(data) if names else data
    principal = require_user()
    if not may_unmask(principal, session.get(ProcessInstance, instance_id)):
        raise PermissionDeniedError("您无权查看完整的身份证号（仅限办理人员、系统管理员与申请人本人）",
                                    "You may not see personal ID numbers in clear", code="pii.unmask_denied",
                                    field="unmask")
    if names:
        record_event(session, None, "pii.viewed", principal.username,
                     {"instance_id": instance_id, "variables": names, "via": via})
    return data


def masked(document: Any) -> Any:
    """A read of many cases (copies, notifications, lists): ID numbers masked, never shown in clear."""
    return mask_document(document)


def own_departments() -> frozenset[str] | None:
    """The departments whose supervision lists the caller reads: its own and those below (None: every one, for
    administrators and city-level supervisors; `Principal.view_groups`)."""
    return require_user().view_groups
