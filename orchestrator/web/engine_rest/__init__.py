"""The subset of the Camunda 7 REST API that Lianban implements, under /engine-rest."""

from flask import Blueprint

blueprint = Blueprint("engine_rest", __name__)

from orchestrator.web.engine_rest import definitions, external_tasks, instances, tasks  # noqa: E402,F401
