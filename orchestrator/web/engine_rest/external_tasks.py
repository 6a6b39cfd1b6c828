"""External tasks (Camunda 7 shapes): department systems fetch and lock their work, then report the outcome."""

from __future__ import annotations

import time
from typing import Any

from flask import Response, jsonify, request

from orchestrator.errors import InvalidRequestError
from orchestrator.models import Job
from orchestrator.services import external_tasks
from orchestrator.services.external_tasks import ExternalTaskFilter, FetchRequest, LockedTask, TopicRequest
from orchestrator.web.access import masked
from orchestrator.web.camunda_json import camunda_time, parse_variables, typed_variables
from orchestrator.web.engine_rest import blueprint
from orchestrator.web.request_args import actor, json_body, json_integer, query_bool, query_page
from orchestrator.web.session import unit_of_work

POLL_INTERVAL_S = 0.2
MAX_ASYNC_RESPONSE_TIMEOUT_MS = 30_000
MAX_TASKS = 100
MAX_TOPICS = 50
MAX_LOCK_MS = 7 * 24 * 3600 * 1000  # a week


def _invalid(field: str, zh: str, en: str) -> InvalidRequestError:
    return InvalidRequestError(f"{field} {zh}", f"{field} {en}", field=field)


def _string(body: dict[str, Any], name: str, where: str | None = None, *, required: bool = False,
            max_len: int = 255) -> str | None:
    where = where or name
    value = body.get(name)
    if value is None:
        if required:
            raise _invalid(where, "不能为空", "is required")
        return None
    if not isinstance(value, str) or (required and not value) or len(value) > max_len:
        raise _invalid(where, f"必须是不超过 {max_len} 个字符的非空字符串",
                       f"must be a non-empty string of at most {max_len} characters")
    return value


def _integer(body: dict[str, Any], name: str, where: str | None = None, *, default: int | None = None,
             minimum: int = 0, maximum: int = 2**31 - 1) -> int:
    where = where or name
    value = body.get(name)
    if value is None:
        if default is None:
            raise _invalid(where, "不能为空", "is required")
        return default
    number = json_integer(value)
    if number is None or not minimum <= number <= maximum:
        raise _invalid(where, f"必须是 {minimum} 到 {maximum} 之间的整数",
                       f"must be an integer between {minimum} and {maximum}")
    return number


