"""Role × endpoint: every route of the app, /engine-rest included, for every role and for nobody.

MATRIX is the specification: who may call each route. A route the app serves and the matrix does
not list fails the first test, so whoever adds a route adds its row here (and its declaration in
orchestrator/auth). The second test calls every route as every role: allowed roles never get 401
or `auth.forbidden`, the others always get `auth.forbidden` (403), anonymous callers 401.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

PUBLIC = "public"
SIGNED_IN = "signed_in"
ADMIN = ()  # administrators only (nobody else listed)

APPLICANT, CLERK, REVIEWER, HEAD, SUPERVISOR, ANALYST = (
    "applicant", "window_clerk", "reviewer", "department_head", "supervisor", "analyst")
STAFF = (CLERK, REVIEWER, HEAD)
READERS = (*STAFF, SUPERVISOR)
ROLES = ("applicant", "window_clerk", "reviewer", "department_head", "supervisor", "analyst", "administrator")

# "METHOD /rule": who may call it besides administrators (PUBLIC, SIGNED_IN, or a tuple of roles).
MATRIX: dict[str, str | tuple[str, ...]] = {
    "GET /": SIGNED_IN,
    "GET /tasks/<task_id>": READERS,
    "GET /cases/<instance_id>": (APPLICANT, *READERS),
    "GET /healthz": PUBLIC,
    "GET /static/<path:filename>": PUBLIC,
    "GET /login": PUBLIC,
    "POST /login": PUBLIC,
    "POST /logout": SIGNED_IN,
    "GET /api/openapi.json": PUBLIC,
    "GET /api/docs": PUBLIC,
    "GET /api/docs/assets/<path:name>": PUBLIC,
    # accounts
    "GET /api/me": SIGNED_IN,
    "POST /api/me/password": SIGNED_IN,
    "GET /api/users": ADMIN,
    "POST /api/users": ADMIN,
    "GET /api/users/<int:user_id>": ADMIN,
    "PATCH /api/users/<int:user_id>": ADMIN,
    "GET /api/departments": SIGNED_IN,
    "POST /api/departments": ADMIN,
    "GET /api/tokens": SIGNED_IN,
    "POST /api/tokens": SIGNED_IN,
    "DELETE /api/tokens/<int:token_id>": SIGNED_IN,
    # calendar
    "GET /api/calendar/<int:year>": SIGNED_IN,
    "GET /api/calendar/status": SIGNED_IN,
    "GET /api/calendar/deadline": SIGNED_IN,
    "PUT /api/calendar/days/<date>": ADMIN,
    "DELETE /api/calendar/days/<date>": ADMIN,
    "PUT /api/calendar/years/<int:year>": ADMIN,
    "POST /api/calendar/import": ADMIN,
    # statutory clock
    "GET /api/cases/<instance_id>/clock": (APPLICANT, *READERS),
    "POST /api/cases/<instance_id>/clock/pause": STAFF,
    "POST /api/cases/<instance_id>/clock/resume": STAFF,
    "POST /api/cases/<instance_id>/clock/extend": (HEAD,),
    "GET /api/supervision/clocks": (SUPERVISOR, HEAD),
    # supervision (督办) and notifications
    "GET /api/supervision/warnings": (SUPERVISOR, HEAD),
    "GET /api/supervision/overdue": (SUPERVISOR, HEAD),
    "GET /api/supervision/on-time-rate": (SUPERVISOR, HEAD),
    "GET /api/supervision/handling-times": (SUPERVISOR, HEAD),
    "GET /api/supervision/step-times": (SUPERVISOR, HEAD),
    "GET /api/supervision/items": (SUPERVISOR, HEAD),
    "POST /api/supervision/items/<int:item_id>/close": (SUPERVISOR,),
    "POST /api/cases/<instance_id>/remind": (SUPERVISOR, HEAD),
    "POST /api/cases/<instance_id>/notes": (SUPERVISOR, HEAD),
    "GET /api/cases/<instance_id>/notes": (SUPERVISOR, HEAD),
    "POST /api/tasks/<task_id>/reassign": (HEAD, SUPERVISOR),
    "GET /api/notifications": SIGNED_IN,
    "POST /api/notifications/<int:notification_id>/read": SIGNED_IN,
    "GET /api/test/clock": ADMIN,
    "PUT /api/test/clock": ADMIN,
    "DELETE /api/test/clock": ADMIN,
    # approval operations
    "GET /api/tasks/<task_id>/send-back-targets": STAFF,
    "POST /api/tasks/<task_id>/send-back/preview": STAFF,
    "POST /api/tasks/<task_id>/send-back": STAFF,
    "POST /api/tasks/<task_id>/retract": STAFF,
    "POST /api/tasks/<task_id>/transfer": STAFF,
    "GET /api/tasks/<task_id>/signers": READERS,
    "POST /api/tasks/<task_id>/signers": (HEAD,),
    "POST /api/tasks/<task_id>/signers/remove": (HEAD,),
    "POST /api/tasks/<task_id>/decide": STAFF,
    "GET /api/cases/<instance_id>/opinions": (APPLICANT, *READERS),
    "GET /api/opinions/<int:opinion_id>/signature": READERS,
    "GET /api/tasks/<task_id>/opinion-phrases": STAFF,
    "POST /api/cases/<instance_id>/cc": STAFF,
    "GET /api/cases/<instance_id>/cc": READERS,
    "GET /api/cc": SIGNED_IN,
    "POST /api/cc/<int:copy_id>/read": SIGNED_IN,
    "GET /api/proxies": SIGNED_IN,
    "POST /api/proxies": SIGNED_IN,
    "DELETE /api/proxies/<int:proxy_id>": SIGNED_IN,
    # the reviewer's task list and claiming as JSON
    "GET /api/tasks": READERS,
    "POST /api/tasks/<task_id>/claim": STAFF,
    "POST /api/tasks/<task_id>/unclaim": STAFF,
    "POST /api/tasks/<task_id>/delegate": STAFF,
    "POST /api/tasks/<task_id>/resolve": STAFF,
    "POST /api/tasks/<task_id>/assignee": (HEAD,),
    # task forms, materials, joint inspection
    "GET /api/tasks/<task_id>/form": READERS,
    "PUT /api/tasks/<task_id>/draft": STAFF,
    "GET /api/tasks/<task_id>/draft": STAFF,
    "POST /api/tasks/<task_id>/submit": STAFF,
    "GET /api/cases/<instance_id>/joint-inspection": (APPLICANT, *READERS),
    "POST /api/cases/<instance_id>/materials": (APPLICANT, *STAFF),
    "POST /api/tasks/<task_id>/materials": STAFF,
    "GET /api/cases/<instance_id>/materials": (APPLICANT, *READERS),
    "GET /api/materials/<material_id>": (APPLICANT, *READERS),
    # operations
    "GET /api/jobs": (SUPERVISOR,),
    "GET /api/jobs/<job_id>": (SUPERVISOR,),
    "POST /api/incidents/<incident_id>/retry": ADMIN,
    "GET /api/manual-entries/<task_id>": STAFF,
    "GET /metrics": ADMIN,
    # Camunda 7 REST
    "GET /engine-rest/engine": SIGNED_IN,
    "GET /engine-rest/version": SIGNED_IN,
    "POST /engine-rest/deployment/create": (ANALYST,),
    "GET /engine-rest/process-definition": SIGNED_IN,
    "GET /engine-rest/process-definition/count": SIGNED_IN,
    "GET /engine-rest/process-definition/<definition_id>": SIGNED_IN,
    "GET /engine-rest/process-definition/<definition_id>/xml": SIGNED_IN,
    "GET /engine-rest/process-definition/key/<key>": SIGNED_IN,
    "GET /engine-rest/process-definition/key/<key>/xml": SIGNED_IN,
    "POST /engine-rest/process-definition/<definition_id>/start": (APPLICANT, CLERK),
    "POST /engine-rest/process-definition/key/<key>/start": (APPLICANT, CLERK),
    "GET /engine-rest/process-instance": (APPLICANT, SUPERVISOR),
    "GET /engine-rest/process-instance/count": (APPLICANT, SUPERVISOR),
    "GET /engine-rest/process-instance/<instance_id>": (APPLICANT, *READERS),
    "DELETE /engine-rest/process-instance/<instance_id>": ADMIN,
    "PUT /engine-rest/process-instance/<instance_id>/suspended": ADMIN,
    "GET /engine-rest/process-instance/<instance_id>/variables": (APPLICANT, *READERS),
    "POST /engine-rest/process-instance/<instance_id>/variables": ADMIN,
    "GET /engine-rest/process-instance/<instance_id>/variables/<name>": (APPLICANT, *READERS),
    "PUT /engine-rest/process-instance/<instance_id>/variables/<name>": ADMIN,
    "DELETE /engine-rest/process-instance/<instance_id>/variables/<name>": ADMIN,
    "GET /engine-rest/history/process-instance": (SUPERVISOR, ANALYST),
    "GET /engine-rest/history/process-instance/<instance_id>": (APPLICANT, *READERS),
    "GET /engine-rest/history/activity-instance": (SUPERVISOR, ANALYST),
    "GET /engine-rest/incident": (SUPERVISOR, ANALYST),
    "GET /engine-rest/task": READERS,
    "GET /engine-rest/task/count": READERS,
    "GET /engine-rest/task/<task_id>": READERS,
    "GET /engine-rest/task/<task_id>/variables": READERS,
    "GET /engine-rest/task/<task_id>/form-variables": READERS,
    "POST /engine-rest/task/<task_id>/complete": STAFF,
    "POST /engine-rest/task/<task_id>/submit-form": STAFF,
    "POST /engine-rest/task/<task_id>/claim": STAFF,
    "POST /engine-rest/task/<task_id>/unclaim": STAFF,
    "POST /engine-rest/task/<task_id>/delegate": STAFF,
    "POST /engine-rest/task/<task_id>/resolve": STAFF,
    "POST /engine-rest/task/<task_id>/assignee": (HEAD,),
    "POST /engine-rest/message": STAFF,
    "POST /engine-rest/external-task/fetchAndLock": (REVIEWER, HEAD),
    "GET /engine-rest/external-task": (REVIEWER, HEAD, SUPERVISOR),
    "GET /engine-rest/external-task/count": (REVIEWER, HEAD, SUPERVISOR),
    "GET /engine-rest/external-task/<task_id>": (REVIEWER, HEAD, SUPERVISOR),
    "POST /engine-rest/external-task/<task_id>/complete": (REVIEWER, HEAD),
    "POST /engine-rest/external-task/<task_id>/failure": (REVIEWER, HEAD),
    "POST /engine-rest/external-task/<task_id>/bpmnError": (REVIEWER, HEAD),
    "POST /engine-rest/external-task/<task_id>/extendLock": (REVIEWER, HEAD),
    "POST /engine-rest/external-task/<task_id>/unlock": (REVIEWER, HEAD),
    "PUT /engine-rest/external-task/<task_id>/retries": (HEAD,),
}

_SAMPLE_ARGS = {"int:year": "2026", "int:user_id": "999999", "int:token_id": "999999", "int:opinion_id": "999999",
                "int:copy_id": "999999", "int:proxy_id": "999999", "int:item_id": "999999",
                "int:notification_id": "999999",
                "date": "2026-10-01",
                "path:filename": "none.css", "path:name": "none.js"}
_ARG = re.compile(r"<([^>]+)>")


def app_routes(app: Flask) -> set[str]:
    return {f"{method} {rule.rule}" for rule in app.url_map.iter_rules()
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}


def sample_path(rule: str) -> str:
    return _ARG.sub(lambda m: _SAMPLE_ARGS.get(m.group(1), "no-such-" + m.group(1).split(":")[-1]), rule)


def allowed(entry: str | tuple[str, ...], role: str | None) -> bool:
    if entry == PUBLIC:
        return True
    if role is None:
        return False
    return entry == SIGNED_IN or role == "administrator" or role in entry


def test_every_route_of_the_app_is_in_the_matrix_and_nothing_else(app: Flask) -> None:
    routes = app_routes(app)
    missing = sorted(routes - set(MATRIX))
    stale = sorted(set(MATRIX) - routes)
    assert not missing, f"routes without a row in MATRIX (add one, and a permission declaration): {missing}"
    assert not stale, f"MATRIX rows for routes the app no longer has: {stale}"


@pytest.mark.timeout(600)
def test_each_role_gets_exactly_the_routes_the_matrix_gives_it(app: Flask, anonymous: FlaskClient,
                                                               client_as: Callable[..., FlaskClient]) -> None:
    clients: dict[str | None, FlaskClient] = {None: anonymous}
    for role in ROLES:
        clients[role] = client_as(role, departments=["dept-matrix"], username=f"matrix-{role}")
    wrong: list[str] = []
    for route in sorted(app_routes(app)):
        method, rule = route.split(" ", 1)
        path = sample_path(rule)
        for role, test_client in clients.items():
            response = test_client.open(path, method=method, headers={"Accept": "application/json"})
            body = response.get_json(silent=True) if response.mimetype.endswith("json") else None
            code = body.get("code") if isinstance(body, dict) else None
            if allowed(MATRIX[route], role):
                ok = response.status_code != 401 and code != "auth.forbidden"
            elif role is None:
                ok = response.status_code == 401 and code == "auth.unauthenticated"
            else:
                ok = response.status_code == 403 and code == "auth.forbidden"
            if not ok:
                wrong.append(f"{route} as {role or 'anonymous'}: {response.status_code} {code}")
    assert not wrong, "\n".join(wrong)


def test_a_browser_without_a_session_is_sent_to_the_login_page(anonymous: FlaskClient) -> None:
    response = anonymous.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/")
