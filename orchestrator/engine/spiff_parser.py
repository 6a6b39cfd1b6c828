"""SpiffWorkflow's CamundaParser, subclassed so that each BPMN element becomes a spec Lianban runs faithfully.

Camunda 7 attributes land, raw and unevaluated, in each task spec's ``extensions`` dict. Used only
by :func:`orchestrator.engine.parsing.compile_deployment`, after the dialect check.
"""

from __future__ import annotations

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

from orchestrator.engine.bpmn_xml import CAMUNDA, NS, WRAPPED_IDENTIFIER, document_child, local_name
from orchestrator.engine.specs import DecisionTask, ExternalTask, PassThroughTask
from orchestrator.engine.xml_safety import BPMN_NS

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
    name = local_name(node.tag)
    extensions: dict[str, Any] = {}
    if node.get(CAMUNDA + "type") == "external":
        return {
            "type": "external",
            "topic": node.get(CAMUNDA + "topic"),
            "priority": node.get(CAMUNDA + "taskPriority"),
            "properties": properties,
        }
    if name == "userTask":
        extensions = {key: node.get(CAMUNDA + key) for key in _USER_TASK_KEYS}
        extensions["properties"] = properties
        documentation = node.find(f"{{{BPMN_NS}}}documentation")
        extensions["documentation"] = documentation.text if documentation is not None else None
    elif properties:
        extensions["properties"] = properties
    for key in _OPTIONAL_KEYS:
        if node.get(CAMUNDA + key) is not None:
            extensions[key] = node.get(CAMUNDA + key)
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
            match = WRAPPED_IDENTIFIER.match(value)
            return match.group(1) if match else value
        return value


class _EventRefs:
    """Resolve message/signal/error/escalation references inside the element's own file."""

    node: Any

    def parse_message_event(self, message_event: Any) -> MessageEventDefinition:
        ref = message_event.get("messageRef")
        message = document_child(self.node, "message", ref)
        correlations = self.get_message_correlations(ref)  # type: ignore[attr-defined]
        return MessageEventDefinition(message.get("name"), correlations, description="Message")

    def parse_signal_event(self, signal_event: Any) -> SignalEventDefinition:
        signal = document_child(self.node, "signal", signal_event.get("signalRef"))
        return SignalEventDefinition(signal.get("name"), description="Signal")

    def _coded(self, event: Any, tag: str) -> tuple[str, str | None]:
        ref = event.get(f"{tag}Ref")
        target = document_child(self.node, tag, ref) if ref else None
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
        if self.node.get(CAMUNDA + "type") == "external":
            return ExternalTask(self.spec, self.bpmn_id, **self.bpmn_attributes)
        engine = self.process_parser.parser.get_engine(self.node.get(CAMUNDA + "decisionRef"), self.node)
        return DecisionTask(self.spec, self.bpmn_id, dmnEngine=engine, **self.bpmn_attributes)


class _SendTaskParser(_Extensions, _EventRefs, CamundaTaskParser, SendTaskParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        if self.node.get(CAMUNDA + "type") == "external":
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
        if existing is not None and self.dependency_mode and local_name(node.tag) == "process":
            if existing.node is node or existing.process_executable:
                return
            del self.process_parsers[node.get("id")]
        super().create_parser(node, filename=filename, lane=lane)
