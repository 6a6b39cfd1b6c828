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
    TIMER_EVENT_XPATH,
    BoundaryEventParser,
    EndEventParser,
    EventBasedGatewayParser,
    IntermediateCatchEventParser,
    IntermediateThrowEventParser,
    ReceiveTaskParser,
    SendTaskParser,
    StartEventParser,
)
from SpiffWorkflow.bpmn.parser.ProcessParser import ProcessParser
from SpiffWorkflow.bpmn.parser.task_parsers import (
    ConditionalGatewayParser,
    GatewayParser,
    SubprocessParser,
)
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.control import StartEventJoin, StartEventSplit
from SpiffWorkflow.bpmn.specs.defaults import (
    EventBasedGateway,
    ExclusiveGateway,
    IntermediateCatchEvent,
    ReceiveTask,
    ScriptTask,
    StartEvent,
    SubWorkflowTask,
    TransactionSubprocess,
)
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.camunda.parser.task_spec import CamundaTaskParser, UserTaskParser
from SpiffWorkflow.camunda.specs.user_task import UserTask

from orchestrator.engine.bpmn_xml import (
    CAMUNDA,
    NS,
    is_event_subprocess,
    local_name,
)
from orchestrator.engine.event_subprocess import EventSubprocessTask, EventSubprocessTrigger
from orchestrator.engine.events import (
    LianbanBoundaryEvent,
    LianbanEndEvent,
    LianbanSendTask,
    LianbanThrowEvent,
)
from orchestrator.engine.joins import LianbanInclusiveGateway, LianbanParallelGateway, ScopeEndJoin
from orchestrator.engine.specs import (
    CamundaCallActivity,
    DecisionTask,
    ExternalTask,
    PassThroughTask,
)
from orchestrator.engine.spiff_mixins import EventRefs, Extensions, FlowNode
from orchestrator.engine.xml_safety import BPMN_NS


class _UserTaskParser(FlowNode, UserTaskParser):  # type: ignore[misc]
    pass


class _PassThroughParser(FlowNode, CamundaTaskParser):  # type: ignore[misc]
    pass


