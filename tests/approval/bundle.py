"""The 开办餐饮店 bundle driven for the approval tests: who claims and completes what, over HTTP."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.models import Department, HumanTask
from orchestrator.services.approval_ops import set_assignee
from orchestrator.services.cases import load_case
from orchestrator.services.seed import seed_bundles
from tests.conftest import ROOT
from tests.coverage.case import Case
from tests.coverage.test_restaurant_bundle import DEPARTMENTS, FIRE_DOCUMENT_REVIEW, FIRE_SITE_CHECK, INTAKE
from tests.form_samples import decision
from tests.helpers import token_for, typed

Sessions = sessionmaker[Session]


def auth(client: FlaskClient, user: str) -> dict[str, str]:
    """Act as `user`: a reviewer, or a department head when the name starts with `head-`."""
    roles = ("department_head",) if user.startswith("head-") else ("reviewer",)
    return {"Authorization": f"Bearer {token_for(client, user, roles)}"}


def head_of(client: FlaskClient, user: str, code: str, name: str) -> FlaskClient:
    """Make `user` a department head of the department `code` named `name` (a step names it by either)."""
    from orchestrator.services.accounts import create_department
    from tests.conftest import make_user

    app = client.application
    with transaction(app.extensions["lianban.sessions"]) as session:
        if session.scalar(select(Department).where(Department.code == code)) is None:
            create_department(session, code, name, "city", None, "test")
    tokens: dict[str, str] = app.extensions.setdefault("tests.user_tokens", {})
    tokens[user] = make_user(app, user, ["department_head"], [code])
    return client


class Approval(Case):
    """A case whose people are named: each step is claimed, then completed by its assignee."""

    def claim(self, key: str, user: str, **match: Any) -> str:
        task_id: str = self.task(key, **match)["id"]
        with transaction(self.sessions) as session:
            set_assignee(session, task_id, user)
        return task_id

    def act(self, key: str, user: str, variables: dict[str, Any] | None = None, **match: Any) -> None:
        task_id = self.claim(key, user, **match)
        response = self.client.post(f"/engine-rest/task/{task_id}/complete",
                                    json={"variables": typed(variables or {})}, headers=auth(self.client, user))
        assert response.status_code == 204, response.get_json()

    def post(self, path: str, user: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.post(path, json=body or {}, headers=auth(self.client, user))

    def row(self, task_id: str) -> HumanTask:
        with transaction(self.sessions) as session:
            row = session.get(HumanTask, task_id)
            assert row is not None
            session.expunge(row)
            return row

    def done(self, activity_id: str) -> str:
        """The id of the latest completed task of an activity."""
        with transaction(self.sessions) as session:
            task_id = session.scalars(select(HumanTask.id).where(
                HumanTask.instance_id == self.id, HumanTask.activity_id == activity_id,
                HumanTask.state == "COMPLETED").order_by(HumanTask.ended_at.desc()).limit(1)).first()
        assert task_id is not None, activity_id
        return task_id

    def open_rows(self) -> list[HumanTask]:
        with transaction(self.sessions) as session:
            rows = list(session.scalars(select(HumanTask).where(HumanTask.instance_id == self.id,
                                                                HumanTask.state == "CREATED")))
            session.expunge_all()
            return rows

    def engine_tasks(self) -> dict[str, tuple[str, str, dict[str, Any], float]]:
        """Every task of the stored engine state: id → (spec, state, data, last state change)."""
        with transaction(self.sessions) as session:
            case = load_case(session, self.id, for_change=False)
            return {str(t.id): (t.task_spec.name, TaskState.get_name(t.state), dict(t.data), t.last_state_change)
                    for t in case.runtime.all_tasks()}

    def subtree_of(self, spec_name: str) -> set[str]:
        """Ids of the tasks at and below the (first) task of `spec_name`: one branch of the split."""
        with transaction(self.sessions) as session:
            case = load_case(session, self.id, for_change=False)
            [top] = [t for t in case.runtime.all_tasks() if t.task_spec.name == spec_name
                     and (t.parent is None or t.parent.task_spec.name != spec_name)][:1]
            return {str(t.id) for t in top}


def open_restaurant(client: FlaskClient, sessions: Sessions, run_in_tx: Any) -> Approval:
    run_in_tx(seed_bundles, ROOT / "bpmn")
    started = Case.start(client, sessions, "restaurant_opening", {"inspection_departments": DEPARTMENTS})
    case = Approval(client, sessions, started.id, started.business_key)
    case.act("task_intake", "clerk-wang", INTAKE)
    return case


def fire_reaches_decision(case: Approval) -> None:
    """Document review by 李 and site check by 赵; the decision is claimed by 陈."""
    case.act("task_fire_document_review", "fire-li", FIRE_DOCUMENT_REVIEW)
    case.act("task_fire_site_check", "fire-zhao", FIRE_SITE_CHECK)
    case.claim("task_fire_safety", "fire-chen")


def approve(item: str) -> dict[str, Any]:
    """The item's review form approved (tests/form_samples.py): decision, reason and what approval needs."""
    return decision(f"restaurant-{item.replace('_', '-')}", "approve")
