"""Schemas, tags and per-operation details (query parameters, bodies, responses) of the OpenAPI document.

Operations are keyed by method and path with the path parameters' names left out
(`/engine-rest/task/{}/complete`), so a route keeps its description when a parameter is renamed.
"""

from __future__ import annotations

from typing import Any

from orchestrator.web.apidoc import NO_NUL, REASON, USER_ID, text
from orchestrator.web.camunda_json import MAX_VARIABLES
from orchestrator.web.engine_rest.external_tasks import MAX_LOCK_MS, MAX_TASKS, MAX_TOPICS

_VARIABLES = {"$ref": "#/components/schemas/Variables"}
_OPTIONAL_VARIABLES = {"oneOf": [_VARIABLES, {"type": "null"}]}
# A variable name as parse_variables accepts it: letters (any script), digits and _, not starting with _.
VARIABLE_NAME = r"^[^\W_]\w*$"
_INT32 = 2**31 - 1
_WORKER_ID = {"type": "string", "minLength": 1, "maxLength": 255, "description": "工作者 id"}
_OPTIONAL_BOOLEAN = {"type": ["boolean", "null"]}


def _WORD(description: str) -> dict[str, Any]:  # noqa: N802 - reads as a schema constant
    return {"type": "string", "minLength": 1, "maxLength": 255, "description": description}


_OPTIONAL_WORD = {"type": ["string", "null"], "maxLength": 255}


def _optional_int(maximum: int) -> dict[str, Any]:
    """An integer field the server defaults when it is absent or null (external_tasks._integer)."""
    return {"type": ["integer", "null"], "minimum": 0, "maximum": maximum}


def _optional_text(max_len: int, description: str | None = None) -> dict[str, Any]:
    return {**text(max_len, description), "type": ["string", "null"]}


def _typed(kinds: list[str | None], value: dict[str, Any], value_required: bool = True) -> dict[str, Any]:
    return {"properties": {"type": {"enum": kinds}, "value": value},
            "required": ["type", "value"] if value_required else ["type"]}


def _cased(*names: str) -> list[str | None]:
    return [form for name in names for form in (name, name.lower())]


_ANY_JSON: dict[str, Any] = {}
# The value each Camunda type takes (camunda_json._typed_value); a type outside these is a 400.
_TYPED_VALUES = [
    _typed(_cased("String"), _ANY_JSON),
    _typed(_cased("Integer", "Long", "Short"), {"type": ["integer", "null"]}),
    _typed(_cased("Double"), {"type": ["number", "null"]}),
    _typed(_cased("Boolean"), {"type": ["boolean", "null"]}),
    _typed(_cased("Json"), {"anyOf": [{"type": ["object", "array", "number", "boolean", "null"]},
                                      {"type": "string", "contentMediaType": "application/json"}]}),
    _typed(_cased("Date"), {"type": ["string", "null"], "format": "date-time"}),
    _typed(_cased("Null"), _ANY_JSON, value_required=False),
    _typed([*_cased("Object"), "", None], _ANY_JSON),
    {"not": {"required": ["type"]}, "required": ["value"]},
]


def _json(schema: dict[str, Any], description: str = "成功") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def _shared(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/parameters/{name}"}


_NULLABLE_STRING = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "description": "Camunda 时间格式，如 2026-11-28T12:00:00.000+0800"}
_NO_CONTENT = {"204": {"description": "成功，无响应体"}}
_PAGING = [_shared("firstResult"), _shared("maxResults")]
_UNMASK = _query("unmask", "true：查看完整的身份证号（仅办理人员、系统管理员与申请人本人；每次记入审计 pii.viewed），"
                 "默认脱敏", {"type": "boolean"})
_MASKED_VARIABLES = {"parameters": [_UNMASK], "responses": {"200": _json(_VARIABLES)}}

