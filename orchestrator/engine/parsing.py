"""Deploy-time compile step: BPMN/DMN bytes -> SpiffWorkflow specs, or a DiagramError naming the element.

Pipeline per deployment: :func:`~orchestrator.engine.xml_safety.load_xml` (hardened lxml) ->
XSD validation -> the dialect check (``_DialectChecker``: everything SpiffWorkflow would parse but
not run faithfully is refused, naming element id and line) -> SpiffWorkflow's ``CamundaParser``,
subclassed so that Camunda 7 attributes land, raw and unevaluated, in each task spec's
``extensions`` dict. No diagram expression is evaluated here. The SpiffWorkflow parser plumbing
is at the end of this module; refusals carry code ``bpmn.unsupported`` unless stated otherwise.

Support table (element -> decision -> why)

==========================================  ==========  ============================================
element / attribute                         decision    why
==========================================  ==========  ============================================
process isExecutable="true"                 compiled    one CompiledProcess each; a file without
                                                        one -> ``bpmn.no_executable_process``
startEvent none / message (top level)       supported   message names -> ``message_start_names``;
                                                        camunda:formKey / initiator -> extensions
startEvent timer / signal (top level)       refused     SpiffWorkflow makes an existing instance wait;
                                                        Camunda creates instances on schedule/signal
startEvent non-none in embedded subProcess  refused     BPMN allows only none starts there
endEvent none/message/error/escalation/     supported   signal end events are parsed by Lianban
terminate/signal; cancel in a transaction               (SpiffWorkflow reads them as none events)
intermediateCatchEvent message/signal/timer supported
intermediateThrowEvent none/message/        supported   message payload = the task's variables
signal/escalation
message events (all positions)              supported   SpiffWorkflow's BPMN MessageEventDefinition:
                                                        a caught payload is merged into the task
                                                        data; build events with specs.message_event
boundaryEvent message/signal/timer/error/   supported   must be attached to an activity of the same
escalation; cancel on a transaction                     scope (else SpiffWorkflow drops it silently)
compensate / link / conditional events,     refused     SpiffWorkflow reads compensate and link as
eventDefinitionRef, >1 event definition                 none events, only re-evaluates conditions on
                                                        explicit refresh, ignores eventDefinitionRef
message/signal without name, unresolved     refused     SpiffWorkflow would build a nameless event
message/signal/error/escalation refs                    nothing can correlate, or crash on lookup
timer without expression / cron timeCycle   refused     expressions are otherwise kept raw
userTask                                    supported   assignee, candidateUsers/Groups, dueDate,
                                                        followUpDate, priority, formKey, formRef*,
                                                        properties, documentation -> extensions
task, manualTask                            supported   pass-through, as in Camunda 7 (SpiffWorkflow
                                                        would wait for a person)
activity with several outgoing flows        refused     by SpiffWorkflow; use a parallel gateway
service/send/businessRuleTask               supported   -> ExternalTask (waits in STARTED); type,
camunda:type="external" + camunda:topic                 topic, priority (camunda:taskPriority),
                                                        properties -> extensions
camunda:class / delegateExpression /        refused     Java delegates: no executor here
expression, connectors, other camunda:type
serviceTask without implementation          refused     nothing to execute
sendTask with messageRef                    supported   BPMN message throw
receiveTask with messageRef                 supported   instantiate="true" refused
businessRuleTask camunda:decisionRef        supported   DMN table in the deployment or library;
                                                        resultVariable/mapDecisionResult honoured;
                                                        decisionRefBinding latest|deployment only
scriptTask python / no scriptFormat         supported   other languages, camunda:resource and
                                                        camunda:resultVariable refused
callActivity literal calledElement          supported   resolved in the deployment, then library;
                                                        all variables in and out; camunda:in/out
                                                        only as variables="all"; binding
                                                        latest|deployment; expressions refused
subProcess, transaction                     supported   event sub-processes refused (interrupting
                                                        semantics and scoping are ignored)
adHocSubProcess, complexGateway             refused     not executed by Camunda 7 / not supported
multiInstance (camunda:collection+element   supported   ``${name}`` collection normalised to name;
Variable, loopCardinality, completionCond)              behavior!=All, complexBehaviorDefinition,
                                                        loopDataInput/OutputRef, data items refused
standardLoopCharacteristics                 supported   SpiffWorkflow loop (loopMaximum integer)
isForCompensation                           refused     compensation is not implemented
eventBasedGateway                           supported   instantiate / Parallel type refused
conditionExpression not from an exclusive   refused     SpiffWorkflow ignores it; scripts in other
or inclusive gateway; non-python language               languages or camunda:resource refused
execution/task listeners, inputOutput,      refused     Java / scripting hooks with no executor
camunda:field, camunda:errorEventDefinition
asyncBefore/asyncAfter/exclusive/jobPriority ignored    transaction and job hints
historyTimeToLive, candidateStarter*,        ignored    (versionTag kept in CompiledProcess)
failedJobRetryTimeCycle
other camunda:* attributes / elements       refused     unknown meaning, never silently dropped
dataObject, data associations, dataStore    ignored     artifacts, as in Camunda 7 (SpiffWorkflow
                                                        would demand values or store classes)
non-empty ioSpecification                   refused     SpiffWorkflow would restrict task data
humanPerformer / potentialOwner             refused     use camunda:assignee / candidateGroups
DMN 1.1 / 1.3, one decision table per file  supported   hit policy UNIQUE, FIRST or COLLECT without
                                                        aggregation; DMN 1.2 and others refused
==========================================  ==========  ============================================
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.parser.event_parsers import (
    CANCEL_EVENT_XPATH,
    ERROR_EVENT_XPATH,
    ESCALATION_EVENT_XPATH,
    MESSAGE_EVENT_XPATH,
    SIGNAL_EVENT_XPATH,
    TERMINATION_EVENT_XPATH,
    BoundaryEventParser,
    EndEventParser,
    EventBasedGatewayParser,
    IntermediateCatchEventParser,
    IntermediateThrowEventParser,
    ReceiveTaskParser,
    SendTaskParser,
    StartEventParser,
)
from SpiffWorkflow.bpmn.parser.task_parsers import (
    ConditionalGatewayParser,
    GatewayParser,
    SubprocessParser,
)
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.defaults import (
    BoundaryEvent,
    CallActivity,
    EndEvent,
    EventBasedGateway,
    ExclusiveGateway,
    InclusiveGateway,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    ParallelGateway,
    ReceiveTask,
    ScriptTask,
    SendTask,
    StartEvent,
    SubWorkflowTask,
    TransactionSubprocess,
)
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import (
    ErrorEventDefinition,
    EscalationEventDefinition,
    SignalEventDefinition,
)
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.camunda.parser.task_spec import CamundaTaskParser, UserTaskParser
from SpiffWorkflow.camunda.specs.user_task import UserTask

from orchestrator.engine.specs import DecisionTask, ExternalTask, PassThroughTask
from orchestrator.engine.xml_safety import (
    BPMN_NS,
    dmn_namespace,
    load_xml,
    validate_bpmn_schema,
    validate_dmn_schema,
)
from orchestrator.errors import DiagramError

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}
BPMN_SUFFIXES = (".bpmn", ".bpmn20.xml", ".bpmn2")
DMN_SUFFIXES = (".dmn", ".dmn11.xml", ".dmn13.xml")
IGNORED_SUFFIXES = (".form", ".json")


@dataclass(frozen=True)
class CompiledProcess:
    key: str
    name: str | None
    resource_name: str
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]
    message_start_names: tuple[str, ...]
    properties: dict[str, str] = field(default_factory=dict)
    version_tag: str | None = None


# --------------------------------------------------------------------------- refusals

_PYTHON_NAMES = re.compile(r"\b(?:[A-Z]\w*(?:Error|Exception|Warning)|Traceback)\b")
_REPR_CALL = re.compile(r"^\s*[A-Z]\w*(?:Error|Exception)\((.*)\)\s*\.?\s*$", re.S)


def _scrub(text: str) -> str:
    """Keep what a person can act on; drop Python exception reprs, class names and XML dumps."""
    text = text.strip().rstrip(". ").strip()
    match = _REPR_CALL.match(text)
    if match:
        text = match.group(1).strip("'\" ")
    text = re.sub(r"b'<.*", "", text, flags=re.S)
    text = _PYTHON_NAMES.sub("", text)
    return re.sub(r"\s+", " ", text).strip(" :,.") or "the element cannot be parsed"


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _namespace(tag: Any) -> str:
    return tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""


def _nearest_id(element: Any) -> str | None:
    while element is not None:
        if element.get("id"):
            return str(element.get("id"))
        element = element.getparent()
    return None


def _refusal(filename: str, element: Any, zh: str, en: str, code: str = "bpmn.unsupported") -> DiagramError:
    element_id = _nearest_id(element)
    line = element.sourceline if element is not None else None
    label = element_id or _local(element.tag)
    return DiagramError(
        f"{zh}（文件 {filename}，元素 {label}，第 {line} 行）",
        f"{en} (file {filename}, element {label}, line {line})",
        code=code,
        filename=filename,
        element_id=element_id,
        line=line,
    )


# --------------------------------------------------------------------------- dialect rules

_C = "{" + CAMUNDA_NS + "}"
_IGNORED_CAMUNDA_ATTRS = {"asyncBefore", "asyncAfter", "async", "exclusive", "jobPriority"}
_FORM_ATTRS = {"formKey", "formRef", "formRefBinding", "formRefVersion"}
_EXTERNAL_ATTRS = {"type", "topic", "taskPriority"}
_ALLOWED_CAMUNDA_ATTRS: dict[str, set[str]] = {
    "process": {
        "historyTimeToLive",
        "versionTag",
        "candidateStarterGroups",
        "candidateStarterUsers",
        "isStartableInTasklist",
        "taskPriority",
    },
    "startEvent": _FORM_ATTRS | {"initiator"},
    "userTask": _FORM_ATTRS | {"assignee", "candidateUsers", "candidateGroups", "dueDate", "followUpDate", "priority"},
    "serviceTask": _EXTERNAL_ATTRS,
    "sendTask": _EXTERNAL_ATTRS,
    "businessRuleTask": _EXTERNAL_ATTRS | {"decisionRef", "decisionRefBinding", "resultVariable", "mapDecisionResult"},
    "callActivity": {"calledElementBinding"},
    "multiInstanceLoopCharacteristics": {"collection", "elementVariable"},
}
_JAVA = (
    'Java 委托或表达式（camunda:{a}）在此无法执行，请改用 camunda:type="external" 外部任务',
    'Java delegates and expressions (camunda:{a}) have no executor here; use camunda:type="external" with a topic',
)
_REFUSED_ELEMENTS: dict[str, tuple[str, str]] = {
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
    _REFUSED_ELEMENTS[_tag] = (
        f"多实例不读取 {_tag}，请使用 camunda:collection 和 camunda:elementVariable",
        f"multi-instance {_tag} is not read; use camunda:collection and camunda:elementVariable",
    )
_REFUSED_CAMUNDA_ELEMENTS: dict[str, tuple[str, str]] = {
    "executionListener": ("不支持执行监听器", "execution listeners are not supported"),
    "taskListener": ("不支持任务监听器", "task listeners are not supported"),
    "inputOutput": ("不支持 camunda:inputOutput 变量映射", "camunda:inputOutput mappings are not supported"),
    "connector": ("不支持 Camunda 连接器", "Camunda connectors are not supported"),
    "field": ("不支持 Java 字段注入（camunda:field）", "Java field injection (camunda:field) is not supported"),
    "errorEventDefinition": ("不支持 camunda:errorEventDefinition", "camunda:errorEventDefinition is not supported"),
}
_HARMLESS_CAMUNDA_ELEMENTS = {
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
_EVENT_DEFINITIONS: dict[str, set[str]] = {
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
_ACTIVITIES = {
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
_PYTHON_LANGUAGES = {"", "python", "py", "python3", "text/x-python", "application/x-python"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WRAPPED_IDENTIFIER = re.compile(r"^\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/?,#\-]+$")


def _looks_like_cron(text: str) -> bool:
    fields = text.split()
    return (
        5 <= len(fields) <= 7
        and all(_CRON_FIELD.match(f) for f in fields)
        and any("*" in f or "?" in f for f in fields)
    )


def _document_child(node: Any, tag: str, ref: str | None) -> Any:
    """The definitions-level ``tag`` element whose id is ``ref`` (a QName: ``tns:Message_1`` works)."""
    root = node.getroottree().getroot()
    if ref and ":" in ref:
        prefix, local_id = ref.split(":", 1)
        if node.nsmap.get(prefix) == root.get("targetNamespace"):
            ref = local_id
    return next((c for c in root.iterchildren(f"{{{BPMN_NS}}}{tag}") if c.get("id") == ref), None)


class _DialectChecker:
    """Walks one executable process and refuses, element by element, what the engine cannot run."""

    def __init__(self, process: Any, filename: str) -> None:
        self.process = process
        self.filename = filename
        self.root = process.getroottree().getroot()
        self.by_id = {el.get("id"): el for el in process.iter() if isinstance(el.tag, str) and el.get("id")}

    def refuse(self, element: Any, zh: str, en: str) -> DiagramError:
        return _refusal(self.filename, element, zh, en)

    def run(self) -> None:
        for element in self.process.iter():
            namespace = _namespace(element.tag)
            if namespace == BPMN_NS:
                self.check_bpmn(element, _local(element.tag))
            elif namespace == CAMUNDA_NS:
                self.check_camunda_element(element, _local(element.tag))

    # -- BPMN elements
    def check_bpmn(self, el: Any, name: str) -> None:
        if name in _REFUSED_ELEMENTS:
            raise self.refuse(el, *_REFUSED_ELEMENTS[name])
        self.check_camunda_attributes(el, name)
        if name in _ACTIVITIES and el.get("isForCompensation") == "true":
            raise self.refuse(el, "不支持补偿处理活动", "compensation handlers are not supported")
        check = getattr(self, f"check_{name}", None)
        if name in _EVENT_DEFINITIONS:
            self.check_event(el, name)
        if check is not None:
            check(el)

    def check_camunda_attributes(self, el: Any, name: str) -> None:
        for key in el.attrib:
            if not key.startswith(_C):
                continue
            attr = key[len(_C) :]
            if attr in _IGNORED_CAMUNDA_ATTRS or attr in _ALLOWED_CAMUNDA_ATTRS.get(name, set()):
                continue
            if attr in ("class", "delegateExpression", "expression"):
                raise self.refuse(el, _JAVA[0].format(a=attr), _JAVA[1].format(a=attr))
            raise self.refuse(
                el,
                f"不支持 {name} 上的 Camunda 属性 camunda:{attr}",
                f"the Camunda attribute camunda:{attr} on {name} is not supported",
            )
        for attr, allowed in (
            ("decisionRefBinding", {"latest", "deployment"}),
            ("calledElementBinding", {"latest", "deployment"}),
            ("mapDecisionResult", {"resultList", "singleResult", "singleEntry", "collectEntries"}),
        ):
            value = el.get(_C + attr)
            if value is not None and value not in allowed:
                raise self.refuse(el, f'不支持 camunda:{attr}="{value}"', f'camunda:{attr}="{value}" is not supported')

    def check_camunda_element(self, el: Any, name: str) -> None:
        if name in _REFUSED_CAMUNDA_ELEMENTS:
            raise self.refuse(el, *_REFUSED_CAMUNDA_ELEMENTS[name])
        if name in ("in", "out"):
            owner = el.getparent().getparent() if el.getparent() is not None else None
            owner_name = _local(owner.tag) if owner is not None else ""
            allowed_owner = owner_name == "callActivity" or (
                name == "in" and owner_name in ("intermediateThrowEvent", "endEvent")
            )
            if not allowed_owner or dict(el.attrib) != {"variables": "all"}:
                raise self.refuse(
                    el,
                    f'camunda:{name} 只支持 variables="all"（调用活动传入/传出全部变量）',
                    f'camunda:{name} is only supported as variables="all" (all variables are passed)',
                )
            return
        if name not in _HARMLESS_CAMUNDA_ELEMENTS:
            raise self.refuse(
                el,
                f"不支持 Camunda 扩展元素 camunda:{name}",
                f"the Camunda extension element camunda:{name} is not supported",
            )

    # -- events
    def check_event(self, el: Any, name: str) -> None:
        children = [c for c in el if _namespace(c.tag) == BPMN_NS]
        definitions = [c for c in children if _local(c.tag).endswith("EventDefinition")]
        for child in children:
            if _local(child.tag) in _REFUSED_ELEMENTS:
                raise self.refuse(child, *_REFUSED_ELEMENTS[_local(child.tag)])
        if len(definitions) > 1:
            raise self.refuse(
                el, "不支持一个事件有多个事件定义", "events with several event definitions are not supported"
            )
        parent_name = _local(el.getparent().tag)
        allowed = _EVENT_DEFINITIONS[name] if parent_name == "process" or name != "startEvent" else set()
        if not definitions:
            if name == "boundaryEvent":
                raise self.refuse(el, "边界事件缺少事件定义", "the boundary event has no event definition")
            return
        definition = definitions[0]
        kind = _local(definition.tag)
        if kind not in allowed:
            if (
                name == "startEvent"
                and parent_name == "process"
                and kind in ("timerEventDefinition", "signalEventDefinition")
            ):
                raise self.refuse(
                    el,
                    "不支持定时/信号开始事件（按计划或信号自动创建案件）",
                    "timer and signal start events (creating cases on a schedule or signal) are not supported",
                )
            raise self.refuse(
                el,
                f"{name} 不支持 {kind} 事件定义",
                f"{kind} is not supported on {name}" + (" inside a sub-process" if name == "startEvent" else ""),
            )
        if name == "boundaryEvent":
            attached = el.get("attachedToRef")
            target = self.by_id.get(attached)
            if target is None or target.getparent() is not el.getparent() or _local(target.tag) not in _ACTIVITIES:
                raise self.refuse(
                    el,
                    f"边界事件附着的活动 {attached} 不存在",
                    f"the boundary event is attached to {attached}, which is not an activity here",
                )
        if kind == "messageEventDefinition":
            self.check_reference(definition, "messageRef", "message", require_name=True)
        elif kind == "signalEventDefinition":
            self.check_reference(definition, "signalRef", "signal", require_name=True)
        elif kind == "errorEventDefinition" and definition.get("errorRef"):
            self.check_reference(definition, "errorRef", "error", require_name=False)
        elif kind == "escalationEventDefinition" and definition.get("escalationRef"):
            self.check_reference(definition, "escalationRef", "escalation", require_name=False)
        elif kind == "timerEventDefinition":
            self.check_timer(el, definition)
        elif kind == "cancelEventDefinition" and name == "endEvent":
            if not any(_local(a.tag) == "transaction" for a in el.iterancestors()):
                raise self.refuse(
                    el, "取消结束事件只能用于事务子流程", "cancel end events are only allowed inside a transaction"
                )

    def check_reference(self, holder: Any, attribute: str, tag: str, require_name: bool) -> None:
        ref = holder.get(attribute)
        if not ref:
            raise self.refuse(
                holder, f"事件必须引用一个 {tag}（{attribute}）", f"the event must reference a {tag} ({attribute})"
            )
        target = _document_child(holder, tag, ref)
        if target is None:
            raise self.refuse(holder, f"引用的 {tag} {ref} 不存在", f"the referenced {tag} {ref} does not exist")
        if require_name and not (target.get("name") or "").strip():
            raise self.refuse(
                target,
                f"{tag} {ref} 没有名称（name），无法按名称关联",
                f"the {tag} {ref} has no name, so nothing can correlate with it",
            )

    def check_timer(self, event: Any, definition: Any) -> None:
        parts = [c for c in definition if _local(c.tag) in ("timeDate", "timeDuration", "timeCycle")]
        if len(parts) != 1 or not (parts[0].text or "").strip():
            raise self.refuse(
                event,
                "定时器必须恰好有一个非空的 timeDate、timeDuration 或 timeCycle",
                "a timer needs exactly one non-empty timeDate, timeDuration or timeCycle",
            )
        if _local(parts[0].tag) == "timeCycle" and _looks_like_cron(parts[0].text):
            raise self.refuse(
                event,
                "不支持 cron 格式的循环定时器，请使用 ISO 8601（如 R3/PT10M）",
                "cron timer cycles are not supported; use ISO 8601 (for example R3/PT10M)",
            )

    # -- activities and other elements (dispatched by name)
    def _implementation(self, el: Any, name: str) -> bool:
        connector = el.find(f"{{{BPMN_NS}}}extensionElements/{_C}connector")
        if connector is not None:
            raise self.refuse(connector, *_REFUSED_CAMUNDA_ELEMENTS["connector"])
        kind = el.get(_C + "type")
        if kind is None:
            return False
        if kind != "external":
            raise self.refuse(el, f'不支持 camunda:type="{kind}"', f'camunda:type="{kind}" is not supported')
        if not (el.get(_C + "topic") or "").strip():
            raise self.refuse(el, "外部任务必须指定 camunda:topic", "an external task needs camunda:topic")
        return True

    def _no_implementation(self, el: Any, name: str) -> DiagramError:
        return self.refuse(
            el,
            f'{name} 没有可执行的实现，请使用 camunda:type="external" 和 camunda:topic',
            f'the {name} has no executable implementation; use camunda:type="external" with camunda:topic',
        )

    def check_serviceTask(self, el: Any) -> None:
        if not self._implementation(el, "serviceTask"):
            raise self._no_implementation(el, "serviceTask")

    def check_sendTask(self, el: Any) -> None:
        if self._implementation(el, "sendTask"):
            return
        if el.get("messageRef"):
            self.check_reference(el, "messageRef", "message", require_name=True)
            return
        if el.find(f"{{{BPMN_NS}}}messageEventDefinition") is not None:
            self.check_reference(el.find(f"{{{BPMN_NS}}}messageEventDefinition"), "messageRef", "message", True)
            return
        raise self._no_implementation(el, "sendTask")

    def check_receiveTask(self, el: Any) -> None:
        if el.get("instantiate") == "true":
            raise self.refuse(
                el, '不支持 instantiate="true" 的接收任务', 'receive tasks with instantiate="true" are not supported'
            )
        self.check_reference(el, "messageRef", "message", require_name=True)

    def check_businessRuleTask(self, el: Any) -> None:
        if self._implementation(el, "businessRuleTask"):
            return
        ref = el.get(_C + "decisionRef")
        if not ref:
            raise self._no_implementation(el, "businessRuleTask")
        if "${" in ref or "#{" in ref:
            raise self.refuse(
                el,
                "camunda:decisionRef 必须是决策 ID，不能是表达式",
                "camunda:decisionRef must be a decision id, not an expression",
            )

    def check_scriptTask(self, el: Any) -> None:
        language = (el.get("scriptFormat") or "").strip().lower()
        if language not in _PYTHON_LANGUAGES:
            raise self.refuse(
                el,
                f"脚本语言 {language} 在此无法执行，只支持 Python（沙箱）",
                f"{language} scripts cannot run here; only (sandboxed) Python is supported",
            )
        script = el.find(f"{{{BPMN_NS}}}script")
        if script is None or not (script.text or "").strip():
            raise self.refuse(el, "脚本任务没有脚本内容", "the script task has no script")

    def check_callActivity(self, el: Any) -> None:
        called = el.get("calledElement") or ""
        if not called or "${" in called or "#{" in called:
            raise self.refuse(
                el,
                "调用活动的 calledElement 必须是流程 ID（不能为空或表达式）",
                "calledElement must be a process id (not empty, not an expression)",
            )

    def check_subProcess(self, el: Any) -> None:
        if el.get("triggeredByEvent") == "true":
            raise self.refuse(
                el,
                "不支持事件子流程（中断语义和作用域不会被正确执行）",
                "event sub-processes are not supported (interrupting semantics and scope are not honoured)",
            )

    def check_eventBasedGateway(self, el: Any) -> None:
        if el.get("instantiate") == "true" or el.get("eventGatewayType") == "Parallel":
            raise self.refuse(
                el,
                "不支持实例化或并行类型的事件网关",
                "instantiating or parallel event-based gateways are not supported",
            )

    def check_sequenceFlow(self, el: Any) -> None:
        condition = el.find(f"{{{BPMN_NS}}}conditionExpression")
        if condition is None:
            return
        source = self.by_id.get(el.get("sourceRef"))
        if source is None or _local(source.tag) not in ("exclusiveGateway", "inclusiveGateway"):
            raise self.refuse(
                el,
                "只有排他网关和包容网关的流出顺序流可以带条件",
                "only flows leaving an exclusive or inclusive gateway may carry a condition",
            )
        language = (condition.get("language") or "").strip().lower()
        if language not in _PYTHON_LANGUAGES:
            raise self.refuse(el, f"不支持 {language} 语言的条件", f"{language} conditions are not supported")

    def check_multiInstanceLoopCharacteristics(self, el: Any) -> None:
        if el.get("behavior") not in (None, "All"):
            raise self.refuse(
                el,
                f'不支持多实例 behavior="{el.get("behavior")}"',
                f'multi-instance behavior="{el.get("behavior")}" is not supported',
            )
        collection = el.get(_C + "collection")
        element_variable = el.get(_C + "elementVariable")
        if collection is not None:
            if not (_IDENTIFIER.match(collection) or _WRAPPED_IDENTIFIER.match(collection)):
                raise self.refuse(
                    el,
                    "camunda:collection 必须是变量名（如 items 或 ${items}）",
                    "camunda:collection must be a variable name (items or ${items})",
                )
            if not element_variable or not _IDENTIFIER.match(element_variable):
                raise self.refuse(
                    el,
                    "使用 camunda:collection 时必须用变量名指定 camunda:elementVariable",
                    "camunda:collection needs camunda:elementVariable set to a variable name",
                )

    def check_standardLoopCharacteristics(self, el: Any) -> None:
        maximum = el.get("loopMaximum")
        if maximum is not None and not maximum.strip().isdigit():
            raise self.refuse(el, "loopMaximum 必须是整数", "loopMaximum must be an integer")

    def check_ioSpecification(self, el: Any) -> None:
        if el.find(f"{{{BPMN_NS}}}dataInput") is not None or el.find(f"{{{BPMN_NS}}}dataOutput") is not None:
            raise self.refuse(
                el,
                "不支持带数据输入/输出的 ioSpecification",
                "ioSpecification with data inputs or outputs is not supported",
            )


def _check_dmn(root: Any, filename: str) -> None:
    decisions = [c for c in root if _local(c.tag) == "decision"]
    if len(decisions) != 1:
        target = decisions[1] if len(decisions) > 1 else root
        raise _refusal(filename, target, "每个 DMN 文件只能有一个决策", "a DMN file must hold exactly one decision")
    decision = decisions[0]
    if any(_local(c.tag) in ("informationRequirement", "knowledgeRequirement") for c in decision):
        raise _refusal(filename, decision, "不支持决策依赖（DRD）", "decision requirements (DRD) are not supported")
    tables = [c for c in decision if _local(c.tag) == "decisionTable"]
    if len(tables) != 1:
        raise _refusal(filename, decision, "决策必须是一张决策表", "the decision must be a single decision table")
    hit_policy = (tables[0].get("hitPolicy") or "UNIQUE").upper()
    aggregation = tables[0].get("aggregation")
    if hit_policy not in ("UNIQUE", "FIRST", "COLLECT") or aggregation:
        policy = f"{hit_policy} {aggregation}" if aggregation else hit_policy
        raise _refusal(filename, tables[0], f"不支持命中策略 {policy}", f"the hit policy {policy} is not supported")


# --------------------------------------------------------------------------- pipeline


@dataclass
class _Document:
    filename: str
    root: Any
    kind: str  # "bpmn" | "dmn"
    from_library: bool


def _load_documents(resources: Mapping[str, bytes], from_library: bool) -> list[_Document]:
    documents = []
    for name in sorted(resources):
        lowered = name.lower()
        if lowered.endswith(IGNORED_SUFFIXES) or not lowered.endswith(BPMN_SUFFIXES + DMN_SUFFIXES + (".xml",)):
            continue
        root = load_xml(resources[name], name)
        if lowered.endswith(DMN_SUFFIXES) or (lowered.endswith(".xml") and dmn_namespace(root)):
            validate_dmn_schema(root, name)
            documents.append(_Document(name, root, "dmn", from_library))
        else:
            validate_bpmn_schema(root, name)
            documents.append(_Document(name, root, "bpmn", from_library))
    return documents


def _executable_processes(root: Any) -> list[Any]:
    return [p for p in root.iterchildren(f"{{{BPMN_NS}}}process") if p.get("isExecutable") == "true"]


class _Index:
    """Where each executable process and each decision lives: the deployment first, then the library."""

    def __init__(self, documents: Iterable[_Document]) -> None:
        self.processes: dict[str, tuple[_Document, Any]] = {}
        self.decisions: dict[str, _Document] = {}
        for doc in documents:
            if doc.kind == "bpmn":
                for process in _executable_processes(doc.root):
                    self.processes.setdefault(process.get("id"), (doc, process))
            else:
                for decision in (c for c in doc.root if _local(c.tag) == "decision"):
                    self.decisions.setdefault(decision.get("id"), doc)


def compile_deployment(
    resources: Mapping[str, bytes], library: Mapping[str, bytes] | None = None
) -> list[CompiledProcess]:
    """Compile every executable process of one deployment; raise DiagramError on the first refusal.

    ``resources``: the deployment's files (name -> bytes): ``.bpmn``/``.bpmn20.xml`` diagrams,
    ``.dmn`` decision tables; ``.form``/``.json`` and other files are ignored here. ``library``: the
    XML of processes and decisions deployed before, for call activities and decision references.
    """
    documents = _load_documents(resources, from_library=False)
    index = _Index(documents + _load_documents(library or {}, from_library=True))
    for doc in documents:
        if doc.kind == "dmn":
            _check_dmn(doc.root, doc.filename)
    checked: set[int] = set()
    compiled: list[CompiledProcess] = []
    seen: dict[str, str] = {}
    for doc in (d for d in documents if d.kind == "bpmn"):
        processes = _executable_processes(doc.root)
        if not processes:
            raise DiagramError(
                f'文件中没有可执行的流程（isExecutable="true"）（文件 {doc.filename}）',
                f'the file has no executable process (isExecutable="true") (file {doc.filename})',
                code="bpmn.no_executable_process",
                filename=doc.filename,
                line=doc.root.sourceline,
            )
        for process in processes:
            key = process.get("id")
            if key in seen:
                raise _refusal(
                    doc.filename,
                    process,
                    f"流程 {key} 在本次部署中重复定义（另见 {seen[key]}）",
                    f"process {key} is defined twice in this deployment (see {seen[key]})",
                    code="bpmn.duplicate_process",
                )
            seen[key] = doc.filename
            compiled.append(_compile_process(doc, process, index, checked))
    return compiled


def _dependencies(
    doc: _Document, process: Any, index: _Index, checked: set[int]
) -> tuple[list[_Document], list[_Document]]:
    """Check the process and all it calls; return the other BPMN and the DMN documents it needs."""
    bpmn_docs: list[_Document] = []
    dmn_docs: list[_Document] = []
    pending, visited = [(doc, process)], set()
    while pending:
        current_doc, current = pending.pop()
        if id(current) in visited:
            continue
        visited.add(id(current))
        if current_doc is not doc and all(d is not current_doc for d in bpmn_docs):
            bpmn_docs.append(current_doc)
        if id(current) not in checked:
            _DialectChecker(current, current_doc.filename).run()
            checked.add(id(current))
        for call in current.iter(f"{{{BPMN_NS}}}callActivity"):
            called = call.get("calledElement")
            if called not in index.processes:
                raise _refusal(
                    current_doc.filename,
                    call,
                    f"调用的流程 {called} 既不在本次部署中，也没有部署过",
                    f"the called process {called} is neither in this deployment nor deployed before",
                    code="bpmn.called_process_missing",
                )
            pending.append(index.processes[called])
        for task in current.iter(f"{{{BPMN_NS}}}businessRuleTask"):
            ref = task.get(_C + "decisionRef")
            if ref is None:
                continue
            decision_doc = index.decisions.get(ref)
            if decision_doc is None:
                raise _refusal(
                    current_doc.filename,
                    task,
                    f"引用的决策 {ref} 不存在",
                    f"the decision {ref} does not exist",
                    code="bpmn.decision_missing",
                )
            if decision_doc.from_library:
                _check_dmn(decision_doc.root, decision_doc.filename)
            if all(d is not decision_doc for d in dmn_docs):
                dmn_docs.append(decision_doc)
    return bpmn_docs, dmn_docs


def _compile_process(doc: _Document, process: Any, index: _Index, checked: set[int]) -> CompiledProcess:
    key = process.get("id")
    bpmn_docs, dmn_docs = _dependencies(doc, process, index, checked)
    try:
        parser = LianbanParser()
        for dmn_doc in dmn_docs:
            parser.add_dmn_xml(dmn_doc.root, filename=dmn_doc.filename)
        parser.add_bpmn_xml(doc.root, filename=doc.filename)
        parser.dependency_mode = True
        for dependency in bpmn_docs:
            parser.add_bpmn_xml(dependency.root, filename=dependency.filename)
        spec = parser.get_spec(key)
        subprocess_specs = parser.get_subprocess_specs(key)
        _check_serializable([spec, *subprocess_specs.values()], doc.filename)
    except DiagramError:
        raise
    except ValidationException as exc:
        roots = {d.filename: d.root for d in (doc, *bpmn_docs, *dmn_docs)}
        raise _from_validation(exc, doc.filename, roots) from None
    except Exception as exc:  # noqa: BLE001 - whatever SpiffWorkflow throws becomes a refusal
        detail = _scrub(str(exc))
        raise _refusal(
            doc.filename,
            process,
            f"流程 {key} 无法编译：{detail}",
            f"process {key} cannot be compiled: {detail}",
            code="bpmn.invalid",
        ) from None
    start_names = []
    for definition in process.xpath("./bpmn:startEvent/bpmn:messageEventDefinition", namespaces=NS):
        start_names.append(_document_child(definition, "message", definition.get("messageRef")).get("name"))
    properties = {
        p.get("name"): p.get("value") or ""
        for p in process.xpath("./bpmn:extensionElements/camunda:properties/camunda:property", namespaces=NS)
        if p.get("name")
    }
    return CompiledProcess(
        key=key,
        name=process.get("name"),
        resource_name=doc.filename,
        spec=spec,
        subprocess_specs=dict(subprocess_specs),
        message_start_names=tuple(dict.fromkeys(start_names)),
        properties=properties,
        version_tag=process.get(_C + "versionTag"),
    )


def _check_serializable(specs: list[BpmnProcessSpec], filename: str) -> None:
    from orchestrator.engine.serializer import known_spec_classes  # serializer imports this module

    known = known_spec_classes()
    for process_spec in specs:
        for task_spec in process_spec.task_specs.values():
            if type(task_spec) not in known:
                raise DiagramError(
                    f"元素 {task_spec.name} 的类型无法保存（文件 {filename}）",
                    f"the element {task_spec.name} has a type the engine cannot store (file {filename})",
                    code="bpmn.unsupported",
                    filename=filename,
                    element_id=getattr(task_spec, "bpmn_id", None) or task_spec.name,
                )


_TRANSLATIONS = (
    ("Multiple outgoing flows", "活动不能有多条流出顺序流（隐式并行拆分），请改用并行网关"),
    ("without condition", "网关的非默认流出顺序流缺少条件表达式"),
    ("Exactly one start event", "子流程必须恰好有一个开始事件"),
    ("Must contain an End event", "子流程必须至少有一个结束事件"),
    ("No start event found", "流程没有开始事件"),
    ("Duplicate process ID", "流程或子流程 ID 重复（在同一流程及其调用的流程中必须唯一）"),
    ("multiinstance task must specify", "多实例活动必须指定 loopCardinality 或 camunda:collection"),
    ("Cancel Events may only", "取消事件只能用于事务子流程"),
    ("loopMaximum or loopCondition", "循环活动必须指定 loopMaximum 或 loopCondition"),
    ("Time Specification", "定时器定义不完整"),
    ("Correlation", "消息关联属性定义不完整"),
    ("decision table", "决策表无法解析"),
    ("maximum recursion depth", "流程中一条连续路径过长，无法编译，请拆分为子流程"),
)


def _from_validation(exc: ValidationException, filename: str, roots: Mapping[str, Any]) -> DiagramError:
    raw = str(exc.args[0]) if exc.args else ""
    detail = _scrub(raw)
    zh = next((z for en, z in _TRANSLATIONS if en in raw), "流程元素无法解析")
    element_id = getattr(exc, "id", "") or None
    line_number = getattr(exc, "line_number", "")
    line = line_number if isinstance(line_number, int) and line_number > 0 else None
    source = getattr(exc, "file_name", "") or filename
    if line is None and element_id and source in roots:
        # SpiffWorkflow looks for ``node.line_number``; lxml calls it ``sourceline``.
        found = roots[source].xpath("//*[@id=$element_id]", element_id=element_id)
        line = found[0].sourceline if found else None
    where = [f"文件 {source}"] + ([f"元素 {element_id}"] if element_id else []) + ([f"第 {line} 行"] if line else [])
    where_en = (
        [f"file {source}"] + ([f"element {element_id}"] if element_id else []) + ([f"line {line}"] if line else [])
    )
    return DiagramError(
        f"{zh}：{detail}（{'，'.join(where)}）",
        f"{detail} ({', '.join(where_en)})",
        code="bpmn.invalid",
        filename=source,
        element_id=element_id,
        line=line,
    )


# --------------------------------------------------------------------------- SpiffWorkflow plumbing

_USER_TASK_KEYS = ("candidateGroups", "candidateUsers", "assignee", "dueDate", "followUpDate", "priority", "formKey")
_OPTIONAL_KEYS = (
    "formKey",
    "formRef",
    "formRefBinding",
    "formRefVersion",
    "initiator",
    "decisionRef",
    "decisionRefBinding",
    "resultVariable",
    "mapDecisionResult",
    "calledElementBinding",
)


def _extensions_for(node: Any) -> dict[str, Any]:
    """The Camunda 7 attributes of one element as raw strings (never evaluated)."""
    properties = {
        p.get("name"): p.get("value") or ""
        for p in node.xpath("./bpmn:extensionElements/camunda:properties/camunda:property", namespaces=NS)
        if p.get("name")
    }
    name = _local(node.tag)
    extensions: dict[str, Any] = {}
    if node.get(_C + "type") == "external":
        return {
            "type": "external",
            "topic": node.get(_C + "topic"),
            "priority": node.get(_C + "taskPriority"),
            "properties": properties,
        }
    if name == "userTask":
        extensions = {key: node.get(_C + key) for key in _USER_TASK_KEYS}
        extensions["properties"] = properties
        documentation = node.find(f"{{{BPMN_NS}}}documentation")
        extensions["documentation"] = documentation.text if documentation is not None else None
    elif properties:
        extensions["properties"] = properties
    for key in _OPTIONAL_KEYS:
        if node.get(_C + key) is not None:
            extensions[key] = node.get(_C + key)
    return extensions


class _Extensions:
    """Mixin for every task parser: extensions, data associations ignored, ``${x}`` collections."""

    node: Any

    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        return _extensions_for(self.node)

    def parse_incoming_data_references(self) -> list[Any]:
        return []

    def parse_outgoing_data_references(self) -> list[Any]:
        return []

    def attribute(self, attribute: str, namespace: str | None = None, node: Any = None) -> Any:
        value = super().attribute(attribute, namespace, node)  # type: ignore[misc]
        if namespace == "camunda" and attribute == "collection" and value:
            match = _WRAPPED_IDENTIFIER.match(value)
            return match.group(1) if match else value
        return value


class _EventRefs:
    """Resolve message/signal/error/escalation references inside the element's own file."""

    node: Any

    def parse_message_event(self, message_event: Any) -> MessageEventDefinition:
        ref = message_event.get("messageRef")
        message = _document_child(self.node, "message", ref)
        correlations = self.get_message_correlations(ref)  # type: ignore[attr-defined]
        return MessageEventDefinition(message.get("name"), correlations, description="Message")

    def parse_signal_event(self, signal_event: Any) -> SignalEventDefinition:
        signal = _document_child(self.node, "signal", signal_event.get("signalRef"))
        return SignalEventDefinition(signal.get("name"), description="Signal")

    def _coded(self, event: Any, tag: str) -> tuple[str, str | None]:
        ref = event.get(f"{tag}Ref")
        target = _document_child(self.node, tag, ref) if ref else None
        if target is None:
            return f"None {tag.title()} Event", None
        return target.get("name") or ref, target.get(f"{tag}Code")

    def parse_error_event(self, error_event: Any) -> ErrorEventDefinition:
        name, code = self._coded(error_event, "error")
        return ErrorEventDefinition(name, code, description="Error")

    def parse_escalation_event(self, escalation_event: Any) -> EscalationEventDefinition:
        name, code = self._coded(escalation_event, "escalation")
        return EscalationEventDefinition(name, code, description="Escalation")


