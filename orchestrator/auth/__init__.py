"""Accounts and permissions: who is asking (`current_user`), who may call what (`permission`, policy).

Usage in a blueprint:

    from orchestrator.auth import current_user, permission
    from orchestrator.auth.roles import REVIEWER

    @blueprint.post("/api/tasks/<task_id>/claim")
    @permission(roles=[REVIEWER], scope="task")
    def claim(task_id: str) -> ...

or, for a blueprint that does not decorate its views, an entry in `auth.policy.ENDPOINT_RULES`.
An endpoint declared nowhere is for administrators only.
"""

from orchestrator.auth.access import can_act_on_task, can_see_task, can_view_case, mask_pii
from orchestrator.auth.guard import current_user, require_user
from orchestrator.auth.policy import ENDPOINT_RULES, Rule, permission
from orchestrator.auth.principal import Principal

__all__ = [
    "ENDPOINT_RULES",
    "Principal",
    "Rule",
    "can_act_on_task",
    "can_see_task",
    "can_view_case",
    "current_user",
    "mask_pii",
    "permission",
    "require_user",
]
