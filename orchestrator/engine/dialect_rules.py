"""What the dialect check allows and refuses, as data (used by ``engine/dialect.py``)."""

from __future__ import annotations

import re

IGNORED_CAMUNDA_ATTRS = {"asyncBefore", "asyncAfter", "async", "exclusive", "jobPriority"}
FORM_ATTRS = {"formKey", "formRef", "formRefBinding", "formRefVersion"}
EXTERNAL_ATTRS = {"type", "topic", "taskPriority"}
ALLOWED_CAMUNDA_ATTRS: dict[str, set[str]] = {
    "process": {
        "historyTimeToLive",
        "versionTag",
        "candidateStarterGroups",
        "candidateStarterUsers",
        "isStartableInTasklist",
        "taskPriority",
    },
    "startEvent": FORM_ATTRS | {"initiator"},
    "userTask": FORM_ATTRS | {"assignee", "candidateUsers", "candidateGroups", "dueDate", "followUpDate", "priority"},
    "serviceTask": EXTERNAL_ATTRS,
    "sendTask": EXTERNAL_ATTRS,
    "businessRuleTask": EXTERNAL_ATTRS | {"decisionRef", "decisionRefBinding", "resultVariable", "mapDecisionResult"},
    "callActivity": {"calledElementBinding"},
    "multiInstanceLoopCharacteristics": {"collection", "elementVariable"},
}
JAVA_MESSAGE = (
    'Java 委托或表达式（camunda:{a}）在此无法执行，请改用 camunda:type="external" 外部任务',
    'Java delegates and expressions (camunda:{a}) have no executor here; use camunda:type="external" with a topic',
)
REFUSED_ELEMENTS: dict[str, tuple[str, str]] = {
    "complexGateway": ("不支持复杂网关", "complex gateways are not supported"),
    "adHocSubProcess": ("不支持自由（ad-hoc）子流程", "ad-hoc sub-processes are not supported"),
    "compensateEventDefinition": ("不支持补偿事件", "compensation events are not supported"),
    "linkEventDefinition": ("不支持链接事件", "link events are not supported"),
    "conditionalEventDefinition": (
        "不支持条件事件（条件不会随变量变化重新求值）",
        "conditional events are not supported (conditions are not re-evaluated when data changes)",
    ),
    "eventDefinitionRef": ("不支持引用全局事件定义", "references to global event definitions are not supported"),
    "complexBehaviorDefinition": ("不支持多实例复杂行为定义", "multi-instance complex behaviour is not supported"),
    "humanPerformer": ("请用 camunda:assignee 指定办理人", "use camunda:assignee instead of humanPerformer"),
    "potentialOwner": (
        "请用 camunda:candidateGroups/candidateUsers 指定候选人",
        "use camunda:candidateGroups/candidateUsers instead of potentialOwner",
    ),
    "performer": ("请用 camunda:assignee 指定办理人", "use camunda:assignee instead of performer"),
}
for _tag in ("loopDataInputRef", "loopDataOutputRef", "inputDataItem", "outputDataItem"):
    REFUSED_ELEMENTS[_tag] = (
        f"多实例不读取 {_tag}，请使用 camunda:collection 和 camunda:elementVariable",
        f"multi-instance {_tag} is not read; use camunda:collection and camunda:elementVariable",
    )
REFUSED_CAMUNDA_ELEMENTS: dict[str, tuple[str, str]] = {
    "executionListener": ("不支持执行监听器", "execution listeners are not supported"),
    "taskListener": ("不支持任务监听器", "task listeners are not supported"),
    "inputOutput": ("不支持 camunda:inputOutput 变量映射", "camunda:inputOutput mappings are not supported"),
    "connector": ("不支持 Camunda 连接器", "Camunda connectors are not supported"),
    "field": ("不支持 Java 字段注入（camunda:field）", "Java field injection (camunda:field) is not supported"),
    "errorEventDefinition": ("不支持 camunda:errorEventDefinition", "camunda:errorEventDefinition is not supported"),
}
HARMLESS_CAMUNDA_ELEMENTS = {
    "properties",
    "property",
    "formData",
    "formField",
    "validation",
    "constraint",
    "value",
    "failedJobRetryTimeCycle",
    "potentialStarter",
}
EVENT_DEFINITIONS: dict[str, set[str]] = {
    "startEvent": {"messageEventDefinition"},
    "intermediateCatchEvent": {"messageEventDefinition", "signalEventDefinition", "timerEventDefinition"},
    "intermediateThrowEvent": {"messageEventDefinition", "signalEventDefinition", "escalationEventDefinition"},
    "endEvent": {
        "messageEventDefinition",
        "signalEventDefinition",
        "errorEventDefinition",
        "escalationEventDefinition",
        "terminateEventDefinition",
        "cancelEventDefinition",
    },
    "boundaryEvent": {
        "messageEventDefinition",
        "signalEventDefinition",
        "timerEventDefinition",
        "errorEventDefinition",
        "escalationEventDefinition",
        "cancelEventDefinition",
    },
}
EVENT_SUBPROCESS_STARTS = {
    "messageEventDefinition",
    "timerEventDefinition",
    "signalEventDefinition",
    "errorEventDefinition",
    "escalationEventDefinition",
}
ACTIVITIES = {
    "task",
    "manualTask",
    "userTask",
    "scriptTask",
    "serviceTask",
    "sendTask",
    "receiveTask",
    "businessRuleTask",
    "callActivity",
    "subProcess",
    "transaction",
}
CRON_FIELD = re.compile(r"^[0-9A-Za-z*/?,#\-]+$")


def looks_like_cron(text: str) -> bool:
    fields = text.split()
    return (
        5 <= len(fields) <= 7
        and all(CRON_FIELD.match(f) for f in fields)
        and any("*" in f or "?" in f for f in fields)
    )
