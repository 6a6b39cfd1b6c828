"""Mixins for Lianban's SpiffWorkflow task parsers: Camunda extensions, flows, references, multi-instance.

Used by ``engine/spiff_parser.py``.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.defaults import TransactionSubprocess
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import (
    ErrorEventDefinition,
    EscalationEventDefinition,
    SignalEventDefinition,
)
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.simple import CancelEventDefinition

from orchestrator.engine.bpmn_xml import CAMUNDA, NS, WRAPPED_IDENTIFIER, document_child, local_name
from orchestrator.engine.events import SIGNAL_VARIABLES, LianbanBoundaryEventJoin
from orchestrator.engine.flows import ConditionalFlowSplit
from orchestrator.engine.multi_instance import CamundaParallelMultiInstance, CamundaSequentialMultiInstance
from orchestrator.engine.specs import CALL_IN, CALL_OUT
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


def extensions_for(node: Any) -> dict[str, Any]:
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
    if name == "callActivity":
        for tag, key in (("in", CALL_IN), ("out", CALL_OUT)):
            mappings = node.xpath(f"./bpmn:extensionElements/camunda:{tag}", namespaces=NS)
            extensions[key] = [
                {"all": True} if m.get("variables") == "all" else {"source": m.get("source"), "target": m.get("target")}
                for m in mappings
            ]
    elif node.xpath("./bpmn:extensionElements/camunda:in[@variables='all']", namespaces=NS):
        extensions[SIGNAL_VARIABLES] = True
    return extensions


class Extensions:
    """Mixin for every task parser: extensions, data associations ignored, ``${x}`` collections,
    outgoing flows in document order, Camunda multi-instance and boundary-event classes."""

    node: Any
    task: Any
    spec: Any
    lane: Any
    bpmn_id: str
    process_parser: Any

    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        return extensions_for(self.node)

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

    def get_position(self, node: Any) -> dict[str, float]:
        # SpiffWorkflow sorts outgoing flows by the target shape's y coordinate (so moving a shape
        # could change an exclusive gateway's route); one constant keeps document order, as Camunda.
        return {"x": 0.0, "y": 0.0}

    def _add_multiinstance_task(self, loop_characteristics: Any) -> None:
        sequential = loop_characteristics.get("isSequential") == "true"
        cardinality = loop_characteristics.find(f"{{{BPMN_NS}}}loopCardinality")
        condition = loop_characteristics.find(f"{{{BPMN_NS}}}completionCondition")
        collection = self.attribute("collection", "camunda", loop_characteristics)
        if collection is None and cardinality is None:
            self.raise_validation_exception(  # type: ignore[attr-defined]
                "A multiinstance task must specify loopCardinality or camunda:collection"
            )
        original = self.spec.task_specs.pop(self.task.name)
        kind = CamundaSequentialMultiInstance if sequential else CamundaParallelMultiInstance
        self.task = kind(
            self.spec,
            original.name,
            task_spec="",
            collection=collection,
            element_variable=self.attribute("elementVariable", "camunda", loop_characteristics),
            cardinality=cardinality.text if cardinality is not None else None,
            condition=condition.text if condition is not None else None,
            bpmn_name=original.bpmn_name,
            lane=original.lane,
            description="Multi-Instance Body",
        )
        self._copy_task_attrs(original, loop_characteristics)  # type: ignore[attr-defined]

    def _add_boundary_event(self, children: list[Any]) -> Any:
        split = BoundaryEventSplit(self.spec, f"{self.bpmn_id}.BoundaryEventSplit", lane=self.task.lane)
        join = LianbanBoundaryEventJoin(
            self.spec, f"{self.bpmn_id}.BoundaryEventJoin", lane=self.task.lane, split_task=split.name, cancel=True
        )
        split.connect(self.task)
        self.task.connect(join)
        for event in children:
            child = self.process_parser.parse_node(event)
            if isinstance(child.event_definition, CancelEventDefinition) and not isinstance(
                self.task, TransactionSubprocess
            ):
                self.raise_validation_exception("Cancel Events may only be used with transactions")  # type: ignore[attr-defined]
            split.connect(child)
            child.connect(join)
        return split


class FlowNode(Extensions):
    """Activities and events: several, conditional or default outgoing flows become a ConditionalFlowSplit."""

    process_parser: Any

    def handles_multiple_outgoing(self) -> bool:
        return True

    def connect_outgoing(self, outgoing_task: Any, sequence_flow_node: Any, is_default: bool) -> None:
        flows = self.process_parser.get_outgoing_sequence_flows(self.bpmn_id)
        condition = self.parse_condition(sequence_flow_node)  # type: ignore[attr-defined]
        if len(flows) == 1 and condition is None:
            self.task.connect(outgoing_task)
            return
        name = f"{self.bpmn_id}.FlowSplit"
        split = self.spec.task_specs.get(name)
        if split is None:
            split = ConditionalFlowSplit(self.spec, name, source_id=self.bpmn_id, lane=self.lane)
            self.task.connect(split)
        if is_default:
            split.default_task_spec = outgoing_task.name
            split.connect(outgoing_task)
        else:
            split.connect_outgoing_if(condition, outgoing_task)
        split.flow_ids[outgoing_task.name] = sequence_flow_node.get("id")


class EventRefs:
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
