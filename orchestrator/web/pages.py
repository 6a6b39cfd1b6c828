"""Browser pages: the 工作台 (/), a task's page (/tasks/<id>), a case's record (/cases/<id>), and /healthz. In
Chinese, times in Asia/Shanghai.

The pages are rendered on the server from the projection tables; their small scripts (web/static/) act
through the JSON APIs with the session cookie and the CSRF token of the page's `<meta name="csrf-token">`.
A browser refused or sent to something gone gets a Chinese HTML page (403, 404); API clients asking for
JSON get the usual problem+json.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, render_template, request

from orchestrator.auth import permission, require_user
from orchestrator.auth.guard import csrf_token
from orchestrator.auth.policy import READERS
from orchestrator.auth.roles import APPLICANT
from orchestrator.errors import InvalidRequestError, LianbanError
from orchestrator.services import case_record, definitions, workbench
from orchestrator.web.errors import problem_response
from orchestrator.web.request_args import query_int
from orchestrator.web.session import unit_of_work

blueprint = Blueprint("pages", __name__)

_TITLES = {403: "无权访问", 404: "页面不存在或已办结"}


@blueprint.errorhandler(LianbanError)
def _problem_page(error: LianbanError) -> Response | tuple[str, int]:
    """A refusal or a missing task/case while a person navigates: a page in Chinese, not a JSON problem."""
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json":
        return problem_response(error.to_problem(), error.status)
    principal = g.get("principal")
    title = _TITLES.get(error.status, "请求无法处理")
    return render_template("problem.html", title=title, message=error.message_zh, status=error.status,
                           who=workbench.who(principal) if principal else None, csrf_token=csrf_token()), error.status


def _page_number(name: str) -> int:
    value = query_int(name, 1)
    if value < 1:
        raise InvalidRequestError(f"页码 {name} 从 1 开始", f"{name} must be ≥ 1", field=name)
    return value


@blueprint.get("/")
def index() -> str:
    """工作台：我的待办、本部门待领取、我的已办、抄送我的、预警与超期（按角色）"""
    principal = require_user()
    mine, unclaimed = _page_number("mine"), _page_number("unclaimed")
    with unit_of_work() as session:
        home = workbench.home(session, principal, mine, unclaimed)
    return render_template("workbench.html", home=home, who=home.who, csrf_token=csrf_token(),
                           pages=workbench.pages)


@blueprint.get("/tasks/<task_id>")
def task_page(task_id: str) -> str:
    """办理任务：办件数据、任务表单与审批操作"""
    principal = require_user()
    with unit_of_work() as session:
        shown = workbench.task_page(session, principal, task_id)
    return render_template("task.html", task=shown.task, actions=shown.actions, people=shown.people,
                           departments=shown.departments, decide=shown.decide,
                           labels=workbench.field_labels(), who=workbench.who(principal), csrf_token=csrf_token())


@blueprint.get("/cases/<instance_id>")
@permission(roles=[APPLICANT, *READERS], scope="case")
def case_page(instance_id: str) -> str:
    """办件记录：申请人、时限、办理环节、审批意见与材料"""
    principal = require_user()
    with unit_of_work() as session:
        record = case_record.case_record(session, instance_id)
    return render_template("case.html", case=record, who=workbench.who(principal), csrf_token=csrf_token())


@blueprint.get("/healthz")
def health() -> Response:
    """Liveness and database check."""
    with unit_of_work() as session:
        definitions.list_definitions(session, max_results=1)
    return Response('{"status":"ok"}', mimetype="application/json")
