"""Who may call which endpoint: a declaration per endpoint, deny by default.

A view declares its rule with `@permission(...)`; blueprints that do not decorate their views (the
Camunda REST subset, or a colleague's blueprint) are declared here in ENDPOINT_RULES by endpoint
name. An endpoint with no declaration is for administrators only. Object-level checks (this task,
this case) follow the rule's `scope`: the before-request guard applies them, services repeat what
depends on the state they lock (only the assignee completes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from orchestrator.auth.principal import Principal
from orchestrator.auth.roles import (
    ADMINISTRATOR,
    ANALYST,
    APPLICANT,
    DEPARTMENT_HEAD,
    REVIEWER,
    ROLES,
    SUPERVISOR,
    WINDOW_CLERK,
)

SCOPES = ("task", "case")


@dataclass(frozen=True)
class Rule:
    """`public`: anyone; `signed_in`: any user; otherwise one of `roles` (administrators always).

    `scope="task"` checks the route's `task_id` against can_see_task, `scope="case"` the route's
    `instance_id` / `case_id` against can_view_case.
    """

    roles: frozenset[str] = frozenset()
    public: bool = False
    signed_in: bool = False
    scope: str | None = None

    def allows(self, principal: Principal | None) -> bool:
        if self.public:
            return True
        if principal is None:
            return False
        return self.signed_in or principal.is_admin or bool(principal.roles & self.roles)


ADMIN_ONLY = Rule(roles=frozenset({ADMINISTRATOR}))
F = TypeVar("F", bound=Callable[..., Any])


def rule(*roles: str, scope: str | None = None, public: bool = False, signed_in: bool = False) -> Rule:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown roles {unknown}")
    if scope is not None and scope not in SCOPES:
        raise ValueError(f"unknown scope {scope}")
    return Rule(frozenset(roles), public, signed_in, scope)


def permission(roles: Iterable[str] = (), *, scope: str | None = None, public: bool = False,
               signed_in: bool = False) -> Callable[[F], F]:
    """Declare who may call a view: `@permission(roles=[REVIEWER], scope="task")`, `public=True`, `signed_in=True`."""
    declared = rule(*roles, scope=scope, public=public, signed_in=signed_in)

    def mark(view: F) -> F:
        view.lianban_rule = declared  # type: ignore[attr-defined]
        return view

    return mark


STAFF = (WINDOW_CLERK, REVIEWER, DEPARTMENT_HEAD)
READERS = (*STAFF, SUPERVISOR)

# Endpoints of blueprints that do not decorate their views, by Flask endpoint name.
ENDPOINT_RULES: dict[str, Rule] = {
    "static": rule(public=True),
    "pages.health": rule(public=True),
    "pages.index": rule(signed_in=True),
    "pages.task_page": rule(*READERS, scope="task"),
    "openapi.openapi_json": rule(public=True),
    "openapi.docs_page": rule(public=True),
    "openapi.swagger_assets": rule(public=True),
    # Camunda 7 REST: engine and definitions
    "engine_rest.engines": rule(signed_in=True),
    "engine_rest.version": rule(signed_in=True),
    "engine_rest.create_deployment": rule(ANALYST),
    "engine_rest.list_process_definitions": rule(signed_in=True),
    "engine_rest.count_process_definitions": rule(signed_in=True),
    "engine_rest.get_process_definition": rule(signed_in=True),
    "engine_rest.get_process_definition_by_key": rule(signed_in=True),
    "engine_rest.get_process_definition_xml": rule(signed_in=True),
    "engine_rest.get_process_definition_xml_by_key": rule(signed_in=True),
    "engine_rest.start_by_id": rule(APPLICANT, WINDOW_CLERK),
    "engine_rest.start_by_key": rule(APPLICANT, WINDOW_CLERK),
    # cases
    "engine_rest.list_process_instances": rule(APPLICANT, SUPERVISOR),
    "engine_rest.count_process_instances": rule(APPLICANT, SUPERVISOR),
    "engine_rest.get_process_instance": rule(APPLICANT, *READERS, scope="case"),
    "engine_rest.get_variables": rule(APPLICANT, *READERS, scope="case"),
    "engine_rest.get_variable": rule(APPLICANT, *READERS, scope="case"),
    "engine_rest.history_process_instance": rule(APPLICANT, *READERS, scope="case"),
    "engine_rest.history_process_instances": rule(SUPERVISOR, ANALYST),
    "engine_rest.history_activity_instances": rule(SUPERVISOR, ANALYST),
    "engine_rest.list_incidents": rule(SUPERVISOR, ANALYST),
    # delete, suspend and variable changes stay with administrators (no entry)
    # tasks: lists are filtered to the caller's scope; one task needs can_see_task
    "engine_rest.list_tasks": rule(*READERS),
    "engine_rest.count_tasks": rule(*READERS),
    "engine_rest.get_task": rule(*READERS, scope="task"),
    "engine_rest.task_variables": rule(*READERS, scope="task"),
    "engine_rest.complete_task": rule(*STAFF, scope="task"),
    "engine_rest.claim_task": rule(*STAFF, scope="task"),
    "engine_rest.unclaim_task": rule(*STAFF, scope="task"),
    "engine_rest.delegate_task": rule(*STAFF, scope="task"),
    "engine_rest.resolve_task": rule(*STAFF, scope="task"),
    "engine_rest.set_assignee": rule(DEPARTMENT_HEAD, scope="task"),
    # department systems sign in as department staff
    "engine_rest.correlate_message": rule(*STAFF),
    "engine_rest.fetch_and_lock": rule(REVIEWER, DEPARTMENT_HEAD),
    "engine_rest.list_external_tasks": rule(REVIEWER, DEPARTMENT_HEAD, SUPERVISOR),
    "engine_rest.count_external_tasks": rule(REVIEWER, DEPARTMENT_HEAD, SUPERVISOR),
    "engine_rest.get_external_task": rule(REVIEWER, DEPARTMENT_HEAD, SUPERVISOR),
    "engine_rest.complete": rule(REVIEWER, DEPARTMENT_HEAD),
    "engine_rest.failure": rule(REVIEWER, DEPARTMENT_HEAD),
    "engine_rest.bpmn_error": rule(REVIEWER, DEPARTMENT_HEAD),
    "engine_rest.extend_lock": rule(REVIEWER, DEPARTMENT_HEAD),
    "engine_rest.unlock": rule(REVIEWER, DEPARTMENT_HEAD),
    "engine_rest.set_retries": rule(DEPARTMENT_HEAD),
    # working-day calendar: everyone reads, administrators edit (no entry)
    "calendar.get_year": rule(signed_in=True),
    "calendar.status": rule(signed_in=True),
    "calendar.get_deadline": rule(signed_in=True),
    # statutory clock
    "clock.get_clock": rule(APPLICANT, *READERS, scope="case"),
    "clock.pause_clock": rule(*STAFF, scope="case"),
    "clock.resume_clock": rule(*STAFF, scope="case"),
    "clock.extend_clock": rule(DEPARTMENT_HEAD, scope="case"),
    "clock.supervision_clocks": rule(SUPERVISOR, DEPARTMENT_HEAD),
    # supervision (督办): supervisors and department heads read (heads: their departments' lists); a head or a
    # supervisor reassigns; anyone signed in reads their own notifications; /api/test/clock: administrators
    "supervision.warnings": rule(SUPERVISOR, DEPARTMENT_HEAD),
    "supervision.overdue": rule(SUPERVISOR, DEPARTMENT_HEAD),
    "supervision.on_time_rate": rule(SUPERVISOR, DEPARTMENT_HEAD),
    "supervision.handling_times": rule(SUPERVISOR, DEPARTMENT_HEAD),
    "supervision.step_times": rule(SUPERVISOR, DEPARTMENT_HEAD),
    "supervision.items": rule(SUPERVISOR, DEPARTMENT_HEAD),
    "supervision.close_item": rule(SUPERVISOR),
    "supervision.remind": rule(SUPERVISOR, DEPARTMENT_HEAD, scope="case"),
    "supervision.add_note": rule(SUPERVISOR, DEPARTMENT_HEAD, scope="case"),
    "supervision.list_notes": rule(SUPERVISOR, DEPARTMENT_HEAD, scope="case"),
    "supervision.reassign": rule(DEPARTMENT_HEAD, SUPERVISOR, scope="task"),
    "supervision.list_notifications": rule(signed_in=True),
    "supervision.read_notification": rule(signed_in=True),
    # approval operations: the services check under the case lock who may act (approval_access): the
    # assignee sends back, transfers and decides; the completer retracts; a head of the step's department
    # changes signers (a countersign task has no candidate group, so no task scope there)
    "approval.send_back_targets": rule(*STAFF, scope="task"),
    "approval.send_back_preview": rule(*STAFF, scope="task"),
    "approval.send_back": rule(*STAFF, scope="task"),
    "approval.retract": rule(*STAFF),
    "approval.transfer": rule(*STAFF, scope="task"),
    "approval.signers": rule(*READERS),
    "approval.add_signer": rule(DEPARTMENT_HEAD),
    "approval.remove_signer": rule(DEPARTMENT_HEAD),
    "approval.decide": rule(*STAFF, scope="task"),
    "approval.case_opinions": rule(APPLICANT, *READERS, scope="case"),
    "approval.opinion_signature": rule(*READERS),
    "approval.opinion_phrases": rule(*STAFF),
    "approval.copy_case": rule(*STAFF, scope="case"),
    "approval.case_copies": rule(*READERS, scope="case"),
    "approval.my_copies": rule(signed_in=True),  # one's own copies and proxies
    "approval.read_copy": rule(signed_in=True),
    "approval.list_proxies": rule(signed_in=True),
    "approval.set_proxy": rule(signed_in=True),
    "approval.revoke_proxy": rule(signed_in=True),
    # operations: supervisors read the job lists; retrying incidents and /metrics stay with administrators
    "operations.list_jobs": rule(SUPERVISOR),
    "operations.get_job": rule(SUPERVISOR),
    "operations.get_manual_entry": rule(*STAFF, scope="task"),
}


def rule_for(endpoint: str, view: Any) -> Rule:
    """The declared rule of an endpoint: the central map, then the view's decorator, else administrators only."""
    declared = ENDPOINT_RULES.get(endpoint)
    if declared is not None:
        return declared
    return getattr(view, "lianban_rule", None) or ADMIN_ONLY