class _UserTaskParser(_Extensions, UserTaskParser):  # type: ignore[misc]
    pass


class _PassThroughParser(_Extensions, CamundaTaskParser):  # type: ignore[misc]
    pass


class _ScriptTaskParser(_Extensions, CamundaTaskParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        script = self.node.find(f"{{{BPMN_NS}}}script").text
        return self.spec_class(self.spec, self.bpmn_id, script=script, **self.bpmn_attributes)


class _BusinessRuleParser(_Extensions, CamundaTaskParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        if self.node.get(_C + "type") == "external":
            return ExternalTask(self.spec, self.bpmn_id, **self.bpmn_attributes)
        engine = self.process_parser.parser.get_engine(self.node.get(_C + "decisionRef"), self.node)
        return DecisionTask(self.spec, self.bpmn_id, dmnEngine=engine, **self.bpmn_attributes)


class _SendTaskParser(_Extensions, _EventRefs, CamundaTaskParser, SendTaskParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        if self.node.get(_C + "type") == "external":
            return ExternalTask(self.spec, self.bpmn_id, **self.bpmn_attributes)
        return SendTaskParser.create_task(self)


class _ReceiveTaskParser(_Extensions, _EventRefs, CamundaTaskParser, ReceiveTaskParser):  # type: ignore[misc]
    pass


class _SubProcessParser(_Extensions, CamundaTaskParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        spec_id = SubprocessParser.get_subprocess_spec(self)
        return self.spec_class(self.spec, self.bpmn_id, subworkflow_spec=spec_id, **self.bpmn_attributes)


class _CallActivityParser(_Extensions, CamundaTaskParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        spec_id = SubprocessParser.get_call_activity_spec(self)
        return self.spec_class(self.spec, self.bpmn_id, subworkflow_spec=spec_id, **self.bpmn_attributes)


class _StartEventParser(_Extensions, _EventRefs, StartEventParser):  # type: ignore[misc]
    pass


class _EndEventParser(_Extensions, _EventRefs, EndEventParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        definition = self.get_event_definition(
            [
                MESSAGE_EVENT_XPATH,
                CANCEL_EVENT_XPATH,
                ERROR_EVENT_XPATH,
                ESCALATION_EVENT_XPATH,
                TERMINATION_EVENT_XPATH,
                SIGNAL_EVENT_XPATH,
            ]
        )
        task = self._create_task(definition)
        task.connect(self.spec.end)
        return task


class _CatchEventParser(_Extensions, _EventRefs, IntermediateCatchEventParser):  # type: ignore[misc]
    pass


class _ThrowEventParser(_Extensions, _EventRefs, IntermediateThrowEventParser):  # type: ignore[misc]
    pass


class _BoundaryEventParser(_Extensions, _EventRefs, BoundaryEventParser):  # type: ignore[misc]
    pass


class _EventGatewayParser(_Extensions, EventBasedGatewayParser):  # type: ignore[misc]
    pass


class _ConditionalGatewayParser(_Extensions, ConditionalGatewayParser):  # type: ignore[misc]
    pass


class _ParallelGatewayParser(_Extensions, GatewayParser):  # type: ignore[misc]
    pass


class LianbanParser(CamundaParser):  # type: ignore[misc]
    """CamundaParser with Lianban's task parsers and spec classes; used only by compile_deployment."""

    OVERRIDE_PARSER_CLASSES = {
        full_tag("userTask"): (_UserTaskParser, UserTask),
        full_tag("task"): (_PassThroughParser, PassThroughTask),
        full_tag("manualTask"): (_PassThroughParser, PassThroughTask),
        full_tag("scriptTask"): (_ScriptTaskParser, ScriptTask),
        full_tag("serviceTask"): (_PassThroughParser, ExternalTask),
        full_tag("sendTask"): (_SendTaskParser, SendTask),
        full_tag("receiveTask"): (_ReceiveTaskParser, ReceiveTask),
        full_tag("businessRuleTask"): (_BusinessRuleParser, DecisionTask),
        full_tag("subProcess"): (_SubProcessParser, SubWorkflowTask),
        full_tag("transaction"): (_SubProcessParser, TransactionSubprocess),
        full_tag("callActivity"): (_CallActivityParser, CallActivity),
        full_tag("startEvent"): (_StartEventParser, StartEvent),
        full_tag("endEvent"): (_EndEventParser, EndEvent),
        full_tag("intermediateCatchEvent"): (_CatchEventParser, IntermediateCatchEvent),
        full_tag("intermediateThrowEvent"): (_ThrowEventParser, IntermediateThrowEvent),
        full_tag("boundaryEvent"): (_BoundaryEventParser, BoundaryEvent),
        full_tag("eventBasedGateway"): (_EventGatewayParser, EventBasedGateway),
        full_tag("exclusiveGateway"): (_ConditionalGatewayParser, ExclusiveGateway),
        full_tag("inclusiveGateway"): (_ConditionalGatewayParser, InclusiveGateway),
        full_tag("parallelGateway"): (_ParallelGatewayParser, ParallelGateway),
    }

    def __init__(self) -> None:
        super().__init__()
        # True while the files of called processes are added: their copies of processes that the
        # deployment itself defines are skipped (the deployment's version wins).
        self.dependency_mode = False

    def _add_data_stores(self, bpmn: Any) -> None:
        """Data stores are artifacts here (SpiffWorkflow would demand an implementation class)."""

    def _find_dependencies(self, process: Any) -> None:
        """Dependencies are resolved by compile_deployment (SpiffWorkflow's raises KeyError)."""

    def create_parser(self, node: Any, filename: str | None = None, lane: str | None = None) -> None:
        existing = self.process_parsers.get(node.get("id"))
        if existing is not None and self.dependency_mode and _local(node.tag) == "process":
            if existing.node is node or existing.process_executable:
                return
            del self.process_parsers[node.get("id")]
        super().create_parser(node, filename=filename, lane=lane)