COMPONENTS: dict[str, Any] = {
    "schemas": {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details，附中英文消息；BPMN 问题带文件名、元素 id 和行号",
            "properties": {
                "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                "code": {"type": "string", "examples": ["request.invalid", "message.no_match", "bpmn.schema"]},
                "detail": {"type": "string"}, "message_zh": {"type": "string"}, "message_en": {"type": "string"},
                "message": {"type": "string", "description": "英文消息（Camunda 客户端读取此字段）"},
                "field": {"type": "string"}, "filename": {"type": "string"}, "element_id": {"type": "string"},
                "line": {"type": "integer"},
            },
            "required": ["type", "title", "status", "code"],
        },
        "TypedValue": {
            "type": "object",
            "description": "Camunda 带类型的变量值：value 须与 type 相符（type 不区分大小写；省略即 Object）",
            "properties": {"value": {}, "type": {"type": ["string", "null"]},
                           "valueInfo": {"description": "Camunda 的附加类型信息（如 objectTypeName），本服务忽略"}},
            "anyOf": _TYPED_VALUES,
        },
        "Variables": {"type": "object", "description": "变量名（字母、数字或下划线，不以下划线开头）→ 带类型的值",
                      "propertyNames": {"pattern": VARIABLE_NAME}, "maxProperties": MAX_VARIABLES,
                      "additionalProperties": _ref("TypedValue")},
        "Count": {"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]},
        "Deployment": {"type": "object", "properties": {
            "id": {"type": "string"}, "name": _NULLABLE_STRING, "source": _NULLABLE_STRING,
            "deploymentTime": {"type": "string"}, "tenantId": _NULLABLE_STRING,
            "links": {"type": "array", "items": {"type": "object"}},
            "deployedProcessDefinitions": {"type": ["object", "null"],
                                           "additionalProperties": _ref("ProcessDefinition")},
            "unchangedProcessDefinitions": {"type": "object", "additionalProperties": _ref("ProcessDefinition"),
                                            "description": "与已部署版本相同、未产生新版本的流程定义"},
        }},
        "ProcessDefinition": {"type": "object", "properties": {
            "id": {"type": "string"}, "key": {"type": "string"}, "name": _NULLABLE_STRING,
            "version": {"type": "integer"}, "resource": {"type": "string"}, "deploymentId": {"type": "string"},
            "suspended": {"type": "boolean"}, "versionTag": _NULLABLE_STRING, "category": {"type": "string"},
            "tenantId": _NULLABLE_STRING, "startableInTasklist": {"type": "boolean"},
        }},
        "ProcessDefinitionXml": {"type": "object", "properties": {
            "id": {"type": "string"}, "bpmn20Xml": {"type": "string"}}},
        "ProcessInstance": {"type": "object", "properties": {
            "id": {"type": "string"}, "definitionId": {"type": "string"}, "definitionKey": {"type": "string"},
            "businessKey": _NULLABLE_STRING, "ended": {"type": "boolean"}, "suspended": {"type": "boolean"},
            "tenantId": _NULLABLE_STRING,
        }},
        "Execution": {"type": "object", "properties": {
            "id": {"type": "string"}, "processInstanceId": {"type": "string"}, "ended": {"type": "boolean"},
            "tenantId": _NULLABLE_STRING,
        }},
        "Task": {"type": "object", "properties": {
            "id": {"type": "string"}, "name": _NULLABLE_STRING, "assignee": _NULLABLE_STRING,
            "owner": _NULLABLE_STRING, "created": {"type": "string"}, "due": _TIME, "followUp": _TIME,
            "priority": {"type": "integer"}, "processInstanceId": {"type": "string"},
            "processDefinitionId": {"type": "string"}, "taskDefinitionKey": {"type": "string"},
            "description": _NULLABLE_STRING, "suspended": {"type": "boolean"}, "businessKey": _NULLABLE_STRING,
            "formKey": _NULLABLE_STRING, "candidateGroups": {"type": "array", "items": {"type": "string"}},
            "candidateUsers": {"type": "array", "items": {"type": "string"}},
            "properties": {"type": "object", "description": "图中 camunda:properties 的键值"},
        }},
        "HistoricProcessInstance": {"type": "object", "properties": {
            "id": {"type": "string"}, "businessKey": _NULLABLE_STRING, "processDefinitionId": {"type": "string"},
            "processDefinitionKey": {"type": "string"}, "startTime": {"type": "string"}, "endTime": _TIME,
            "durationInMillis": {"type": ["integer", "null"]}, "startUserId": _NULLABLE_STRING,
            "deleteReason": _NULLABLE_STRING,
            "state": {"type": "string", "enum": ["ACTIVE", "SUSPENDED", "COMPLETED", "EXTERNALLY_TERMINATED",
                                                 "INTERNALLY_TERMINATED"]},
        }},
        "HistoricActivityInstance": {"type": "object", "properties": {
            "id": {"type": "string"}, "activityId": {"type": "string"}, "activityName": _NULLABLE_STRING,
            "activityType": {"type": "string"}, "processInstanceId": {"type": "string"},
            "processDefinitionId": {"type": "string"}, "startTime": {"type": "string"}, "endTime": _TIME,
            "durationInMillis": {"type": ["integer", "null"]}, "canceled": {"type": "boolean"},
        }},
        "Incident": {"type": "object", "properties": {
            "id": {"type": "string"}, "processInstanceId": {"type": "string"},
            "processDefinitionId": {"type": "string"}, "incidentTimestamp": {"type": "string"},
            "incidentType": {"type": "string"}, "activityId": _NULLABLE_STRING, "configuration": _NULLABLE_STRING,
            "incidentMessage": {"type": "string"},
        }},
        "ExternalTask": {"type": "object", "description": "外部任务（等待部门系统处理的服务任务）", "properties": {
            "id": {"type": "string"}, "activityId": {"type": "string"}, "activityInstanceId": {"type": "string"},
            "errorMessage": _NULLABLE_STRING, "executionId": {"type": "string"}, "lockExpirationTime": _TIME,
            "processDefinitionId": {"type": "string"}, "processDefinitionKey": {"type": "string"},
            "processInstanceId": {"type": "string"}, "retries": {"type": ["integer", "null"]},
            "suspended": {"type": "boolean"}, "workerId": _NULLABLE_STRING, "topicName": {"type": "string"},
            "priority": {"type": "integer"}, "businessKey": _NULLABLE_STRING, "tenantId": _NULLABLE_STRING,
        }},
        "LockedExternalTask": {"type": "object", "description": "已为该工作者锁定的外部任务及其请求的变量",
                               "properties": {
            "id": {"type": "string"}, "activityId": {"type": "string"}, "activityInstanceId": {"type": "string"},
            "errorMessage": _NULLABLE_STRING, "errorDetails": _NULLABLE_STRING, "executionId": {"type": "string"},
            "lockExpirationTime": {"type": "string"}, "processDefinitionId": {"type": "string"},
            "processDefinitionKey": {"type": "string"}, "processInstanceId": {"type": "string"},
            "retries": {"type": ["integer", "null"]}, "workerId": {"type": "string"}, "topicName": {"type": "string"},
            "tenantId": _NULLABLE_STRING, "variables": _VARIABLES, "priority": {"type": "integer"},
            "businessKey": _NULLABLE_STRING,
        }},
        "FetchTopic": {"type": "object", "required": ["topicName", "lockDuration"], "properties": {
            "topicName": _WORD("图中 camunda:topic"),
            "lockDuration": {"type": "integer", "minimum": 1, "maximum": MAX_LOCK_MS,
                             "description": "锁定时长（毫秒）"},
            "variables": {"type": ["array", "null"], "items": {"type": "string"},
                          "description": "要返回的变量名；省略则返回全部"},
            "processDefinitionKey": _OPTIONAL_WORD, "businessKey": _OPTIONAL_WORD,
            "processVariables": {"type": ["object", "null"], "description": "只拉取流程变量与之相等的办件的任务"},
        }},
        "FetchAndLockRequest": {"type": "object", "required": ["workerId"], "properties": {
            "workerId": _WORKER_ID, "maxTasks": _optional_int(MAX_TASKS),
            "usePriority": _OPTIONAL_BOOLEAN,
            "asyncResponseTimeout": {**_optional_int(_INT32), "description": "长轮询等待时长（毫秒，最多等 30000）"},
            "topics": {"type": ["array", "null"], "maxItems": MAX_TOPICS, "items": _ref("FetchTopic")},
        }},
        "ExternalTaskComplete": {"type": "object", "required": ["workerId"], "properties": {
            "workerId": _WORKER_ID, "variables": _OPTIONAL_VARIABLES, "localVariables": _OPTIONAL_VARIABLES}},
        "ExternalTaskFailure": {"type": "object", "required": ["workerId"], "properties": {
            "workerId": _WORKER_ID, "errorMessage": _optional_text(4000), "errorDetails": _optional_text(100_000),
            "retries": {**_optional_int(_INT32), "description": "剩余重试次数；0 时生成故障"},
            "retryTimeout": {**_optional_int(MAX_LOCK_MS), "description": "多久后可再次拉取（毫秒）"}}},
        "ExternalTaskBpmnError": {"type": "object", "required": ["workerId", "errorCode"], "properties": {
            "workerId": _WORKER_ID,
            "errorCode": _WORD("图中 bpmn:error 的 errorCode"),
            "errorMessage": _optional_text(4000), "variables": _OPTIONAL_VARIABLES}},
        "ExtendLockRequest": {"type": "object", "required": ["workerId", "newDuration"], "properties": {
            "workerId": _WORKER_ID, "newDuration": {"type": "integer", "minimum": 1, "maximum": MAX_LOCK_MS,
                                                   "description": "从现在起的新锁定时长（毫秒）"}}},
        "RetriesRequest": {"type": "object", "required": ["retries"],
                           "properties": {"retries": {"type": "integer", "minimum": 0, "maximum": _INT32}}},
        "StartRequest": {"type": "object", "properties": {
            "variables": _OPTIONAL_VARIABLES, "businessKey": _optional_text(255)}},
        "CompleteRequest": {"type": "object", "properties": {
            "variables": _OPTIONAL_VARIABLES, "withVariablesInReturn": {"type": ["boolean", "null"]}}},
        "SuspendedRequest": {"type": "object", "required": ["suspended"],
                             "properties": {"suspended": {"type": "boolean"}}},
        "VariableModifications": {"type": "object", "properties": {
            "modifications": _OPTIONAL_VARIABLES,
            "deletions": {"type": ["array", "null"], "items": {"type": "string"}},
        }},
        "MessageRequest": {"type": "object", "required": ["messageName"], "properties": {
            "messageName": {**text(255, "BPMN 消息名称（bpmn:message 的 name）"), "minLength": 1},
            "businessKey": _optional_text(255, "只关联业务编号相同的办件；启动新办件时作为其业务编号"),
            "correlationKeys": {**_OPTIONAL_VARIABLES, "description": "只关联流程变量与之相等的办件"},
            "processVariables": {**_OPTIONAL_VARIABLES, "description": "写入被关联办件的流程变量"},
            "all": {**_OPTIONAL_BOOLEAN, "description": "关联所有等待该消息的办件"},
            "resultEnabled": {**_OPTIONAL_BOOLEAN, "description": "返回关联结果（200）而非 204"},
        }},
        "MessageCorrelationResult": {"type": "object", "properties": {
            "resultType": {"type": "string", "enum": ["Execution", "ProcessDefinition"],
                           "description": "Execution：关联到等待中的办件；ProcessDefinition：由消息开始事件新建办件"},
            "execution": {"oneOf": [_ref("Execution"), {"type": "null"}]},
            "processInstance": {"oneOf": [_ref("ProcessInstance"), {"type": "null"}]},
        }},
        "Engine": {"type": "object", "properties": {"name": {"type": "string"}}},
        "Version": {"type": "object", "properties": {"version": {"type": "string"}}},
        "Health": {"type": "object", "properties": {"status": {"type": "string"}}},
    },
    "parameters": {
        "firstResult": _query("firstResult", "分页：跳过的条数", {"type": "integer", "minimum": 0}),
        "maxResults": _query("maxResults", "分页：最多返回的条数（0 返回空页）",
                             {"type": "integer", "minimum": 0, "maximum": 1000}),
    },
}

