"""The first page a person sees at http://127.0.0.1:8000: deployed bundles and open tasks, in Chinese."""

from __future__ import annotations

from flask import Blueprint, Response, render_template

from orchestrator.services import definitions, queries
from orchestrator.services.queries import TaskFilter
from orchestrator.web.session import unit_of_work

blueprint = Blueprint("pages", __name__)


@blueprint.get("/")
def index() -> str:
    """Home page: bundles (latest versions) and the open task count."""
    with unit_of_work() as session:
        bundles = definitions.list_definitions(session, latest_only=True, max_results=200)
        open_tasks = queries.count_tasks(session, TaskFilter())
        return render_template("index.html", bundles=bundles, open_tasks=open_tasks)


@blueprint.get("/healthz")
def health() -> Response:
    """Liveness and database check."""
    with unit_of_work() as session:
        definitions.list_definitions(session, max_results=1)
    return Response('{"status":"ok"}', mimetype="application/json")
