"""The one SpiffWorkflow serializer Lianban uses, and the "spec stored once per version" helpers.

``BpmnWorkflowSerializer.to_dict(workflow)`` returns a dict whose keys ``"spec"`` and
``"subprocess_specs"`` hold the (large) process definition; everything else is the case state.
The runtime stores the definition once per deployed version (:func:`spec_to_dict`), saves each case
with :func:`strip_specs`, and restores it with :func:`inject_specs` + ``serializer.from_dict``.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.event_definition import MessageEventDefinitionConverter
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.camunda.serializer.event_definition import (
    MessageEventDefinitionConverter as CamundaMessageEventDefinitionConverter,
)
from SpiffWorkflow.camunda.specs.event_definitions import (
    MessageEventDefinition as CamundaMessageEventDefinition,
)
from SpiffWorkflow.dmn.serializer.task_spec import BaseBusinessRuleTaskConverter

from orchestrator.engine.converters import CONVERTERS
from orchestrator.engine.specs import DecisionTask, ExternalTask, PassThroughTask

if TYPE_CHECKING:
    from orchestrator.engine.parsing import CompiledProcess

SPEC_KEY = "spec"
SUBPROCESS_SPECS_KEY = "subprocess_specs"
SPEC_KEYS = (SPEC_KEY, SUBPROCESS_SPECS_KEY)


def _config() -> dict[Any, Any]:
    config: dict[Any, Any] = dict(CAMUNDA_CONFIG)
    # Lianban's parser builds BPMN message events (payload = variables), not Camunda's expression
    # payload variant; both classes are called "MessageEventDefinition", so only one may be registered.
    config.pop(CamundaMessageEventDefinition, None)
    config[MessageEventDefinition] = MessageEventDefinitionConverter
    config[ExternalTask] = BpmnTaskSpecConverter
    config[PassThroughTask] = BpmnTaskSpecConverter
    config[DecisionTask] = BaseBusinessRuleTaskConverter
    config.update(CONVERTERS)
    return config


def make_serializer() -> BpmnWorkflowSerializer:
    """A new serializer configured for every spec class Lianban's parser can produce."""
    registry = BpmnWorkflowSerializer.configure(_config())
    # Specs never contain Camunda's message class, but an event built with it that nothing caught
    # lands in ``workflow.bpmn_events``; keep such a state storable under its own type name.
    CamundaMessageEventDefinitionConverter(CamundaMessageEventDefinition, registry, "CamundaMessageEventDefinition")
    return BpmnWorkflowSerializer(registry)


@functools.lru_cache(maxsize=1)
def _shared() -> BpmnWorkflowSerializer:
    return make_serializer()


def known_spec_classes() -> frozenset[type]:
    """Every class the serializer can store (the compile step refuses specs of any other class)."""
    return frozenset(_shared().registry.typenames)


def spec_to_dict(process: CompiledProcess) -> dict[str, Any]:
    """``{"spec": ..., "subprocess_specs": {...}}``, JSON-able, exactly as ``to_dict(workflow)`` embeds them."""
    serializer = _shared()
    return {
        SPEC_KEY: serializer.to_dict(process.spec),
        SUBPROCESS_SPECS_KEY: {str(name): serializer.to_dict(spec) for name, spec in process.subprocess_specs.items()},
    }


def spec_from_dict(dct: Mapping[str, Any]) -> tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]:
    """Restore what :func:`spec_to_dict` produced (the input is not modified)."""
    serializer = _shared()
    dct = copy.deepcopy(dict(dct))
    spec = serializer.from_dict(dct[SPEC_KEY])
    subprocess_specs = {name: serializer.from_dict(value) for name, value in dct.get(SUBPROCESS_SPECS_KEY, {}).items()}
    return spec, subprocess_specs


def strip_specs(state: Mapping[str, Any]) -> dict[str, Any]:
    """A saved case state without the definition (``to_dict(workflow)`` minus the spec keys)."""
    return {key: value for key, value in state.items() if key not in SPEC_KEYS}


def inject_specs(state: Mapping[str, Any], spec_dict: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`strip_specs`: a dict ready for ``serializer.from_dict``.

    Deep-copied, because SpiffWorkflow's ``from_dict`` consumes (pops from) the dict it is given.
    """
    merged = dict(state)
    merged[SPEC_KEY] = spec_dict[SPEC_KEY]
    merged[SUBPROCESS_SPECS_KEY] = spec_dict.get(SUBPROCESS_SPECS_KEY, {})
    return copy.deepcopy(merged)