TAGS: list[dict[str, str]] = [
    {"name": "deployment", "description": "部署 BPMN 图（Camunda 7 兼容）"},
    {"name": "process-definition", "description": "流程定义：查询、启动办件（Camunda 7 兼容）"},
    {"name": "process-instance", "description": "运行中的办件及其流程变量（Camunda 7 兼容）"},
    {"name": "task", "description": "人工任务：待办列表、办理（Camunda 7 兼容）"},
    {"name": "external-task", "description": "外部任务：部门系统拉取并回填结果（Camunda 7 兼容）"},
    {"name": "message", "description": "消息关联（Camunda 7 兼容）"},
    {"name": "incident", "description": "需要人工处理的故障（Camunda 7 兼容）"},
    {"name": "history", "description": "历史：办件与环节记录（Camunda 7 兼容）"},
    {"name": "engine", "description": "引擎信息（Camunda 7 兼容）"},
    {"name": "api", "description": "联办自有接口与文档"},
    {"name": "ops", "description": "运维检查"},
]

_CAMUNDA_MOMENT = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}
_USER_BODY = {"type": "object", "properties": {"userId": USER_ID}}
_TASK_FILTERS = [
    _query("processInstanceId", "办件（流程实例）id"),
    _query("processInstanceBusinessKey", "办件业务编号"),
    _query("processDefinitionKey", "流程定义 key，如 newborn"),
    _query("processDefinitionId", "流程定义 id"),
    _query("taskDefinitionKey", "任务在图中的元素 id，如 task_intake"),
    _query("assignee", "办理人"),
    _query("candidateGroup", "候选组（部门），如 dept-health"),
    _query("candidateUser", "候选用户"),
    _query("unassigned", "只列出未分配办理人的任务", {"type": "boolean"}),
    _query("dueBefore", "到期时间早于（ISO 8601 / Camunda 时间格式；只有日期即 UTC 0 点）", _CAMUNDA_MOMENT),
    _query("dueAfter", "到期时间晚于（ISO 8601 / Camunda 时间格式；只有日期即 UTC 0 点）", _CAMUNDA_MOMENT),
]
_INSTANCE_FILTERS = [
    _query("processDefinitionKey", "流程定义 key"),
    _query("processDefinitionId", "流程定义 id"),
    _query("businessKey", "办件业务编号"),
    _query("processInstanceIds", "逗号分隔的办件 id 列表"),
]
_DEFINITION_FILTERS = [
    _query("key", "流程定义 key"),
    _query("latestVersion", "只返回每个 key 的最新版本", {"type": "boolean"}),
]
_HISTORY_INSTANCE_FILTERS = [
    _query("processInstanceId", "办件 id"),
    *_INSTANCE_FILTERS,
    _query("unfinished", "只返回未结束的办件", {"type": "boolean"}),
    _query("finished", "只返回已结束的办件", {"type": "boolean"}),
]
_EXTERNAL_TASK_FILTERS = [
    _query("topicName", "主题（camunda:topic）"),
    _query("workerId", "锁定该任务的工作者"),
    _query("locked", "只列出锁定中的任务", {"type": "boolean"}),
    _query("notLocked", "只列出未锁定的任务", {"type": "boolean"}),
    _query("processInstanceId", "办件 id"),
    _query("activityId", "图中的元素 id"),
    _query("processDefinitionKey", "流程定义 key"),
    _query("withRetriesLeft", "只列出还有重试次数的任务", {"type": "boolean"}),
    _query("noRetriesLeft", "只列出重试次数已用完的任务", {"type": "boolean"}),
]
_VARIABLE_NAME_PARAM = {"name": "name", "in": "path", "required": True, "description": "变量名",
                        "schema": {"type": "string", "pattern": VARIABLE_NAME}}
