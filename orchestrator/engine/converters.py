"""Serializer converters for the spec classes Lianban adds (registered in ``engine/serializer.py``)."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.serializer.default.task_spec import (
    BoundaryEventConverter,
    BpmnTaskSpecConverter,
    ConditionalGatewayConverter,
    EventConverter,
    EventJoinConverter,
    ParallelGatewayConverter,
    SubWorkflowConverter,
)

from orchestrator.engine.event_subprocess import EventSubprocessTask, EventSubprocessTrigger
from orchestrator.engine.events import (
    LianbanBoundaryEvent,
    LianbanBoundaryEventJoin,
    LianbanEndEvent,
    LianbanSendTask,
    LianbanThrowEvent,
)
from orchestrator.engine.flows import ConditionalFlowSplit
from orchestrator.engine.joins import LianbanInclusiveGateway, LianbanParallelGateway, ScopeEndJoin
from orchestrator.engine.multi_instance import CamundaParallelMultiInstance, CamundaSequentialMultiInstance
from orchestrator.engine.specs import CamundaCallActivity


class ConditionalFlowSplitConverter(ConditionalGatewayConverter):  # type: ignore[misc]
    def to_dict(self, spec: ConditionalFlowSplit) -> dict[str, Any]:
        dct: dict[str, Any] = super().to_dict(spec)
        dct.update(source_id=spec.source_id, default_task_spec=spec.default_task_spec, flow_ids=spec.flow_ids)
        return dct


class MultiInstanceConverter(BpmnTaskSpecConverter):  # type: ignore[misc]
    def to_dict(self, spec: Any) -> dict[str, Any]:
        dct: dict[str, Any] = self.get_default_attributes(spec)
        dct.update(
            task_spec=spec.task_spec,
            collection=spec.collection,
            element_variable=spec.element_variable,
            cardinality=spec.cardinality,
            condition=spec.condition,
        )
        return dct


class EventSubprocessTriggerConverter(EventConverter):  # type: ignore[misc]
    def to_dict(self, spec: EventSubprocessTrigger) -> dict[str, Any]:
        dct: dict[str, Any] = super().to_dict(spec)
        dct.update(handler=spec.handler, interrupting=spec.interrupting, activity_id=spec.activity_id)
        return dct


CONVERTERS: dict[type, type] = {
    ConditionalFlowSplit: ConditionalFlowSplitConverter,
    CamundaParallelMultiInstance: MultiInstanceConverter,
    CamundaSequentialMultiInstance: MultiInstanceConverter,
    EventSubprocessTrigger: EventSubprocessTriggerConverter,
    EventSubprocessTask: SubWorkflowConverter,
    CamundaCallActivity: SubWorkflowConverter,
    LianbanEndEvent: EventConverter,
    LianbanThrowEvent: EventConverter,
    LianbanSendTask: EventConverter,
    LianbanBoundaryEvent: BoundaryEventConverter,
    LianbanBoundaryEventJoin: EventJoinConverter,
    LianbanParallelGateway: ParallelGatewayConverter,
    LianbanInclusiveGateway: ConditionalGatewayConverter,
    ScopeEndJoin: BpmnTaskSpecConverter,
}