def _boolean(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid(name, "必须是布尔值", "must be a boolean")
    return value


def _topic(raw: Any, where: str) -> TopicRequest:
    if not isinstance(raw, dict):
        raise _invalid(where, "必须是对象", "must be an object")
    topic_name = _string(raw, "topicName", f"{where}.topicName", required=True)
    assert topic_name is not None
    lock_duration = _integer(raw, "lockDuration", f"{where}.lockDuration", minimum=1, maximum=MAX_LOCK_MS)
    names = raw.get("variables")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise _invalid(f"{where}.variables", "必须是变量名列表", "must be a list of variable names")
    process_variables = raw.get("processVariables")
    if process_variables is not None and not isinstance(process_variables, dict):
        raise _invalid(f"{where}.processVariables", "必须是对象", "must be an object")
    return TopicRequest(
        topic_name=topic_name,
        lock_duration_ms=lock_duration,
        variables=list(names) if names is not None else None,
        process_definition_key=_string(raw, "processDefinitionKey", f"{where}.processDefinitionKey"),
        business_key=_string(raw, "businessKey", f"{where}.businessKey"),
        process_variables=dict(process_variables or {}),
    )


def _fetch_request(body: dict[str, Any]) -> FetchRequest:
    worker_id = _string(body, "workerId", required=True)
    assert worker_id is not None
    topics = body.get("topics")
    if topics is None:
        topics = []
    if not isinstance(topics, list) or len(topics) > MAX_TOPICS:
        raise _invalid("topics", f"必须是不超过 {MAX_TOPICS} 项的列表", f"must be a list of at most {MAX_TOPICS} items")
    return FetchRequest(
        worker_id=worker_id,
        max_tasks=_integer(body, "maxTasks", default=0, maximum=MAX_TASKS),
        topics=[_topic(t, f"topics[{i}]") for i, t in enumerate(topics)],
        use_priority=_boolean(body, "usePriority"),
    )


def _external_task_json(job: Job) -> dict[str, Any]:
    locked = job.state == "LOCKED"
    return {
        "activityId": job.activity_id, "activityInstanceId": job.id, "errorMessage": job.error_message,
        "executionId": job.instance_id, "id": job.id,
        "lockExpirationTime": camunda_time(job.lock_expires_at),
        "processDefinitionId": job.definition_id, "processDefinitionKey": job.definition_key,
        "processDefinitionVersionTag": None, "processInstanceId": job.instance_id, "tenantId": None,
        "retries": job.retries, "suspended": job.suspended, "workerId": job.worker_id if locked else None,
        "topicName": job.topic, "priority": job.priority, "businessKey": job.business_key,
        "createTime": camunda_time(job.created_at),
    }


def _locked_json(task: LockedTask) -> dict[str, Any]:
    job = task.job
    return {
        "activityId": job.activity_id, "activityInstanceId": job.id, "errorMessage": job.error_message,
        "errorDetails": None, "executionId": job.instance_id, "id": job.id,
        "lockExpirationTime": camunda_time(job.lock_expires_at), "createTime": camunda_time(job.created_at),
        "processDefinitionId": job.definition_id, "processDefinitionKey": job.definition_key,
        "processDefinitionVersionTag": None, "processInstanceId": job.instance_id, "retries": job.retries,
        "workerId": job.worker_id, "topicName": job.topic, "tenantId": None,
        "variables": typed_variables(task.variables), "priority": job.priority, "businessKey": job.business_key,
        "extensionProperties": {},
    }


@blueprint.post("/external-task/fetchAndLock")
def fetch_and_lock() -> Response:
    """拉取并锁定外部任务（支持长轮询）"""
    body = json_body(required=True)
    fetch = _fetch_request(body)
    timeout_ms = min(_integer(body, "asyncResponseTimeout", default=0, maximum=2**31 - 1),
                     MAX_ASYNC_RESPONSE_TIMEOUT_MS)
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        with unit_of_work() as session:
            locked = external_tasks.fetch_and_lock(session, fetch) if fetch.max_tasks and fetch.topics else []
            payload = [_locked_json(t) for t in locked]
        if payload or time.monotonic() + POLL_INTERVAL_S > deadline:
            return jsonify(payload)
        time.sleep(POLL_INTERVAL_S)


def _filter() -> ExternalTaskFilter:
    args = request.args
    return ExternalTaskFilter(
        topic_name=args.get("topicName") or None,
        worker_id=args.get("workerId") or None,
        locked=query_bool("locked"),
        not_locked=query_bool("notLocked"),
        process_instance_id=args.get("processInstanceId") or None,
        activity_id=args.get("activityId") or None,
        process_definition_key=args.get("processDefinitionKey") or None,
        with_retries_left=query_bool("withRetriesLeft"),
        no_retries_left=query_bool("noRetriesLeft"),
    )


@blueprint.get("/external-task")
def list_external_tasks() -> Response:
    """查询外部任务"""
    with unit_of_work() as session:
        first, max_results = query_page(default=100, minimum=0)
        items = external_tasks.list_external_tasks(session, _filter(), first=first, max_results=max_results)
        return jsonify(masked([_external_task_json(j) for j in items]))  # the errors a department reported


@blueprint.get("/external-task/count")
def count_external_tasks() -> Response:
    """统计外部任务数量"""
    with unit_of_work() as session:
        return jsonify({"count": external_tasks.count_external_tasks(session, _filter())})


@blueprint.get("/external-task/<task_id>")
def get_external_task(task_id: str) -> Response:
    """获取一个外部任务"""
    with unit_of_work() as session:
        return jsonify(masked(_external_task_json(external_tasks.get_external_task(session, task_id))))


def _worker(body: dict[str, Any]) -> str:
    worker_id = _string(body, "workerId", required=True)
    assert worker_id is not None
    return worker_id


@blueprint.post("/external-task/<task_id>/complete")
def complete(task_id: str) -> tuple[str, int]:
    """完成外部任务并回填结果变量"""
    body = json_body(required=True)
    worker_id = _worker(body)
    variables = parse_variables(body.get("variables"))
    local_variables = parse_variables(body.get("localVariables"), "localVariables")
    with unit_of_work() as session:
        external_tasks.complete(session, task_id, worker_id, variables, local_variables)
    return "", 204


@blueprint.post("/external-task/<task_id>/failure")
def failure(task_id: str) -> tuple[str, int]:
    """报告外部任务失败（可重试；重试次数为 0 时生成故障）"""
    body = json_body(required=True)
    worker_id = _worker(body)
    error_message = _string(body, "errorMessage", max_len=4000)
    error_details = _string(body, "errorDetails", max_len=100_000)
    retries = _integer(body, "retries", default=0)
    retry_timeout = _integer(body, "retryTimeout", default=0, maximum=MAX_LOCK_MS)
    with unit_of_work() as session:
        external_tasks.failure(session, task_id, worker_id, error_message, error_details, retries, retry_timeout)
    return "", 204


@blueprint.post("/external-task/<task_id>/bpmnError")
def bpmn_error(task_id: str) -> tuple[str, int]:
    """报告业务错误（BPMN 错误），由图中的错误边界事件接住"""
    body = json_body(required=True)
    worker_id = _worker(body)
    error_code = _string(body, "errorCode", required=True)
    assert error_code is not None
    error_message = _string(body, "errorMessage", max_len=4000)
    variables = parse_variables(body.get("variables"))
    with unit_of_work() as session:
        external_tasks.bpmn_error(session, task_id, worker_id, error_code, error_message, variables)
    return "", 204


@blueprint.post("/external-task/<task_id>/extendLock")
def extend_lock(task_id: str) -> tuple[str, int]:
    """延长外部任务的锁定时间"""
    body = json_body(required=True)
    worker_id = _worker(body)
    new_duration = _integer(body, "newDuration", minimum=1, maximum=MAX_LOCK_MS)
    with unit_of_work() as session:
        external_tasks.extend_lock(session, task_id, worker_id, new_duration)
    return "", 204


@blueprint.post("/external-task/<task_id>/unlock")
def unlock(task_id: str) -> tuple[str, int]:
    """解除外部任务的锁定"""
    with unit_of_work() as session:
        external_tasks.unlock(session, task_id, actor())
    return "", 204


@blueprint.put("/external-task/<task_id>/retries")
def set_retries(task_id: str) -> tuple[str, int]:
    """设置外部任务的重试次数（大于 0 时解除故障）"""
    body = json_body(required=True)
    retries = _integer(body, "retries")
    with unit_of_work() as session:
        external_tasks.set_retries(session, task_id, retries, actor())
    return "", 204
