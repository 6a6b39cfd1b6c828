"""One case of a coverage diagram, driven the way a Camunda 7 client and the scheduler would."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import timesource
from orchestrator.db import transaction
from orchestrator.models import Job, MessageSubscription, Timer
from orchestrator.scheduler import fire_due_timers
from orchestrator.services.cases import complete_external, load_case, save_case
from tests.conftest import COVERAGE_DIR
from tests.helpers import activities, as_assignee, complete, deploy_paths, history_state, open_tasks, start, typed

OPEN_JOB_STATES = ("READY", "LOCKED")


def deploy_coverage(client: FlaskClient, *names: str) -> None:
    deploy_paths(client, *(COVERAGE_DIR / f"{name}.bpmn" for name in names))


def deploy_files(client: FlaskClient, *paths: Path) -> None:
    deploy_paths(client, *paths)


class Case:
    """A process instance seen through /engine-rest, the job and timer tables, and the scheduler."""

    def __init__(self, client: FlaskClient, sessions: sessionmaker[Session], instance_id: str,
                 business_key: str | None) -> None:
        self.client = client
        self.sessions = sessions
        self.id = instance_id
        self.business_key = business_key

    @classmethod
    def start(cls, client: FlaskClient, sessions: sessionmaker[Session], key: str,
              variables: dict[str, Any] | None = None) -> Case:
        """Start an instance; its own business key keeps messages from reaching other tests' cases."""
        business_key = f"BK-{uuid4().hex[:12]}"
        return cls(client, sessions, start(client, key, variables, business_key)["id"], business_key)

    # -- what is open
    def tasks(self, key: str | None = None) -> list[dict[str, Any]]:
        tasks = open_tasks(self.client, self.id)
        return [t for t in tasks if key is None or t["taskDefinitionKey"] == key]

    def jobs(self) -> list[Job]:
        with transaction(self.sessions) as session:
            return list(session.scalars(select(Job).where(Job.instance_id == self.id,
                                                          Job.state.in_(OPEN_JOB_STATES))))

    def ready(self) -> list[str]:
        """The open wait states: user tasks and external tasks, as a sorted multiset of activity ids."""
        return sorted([t["taskDefinitionKey"] for t in self.tasks()] + [j.activity_id for j in self.jobs()])

    def timers(self) -> list[Timer]:
        with transaction(self.sessions) as session:
            return list(session.scalars(select(Timer).where(Timer.instance_id == self.id)))

    def subscriptions(self) -> list[str]:
        with transaction(self.sessions) as session:
            return sorted(session.scalars(select(MessageSubscription.message_name)
                                          .where(MessageSubscription.instance_id == self.id)))

    # -- acting
    def task(self, key: str, **match: Any) -> dict[str, Any]:
        found = [t for t in self.tasks(key) if all(t.get(k) == v for k, v in match.items())]
        assert len(found) == 1, (key, match, self.ready())
        return found[0]

    def complete(self, key: str, variables: dict[str, Any] | None = None, **match: Any) -> None:
        complete(self.client, self.task(key, **match)["id"], variables)

    def try_complete(self, key: str, variables: dict[str, Any] | None = None, **match: Any) -> Any:
        body = {"variables": typed(variables or {})}
        task_id = self.task(key, **match)["id"]
        return as_assignee(self.client, task_id).post(f"/engine-rest/task/{task_id}/complete", json=body)

    def send(self, message: str, variables: dict[str, Any] | None = None) -> Any:
        body: dict[str, Any] = {"messageName": message, "businessKey": self.business_key,
                                "processVariables": typed(variables or {})}
        return self.client.post("/engine-rest/message", json=body)

    def complete_job(self, activity_id: str, variables: dict[str, Any] | None = None) -> None:
        [job] = [j for j in self.jobs() if j.activity_id == activity_id]
        with transaction(self.sessions) as session:
            complete_external(session, job.id, variables or {}, "department-system")

    def report_bpmn_error(self, activity_id: str, code: str, variables: dict[str, Any] | None = None) -> bool:
        """Camunda's /external-task/{id}/bpmnError, through the runtime (no REST endpoint yet)."""
        [job] = [j for j in self.jobs() if j.activity_id == activity_id]
        with transaction(self.sessions) as session:
            case = load_case(session, self.id)
            caught = case.runtime.throw_bpmn_error(job.id, code, None, variables or {})
            save_case(session, case, "department-system")
        return caught

    def fire_timers(self, after: float = 0.0) -> int:
        """Let ``after`` seconds pass on the test's clock (frozen by the coverage conftest: no sleeping, no
        race with a slow machine), then run the scheduler once, as the embedded loop would."""
        if after:
            timesource.advance(timedelta(seconds=after))
        return fire_due_timers(self.sessions)

    # -- what happened
    def variables(self) -> dict[str, Any]:
        response = self.client.get(f"/engine-rest/process-instance/{self.id}/variables")
        assert response.status_code == 200, response.get_json()
        return {name: json.loads(v["value"]) if v["type"] == "Json" else v["value"]
                for name, v in response.get_json().items()}

    def variables_at(self, key: str, **match: Any) -> dict[str, Any]:
        response = self.client.get(f"/engine-rest/task/{self.task(key, **match)['id']}/variables")
        assert response.status_code == 200, response.get_json()
        return {name: json.loads(v["value"]) if v["type"] == "Json" else v["value"]
                for name, v in response.get_json().items()}

    def state(self) -> str:
        return history_state(self.client, self.id)

    def history(self) -> dict[str, list[dict[str, Any]]]:
        by_activity: dict[str, list[dict[str, Any]]] = {}
        for row in activities(self.client, self.id):
            by_activity.setdefault(row["activityId"], []).append(row)
        return by_activity

    def completed(self, activity_id: str) -> int:
        """How many times an activity ended normally (not canceled)."""
        return sum(1 for row in self.history().get(activity_id, []) if row["endTime"] and not row["canceled"])

    def canceled(self, activity_id: str) -> int:
        return sum(1 for row in self.history().get(activity_id, []) if row["canceled"])

    def task_data(self, key: str, **match: Any) -> dict[str, Any]:
        """Everything the open task ``key`` sees, locals included, read from the stored engine state.

        Camunda's GET /task/{id}/variables answers this; Lianban's REST answers from the process
        variables projection, which leaves multi-instance locals out.
        """
        task_id = self.task(key, **match)["id"]
        with transaction(self.sessions) as session:
            case = load_case(session, self.id, for_change=False)
            task = case.runtime.get_task(task_id)
            assert task is not None
            return dict(task.data)
