"""Who is asking: the signed-in user with roles, departments and the task groups they reach."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.auth.roles import ADMINISTRATOR, DEPARTMENT_HEAD, DEPARTMENT_STAFF, SUPERVISOR


@dataclass(frozen=True)
class Principal:
    """A signed-in user as the request sees it; built once per request from the database.

    `act_groups` are the candidate groups whose tasks the user may claim and work on; `view_groups`
    those whose tasks the user may read (None: every group, for administrators and top supervisors).
    """

    id: int
    username: str
    display_name: str
    roles: frozenset[str]
    departments: tuple[str, ...]
    act_groups: frozenset[str]
    view_groups: frozenset[str] | None
    district: str | None = None
    via: str = "session"  # session | basic | token

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_admin(self) -> bool:
        return ADMINISTRATOR in self.roles

    @property
    def sees_every_group(self) -> bool:
        return self.view_groups is None


def build_principal(*, user_id: int, username: str, display_name: str, roles: list[str],
                    departments: list[str], subtree: list[str], top_level: bool, district: str | None,
                    via: str) -> Principal:
    """Derive the groups a user reaches: own departments to act, the department subtree to oversee."""
    role_set = frozenset(roles)
    act: set[str] = set()
    if role_set & DEPARTMENT_STAFF:
        act.update(departments)
    if DEPARTMENT_HEAD in role_set:
        act.update(subtree)
    view: frozenset[str] | None = frozenset(act)
    if ADMINISTRATOR in role_set or (SUPERVISOR in role_set and top_level):
        view = None
    elif SUPERVISOR in role_set:
        view = frozenset(act | set(subtree) | set(departments))
    return Principal(user_id, username, display_name, role_set, tuple(departments), frozenset(act), view,
                     district, via)