_START = {"requestBody": _body(_ref("StartRequest"), required=False),
          "responses": {"200": _json(_ref("ProcessInstance"), "已启动的办件")}}
_COMPLETE = {"requestBody": _body(_ref("CompleteRequest"), required=False),
             "responses": {"204": {"description": "已办理"},
                           "200": _json(_VARIABLES, "办理后的流程变量（withVariablesInReturn 为 true 时）")}}

OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    # deployments and definitions
    ("POST", "/engine-rest/deployment/create"): {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object",
            "description": "除下列保留字段外，每个文件字段都是一个要部署的 .bpmn / .dmn 资源",
            "properties": {"deployment-name": {"type": "string"}, "deployment-source": {"type": "string"},
                           "data": {"type": "string", "format": "binary"}},
            "propertyNames": {"minLength": 1, "pattern": NO_NUL},
            "additionalProperties": {"type": "string", "format": "binary"}}}}},
        "responses": {"200": _json(_ref("Deployment"), "部署结果")},
    },
    ("GET", "/engine-rest/process-definition"): {
        "parameters": [*_DEFINITION_FILTERS, *_PAGING], "responses": {"200": _json(_list("ProcessDefinition"))}},
    ("GET", "/engine-rest/process-definition/count"): {
        "parameters": _DEFINITION_FILTERS, "responses": {"200": _json(_ref("Count"))}},
    ("GET", "/engine-rest/process-definition/{}"): {"responses": {"200": _json(_ref("ProcessDefinition"))}},
    ("GET", "/engine-rest/process-definition/key/{}"): {"responses": {"200": _json(_ref("ProcessDefinition"))}},
    ("GET", "/engine-rest/process-definition/{}/xml"): {"responses": {"200": _json(_ref("ProcessDefinitionXml"))}},
    ("GET", "/engine-rest/process-definition/key/{}/xml"): {
        "responses": {"200": _json(_ref("ProcessDefinitionXml"))}},
    ("POST", "/engine-rest/process-definition/key/{}/start"): _START,
    ("POST", "/engine-rest/process-definition/{}/start"): _START,
    # process instances
    ("GET", "/engine-rest/process-instance"): {
        "parameters": [*_INSTANCE_FILTERS, *_PAGING], "responses": {"200": _json(_list("ProcessInstance"))}},
    ("GET", "/engine-rest/process-instance/count"): {
        "parameters": _INSTANCE_FILTERS, "responses": {"200": _json(_ref("Count"))}},
    ("GET", "/engine-rest/process-instance/{}"): {"responses": {"200": _json(_ref("ProcessInstance"))}},
    ("DELETE", "/engine-rest/process-instance/{}"): {
        "parameters": [_query("deleteReason", "终止原因，记入历史")],
        "responses": {"204": {"description": "已终止"}}},
    ("PUT", "/engine-rest/process-instance/{}/suspended"): {
        "requestBody": _body(_ref("SuspendedRequest")), "responses": _NO_CONTENT},
    ("GET", "/engine-rest/process-instance/{}/variables"): _MASKED_VARIABLES,
    ("POST", "/engine-rest/process-instance/{}/variables"): {
        "requestBody": _body(_ref("VariableModifications")), "responses": _NO_CONTENT},
    ("GET", "/engine-rest/process-instance/{}/variables/{}"): {
        "parameters": [_UNMASK], "responses": {"200": _json(_ref("TypedValue"))}},
    ("PUT", "/engine-rest/process-instance/{}/variables/{}"): {
        "parameters": [_VARIABLE_NAME_PARAM], "requestBody": _body(_ref("TypedValue")), "responses": _NO_CONTENT},
    ("DELETE", "/engine-rest/process-instance/{}/variables/{}"): {"responses": _NO_CONTENT},
    # tasks
    ("GET", "/engine-rest/task"): {
        "parameters": [*_TASK_FILTERS, *_PAGING], "responses": {"200": _json(_list("Task"))}},
    ("GET", "/engine-rest/task/count"): {"parameters": _TASK_FILTERS, "responses": {"200": _json(_ref("Count"))}},
    ("GET", "/engine-rest/task/{}"): {"responses": {"200": _json(_ref("Task"))}},
    ("GET", "/engine-rest/task/{}/variables"): _MASKED_VARIABLES,
    ("GET", "/engine-rest/task/{}/form-variables"): _MASKED_VARIABLES,
    ("POST", "/engine-rest/task/{}/complete"): _COMPLETE,
    ("POST", "/engine-rest/task/{}/submit-form"): _COMPLETE,
    ("POST", "/engine-rest/task/{}/claim"): {
        "requestBody": _body(_USER_BODY, required=False), "responses": _NO_CONTENT},
    ("POST", "/engine-rest/task/{}/unclaim"): {"responses": _NO_CONTENT},
    ("POST", "/engine-rest/task/{}/assignee"): {
        "requestBody": _body(_USER_BODY, required=False), "responses": _NO_CONTENT},
    ("POST", "/engine-rest/task/{}/delegate"): {"requestBody": _body({"type": "object", "properties": {
        "userId": USER_ID, "reason": {**REASON, "type": ["string", "null"], "description": "委派理由，记入审计"}}}),
        "responses": _NO_CONTENT},
    ("POST", "/engine-rest/task/{}/resolve"): {"requestBody": _body({"type": "object", "properties": {
        "variables": _OPTIONAL_VARIABLES, "reason": {**REASON, "type": ["string", "null"],
                                                     "description": "完成委派的答复，记入审计"}}}, required=False),
        "responses": _NO_CONTENT},
    # external tasks
    ("POST", "/engine-rest/external-task/fetchAndLock"): {
        "requestBody": _body(_ref("FetchAndLockRequest")),
        "responses": {"200": _json(_list("LockedExternalTask"), "为该工作者锁定的任务（可能为空）")}},
    ("GET", "/engine-rest/external-task"): {
        "parameters": [*_EXTERNAL_TASK_FILTERS, *_PAGING], "responses": {"200": _json(_list("ExternalTask"))}},
    ("GET", "/engine-rest/external-task/count"): {
        "parameters": _EXTERNAL_TASK_FILTERS, "responses": {"200": _json(_ref("Count"))}},
    ("GET", "/engine-rest/external-task/{}"): {"responses": {"200": _json(_ref("ExternalTask"))}},
    ("POST", "/engine-rest/external-task/{}/complete"): {
        "requestBody": _body(_ref("ExternalTaskComplete")), "responses": _NO_CONTENT},
    ("POST", "/engine-rest/external-task/{}/failure"): {
        "requestBody": _body(_ref("ExternalTaskFailure")), "responses": _NO_CONTENT},
    ("POST", "/engine-rest/external-task/{}/bpmnError"): {
        "requestBody": _body(_ref("ExternalTaskBpmnError")), "responses": _NO_CONTENT},
    ("POST", "/engine-rest/external-task/{}/extendLock"): {
        "requestBody": _body(_ref("ExtendLockRequest")), "responses": _NO_CONTENT},
    ("POST", "/engine-rest/external-task/{}/unlock"): {"responses": _NO_CONTENT},
    ("PUT", "/engine-rest/external-task/{}/retries"): {
        "requestBody": _body(_ref("RetriesRequest")), "responses": _NO_CONTENT},
    # messages, incidents, history, engine
    ("POST", "/engine-rest/message"): {
        "requestBody": _body(_ref("MessageRequest")),
        "responses": {"204": {"description": "已关联"},
                      "200": _json(_list("MessageCorrelationResult"), "关联结果（resultEnabled 为 true 时）")}},
    ("GET", "/engine-rest/incident"): {
        "parameters": [_query("processInstanceId", "办件 id")], "responses": {"200": _json(_list("Incident"))}},
    ("GET", "/engine-rest/history/process-instance"): {
        "parameters": [*_HISTORY_INSTANCE_FILTERS, *_PAGING],
        "responses": {"200": _json(_list("HistoricProcessInstance"))}},
    ("GET", "/engine-rest/history/process-instance/{}"): {
        "responses": {"200": _json(_ref("HistoricProcessInstance"))}},
    ("GET", "/engine-rest/history/activity-instance"): {
        "parameters": [_query("processInstanceId", "办件 id"), _query("activityId", "图中的元素 id"), *_PAGING],
        "responses": {"200": _json(_list("HistoricActivityInstance"))}},
    ("GET", "/engine-rest/engine"): {"responses": {"200": _json(_list("Engine"))}},
    ("GET", "/engine-rest/version"): {"responses": {"200": _json(_ref("Version"))}},
    # Lianban's own
    ("GET", "/api/openapi.json"): {"responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 文档")}},
    ("GET", "/healthz"): {"summary": "存活与数据库检查", "responses": {"200": _json(_ref("Health"))}},
}
