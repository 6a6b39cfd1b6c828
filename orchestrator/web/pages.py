"""Browser pages: the 工作台 (/), a task's page (/tasks/<id>), and /healthz. In Chinese, times in Asia/Shanghai.

The pages are rendered on the server from the projection tables; their small scripts (web/static/) act
through the JSON APIs with the session cookie and the CSRF token of the page's `<meta name="csrf-token">`.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template

from orchestrator.auth import require_user
from orchestrator.auth.guard import csrf_token
from orchestrator.errors import NotFoundError
from orchestrator.services import definitions, workbench
from orchestrator.web.session import unit_of_work

blueprint = Blueprint("pages", __name__)


@blueprint.get("/")
def index() -> str:
    """工作台：我的待办、本部门待领取、预警与超期（按角色）"""
    principal = require_user()
    with unit_of_work() as session:
        home = workbench.home(session, principal)
    return render_template("workbench.html", home=home, who=home.who, csrf_token=csrf_token())


@blueprint.get("/tasks/<task_id>")
def task_page(task_id: str) -> str | tuple[str, int]:
    """办理任务：办件数据与任务表单"""
    who = workbench.who(require_user())
    try:
        with unit_of_work() as session:
            task = workbench.task_header(session, task_id)
    except NotFoundError as error:  # a person following an old link: a page, not a JSON problem
        return render_template("task_gone.html", message=error.message_zh, who=who, csrf_token=csrf_token()), 404
    return render_template("task.html", task=task, labels=workbench.field_labels(), who=who, csrf_token=csrf_token())


@blueprint.get("/healthz")
def health() -> Response:
    """Liveness and database check."""
    with unit_of_work() as session:
        definitions.list_definitions(session, max_results=1)
    return Response('{"status":"ok"}', mimetype="application/json")