class _ScriptTaskParser(FlowNode, CamundaTaskParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        script = self.node.find(f"{{{BPMN_NS}}}script").text
        return self.spec_class(self.spec, self.bpmn_id, script=script, **self.bpmn_attributes)


class _BusinessRuleParser(FlowNode, CamundaTaskParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        if self.node.get(CAMUNDA + "type") == "external":
            return ExternalTask(self.spec, self.bpmn_id, **self.bpmn_attributes)
        engine = self.process_parser.parser.get_engine(self.node.get(CAMUNDA + "decisionRef"), self.node)
        return DecisionTask(self.spec, self.bpmn_id, dmnEngine=engine, **self.bpmn_attributes)


class _SendTaskParser(FlowNode, EventRefs, CamundaTaskParser, SendTaskParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        if self.node.get(CAMUNDA + "type") == "external":
            return ExternalTask(self.spec, self.bpmn_id, **self.bpmn_attributes)
        return SendTaskParser.create_task(self)


class _ReceiveTaskParser(FlowNode, EventRefs, CamundaTaskParser, ReceiveTaskParser):  # type: ignore[misc]
    pass


class _SubProcessParser(FlowNode, CamundaTaskParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        spec_id = SubprocessParser.get_subprocess_spec(self)
        kind = EventSubprocessTask if is_event_subprocess(self.node) else self.spec_class
        return kind(self.spec, self.bpmn_id, subworkflow_spec=spec_id, **self.bpmn_attributes)


class _CallActivityParser(FlowNode, CamundaTaskParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        spec_id = SubprocessParser.get_call_activity_spec(self)
        return self.spec_class(self.spec, self.bpmn_id, subworkflow_spec=spec_id, **self.bpmn_attributes)


class _StartEventParser(FlowNode, EventRefs, StartEventParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        if not is_event_subprocess(self.node.getparent()):
            return StartEventParser.create_task(self)
        # The start of an event sub-process: its definition moves to the scope's trigger, see
        # _ProcessParser.add_event_subprocess; here it is parsed to be moved.
        definition = self.get_event_definition(
            [MESSAGE_EVENT_XPATH, SIGNAL_EVENT_XPATH, TIMER_EVENT_XPATH, ERROR_EVENT_XPATH, ESCALATION_EVENT_XPATH]
        )
        task = self._create_task(definition)
        self.spec.start.connect(task)
        return task


class _EndEventParser(FlowNode, EventRefs, EndEventParser):  # type: ignore[misc]
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


class _CatchEventParser(FlowNode, EventRefs, IntermediateCatchEventParser):  # type: ignore[misc]
    pass


class _ThrowEventParser(FlowNode, EventRefs, IntermediateThrowEventParser):  # type: ignore[misc]
    pass


class _BoundaryEventParser(FlowNode, EventRefs, BoundaryEventParser):  # type: ignore[misc]
    pass


class _EventGatewayParser(Extensions, EventBasedGatewayParser):  # type: ignore[misc]
    pass


class _ConditionalGatewayParser(Extensions, ConditionalGatewayParser):  # type: ignore[misc]
    def connect_outgoing(self, outgoing_task: Any, sequence_flow_node: Any, is_default: bool) -> None:
        if not is_default and self.parse_condition(sequence_flow_node) is None:
            # Camunda 7 takes a non-default flow without a condition as always true (SpiffWorkflow refuses it).
            self.task.connect_outgoing_if("True", outgoing_task)
            return
        super().connect_outgoing(outgoing_task, sequence_flow_node, is_default)


class _ParallelGatewayParser(Extensions, GatewayParser):  # type: ignore[misc]
    pass


class _ProcessParser(ProcessParser):  # type: ignore[misc]
    """A process or sub-process: a joining end (ScopeEndJoin) and event sub-processes as triggers."""

    def create_spec(self) -> BpmnProcessSpec:
        spec = super().create_spec()
        name = spec.end.name
        outputs = list(spec.end._outputs)
        del spec.task_specs[name]
        spec.end = ScopeEndJoin(spec, name)
        spec.end._outputs = outputs
        return spec

    def add_tasks(self) -> None:
        starts = self.xpath("./bpmn:startEvent")
        if not starts and self.process_executable:
            raise ValidationException("No start event found", node=self.node, file_name=self.filename)
        for node in starts:
            self.parse_node(node)
        if len(starts) > 1:
            split = StartEventSplit(self.spec, "StartEventSplit")
            join = StartEventJoin(self.spec, "StartEventJoin", split_task="StartEventSplit", threshold=1, cancel=True)
            for spec in self.spec.start.outputs:
                spec.inputs = [split]
                spec.connect(join)
            split.outputs = self.spec.start.outputs
            self.spec.start.outputs = [split]
            split.inputs = [self.spec.start]
        for node in self.xpath("./bpmn:subProcess[@triggeredByEvent='true']"):
            self.add_event_subprocess(node)

    def add_event_subprocess(self, node: Any) -> None:
        """The event sub-process runs from a trigger that waits, with the scope, for its start event."""
        handler = self.parse_node(node)
        [start_node] = node.xpath("./bpmn:startEvent", namespaces=NS)
        handler_spec = self.parser.process_parsers[handler.spec].get_spec()
        start = handler_spec.task_specs[start_node.get("id")]
        definition = start.event_definition
        start.event_definition = NoneEventDefinition()  # the trigger has caught the event already
        interrupting = start_node.get("isInterrupting", "true").lower() != "false"
        trigger = EventSubprocessTrigger(
            self.spec,
            f"{handler.name}.Trigger",
            definition,
            handler=handler.name,
            interrupting=interrupting,
            activity_id=start.bpmn_id,
            lane=self.lane,
        )
        self.spec.start.connect(trigger)
        trigger.connect(handler)
        handler.connect(self.spec.end)


class LianbanParser(CamundaParser):  # type: ignore[misc]
    """CamundaParser with Lianban's task parsers and spec classes; used only by compile_deployment."""

    PROCESS_PARSER_CLASS = _ProcessParser
    OVERRIDE_PARSER_CLASSES = {
        full_tag("userTask"): (_UserTaskParser, UserTask),
        full_tag("task"): (_PassThroughParser, PassThroughTask),
        full_tag("manualTask"): (_PassThroughParser, PassThroughTask),
        full_tag("scriptTask"): (_ScriptTaskParser, ScriptTask),
        full_tag("serviceTask"): (_PassThroughParser, ExternalTask),
        full_tag("sendTask"): (_SendTaskParser, LianbanSendTask),
        full_tag("receiveTask"): (_ReceiveTaskParser, ReceiveTask),
        full_tag("businessRuleTask"): (_BusinessRuleParser, DecisionTask),
        full_tag("subProcess"): (_SubProcessParser, SubWorkflowTask),
        full_tag("transaction"): (_SubProcessParser, TransactionSubprocess),
        full_tag("callActivity"): (_CallActivityParser, CamundaCallActivity),
        full_tag("startEvent"): (_StartEventParser, StartEvent),
        full_tag("endEvent"): (_EndEventParser, LianbanEndEvent),
        full_tag("intermediateCatchEvent"): (_CatchEventParser, IntermediateCatchEvent),
        full_tag("intermediateThrowEvent"): (_ThrowEventParser, LianbanThrowEvent),
        full_tag("boundaryEvent"): (_BoundaryEventParser, LianbanBoundaryEvent),
        full_tag("eventBasedGateway"): (_EventGatewayParser, EventBasedGateway),
        full_tag("exclusiveGateway"): (_ConditionalGatewayParser, ExclusiveGateway),
        full_tag("inclusiveGateway"): (_ConditionalGatewayParser, LianbanInclusiveGateway),
        full_tag("parallelGateway"): (_ParallelGatewayParser, LianbanParallelGateway),
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
