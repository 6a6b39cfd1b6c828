"""Deploy-time compile: Camunda 7 dialect captured into extensions, unsupported constructs refused."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.util.task import TaskState

from orchestrator.engine.event_subprocess import EventSubprocessTrigger
from orchestrator.engine.flows import ConditionalFlowSplit
from orchestrator.engine.parsing import CompiledProcess, compile_deployment
from orchestrator.engine.serializer import (
    SPEC_KEYS,
    inject_specs,
    make_serializer,
    spec_from_dict,
    spec_to_dict,
    strip_specs,
)
from orchestrator.engine.specs import (
    DecisionTask,
    ExternalTask,
    PassThroughTask,
    complete_external_task,
    message_event,
    throw_bpmn_error,
    waiting_external_tasks,
)
from orchestrator.errors import DiagramError, EngineError

DIAGRAMS = Path(__file__).resolve().parents[1] / "bpmn" / "parsing"
COVERAGE = Path(__file__).resolve().parents[1] / "bpmn" / "coverage"
PYTHON_NAMES = re.compile(r"\b\w*(Error|Exception)\b|Traceback")


def load(*names: str) -> dict[str, bytes]:
    return {name: (DIAGRAMS / name).read_bytes() for name in names}


def compile_one(*names: str) -> CompiledProcess:
    [process] = compile_deployment(load(*names))
    return process


def line_of(name: str, element_id: str) -> int:
    for number, text in enumerate((DIAGRAMS / name).read_text(encoding="utf-8").splitlines(), start=1):
        if f'id="{element_id}"' in text:
            return number
    raise AssertionError(f"{element_id} not in {name}")


# ----------------------------------------------------------------------------- dialect captured


def test_user_task_camunda_attributes_land_in_extensions() -> None:
    process = compile_one("camunda_dialect.bpmn")
    review = process.spec.task_specs["review"]
    assert review.extensions == {
        "candidateGroups": "window,market",
        "candidateUsers": "u1,u2",
        "assignee": "${clerk}",
        "dueDate": "${workdays(5)}",
        "followUpDate": "P2D",
        "priority": "60",
        "formKey": "review-form",
        "properties": {"department": "market"},
        "documentation": "核对申请材料",
    }
    assert review.manual


def test_external_service_task_becomes_waiting_external_task() -> None:
    process = compile_one("camunda_dialect.bpmn")
    notify = process.spec.task_specs["notify"]
    assert isinstance(notify, ExternalTask)
    assert not notify.manual
    assert notify.extensions == {
        "type": "external",
        "topic": "tax-registration",
        "priority": "${priority}",
        "properties": {"system": "tax"},
    }


def test_process_level_dialect() -> None:
    process = compile_one("camunda_dialect.bpmn")
    assert process.key == "p_dialect"
    assert process.name == "企业开办一件事"
    assert process.resource_name == "camunda_dialect.bpmn"
    assert process.version_tag == "2024.1"
    assert process.properties == {"bundle": "enterprise-opening", "statutoryDays": "5"}
    assert process.spec.task_specs["start"].extensions == {"formKey": "apply-form", "initiator": "applicant"}


def test_expressions_stay_raw_and_constructs_map_to_faithful_specs() -> None:
    specs = compile_one("camunda_dialect.bpmn").spec.task_specs
    assert specs["notify_late"].event_definition.expression == "PT5M"
    assert isinstance(specs["urge"], PassThroughTask) and not specs["urge"].manual
    assert specs["done"].event_definition.name == "办结"  # signal end event, not a none event
    assert specs["notify_rejected"].event_definition.code == "DEPT_REJECTED"
    countersign = specs["countersign"]
    assert countersign.collection == "reviewers"  # ${reviewers} normalised to the name
    assert specs["countersign [child]"].extensions["assignee"] == "${reviewer}"


def test_message_start_names_and_qualified_refs() -> None:
    [process] = compile_deployment(load("message_start.bpmn"))
    assert process.key == "p_message_start"
    assert process.message_start_names == ("申请已提交",)


def test_message_start_is_triggered_by_message_event_with_variables() -> None:
    [process] = compile_deployment(load("message_start.bpmn"))
    workflow = BpmnWorkflow(process.spec, process.subprocess_specs)
    workflow.do_engine_steps()
    assert not [t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.manual]
    workflow.catch(message_event("申请已提交", {"applicant": "张三"}))
    workflow.do_engine_steps()
    [review] = [t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.manual]
    assert review.task_spec.name == "review"
    assert review.data["applicant"] == "张三"


def test_call_activity_resolved_through_library() -> None:
    with pytest.raises(DiagramError) as info:
        compile_deployment(load("call_parent.bpmn"))
    assert info.value.code == "bpmn.called_process_missing"
    assert info.value.element_id == "call_child"
    assert info.value.line == line_of("call_parent.bpmn", "call_child")

    [parent] = compile_deployment(load("call_parent.bpmn"), library=load("call_child.bpmn"))
    assert set(parent.subprocess_specs) == {"p_child", "child_work"}
    workflow = BpmnWorkflow(parent.spec, parent.subprocess_specs)
    workflow.do_engine_steps()
    [ready] = [t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.manual]
    assert ready.task_spec.name == "inner_review"
    assert ready.task_spec.extensions["candidateGroups"] == "archive"


def test_deployment_version_wins_over_library_copy() -> None:
    compiled = compile_deployment(load("call_parent.bpmn", "call_child.bpmn"), library=load("call_child.bpmn"))
    assert sorted(p.key for p in compiled) == ["p_child", "p_parent"]


def test_duplicate_process_in_one_deployment_refused() -> None:
    data = (DIAGRAMS / "call_child.bpmn").read_bytes()
    with pytest.raises(DiagramError) as info:
        compile_deployment({"a.bpmn": data, "b.bpmn": data})
    assert info.value.code == "bpmn.duplicate_process"


def test_decision_task_with_camunda_result_mapping() -> None:
    process = compile_one("decision_task.bpmn", "fee_level.dmn")
    assert isinstance(process.spec.task_specs["classify"], DecisionTask)
    for amount, level in ((10, "low"), (5000, "high")):
        workflow = BpmnWorkflow(process.spec, process.subprocess_specs)
        workflow.get_tasks(state=TaskState.READY)[0].data["amount"] = amount
        workflow.do_engine_steps()
        assert workflow.completed
        assert workflow.last_task.data["level"] == level


def test_decision_resolved_through_library() -> None:
    [process] = compile_deployment(load("decision_task.bpmn"), library=load("fee_level.dmn"))
    assert isinstance(process.spec.task_specs["classify"], DecisionTask)


def test_missing_decision_and_refused_hit_policy() -> None:
    with pytest.raises(DiagramError) as info:
        compile_deployment(load("decision_task.bpmn"))
    assert info.value.code == "bpmn.decision_missing"
    assert info.value.element_id == "classify"
    bad = {
        "decision_task.bpmn": load("decision_task.bpmn")["decision_task.bpmn"],
        "fee_level.dmn": (DIAGRAMS / "refused_hit_policy.dmn").read_bytes(),
    }
    with pytest.raises(DiagramError) as info:
        compile_deployment(bad)
    assert info.value.element_id == "fee_table"
    assert "RULE ORDER" in info.value.message_en


def test_forms_and_other_files_are_ignored() -> None:
    resources = load("message_start.bpmn")
    resources["review.form"] = b"{not xml at all"
    resources["notes.json"] = b"{}"
    assert [p.key for p in compile_deployment(resources)] == ["p_message_start"]


def test_file_without_executable_process_refused() -> None:
    with pytest.raises(DiagramError) as info:
        compile_deployment(load("no_executable_process.bpmn"))
    assert info.value.code == "bpmn.no_executable_process"
    assert info.value.filename == "no_executable_process.bpmn"


# ----------------------------------------------------------------------------- refusals

REFUSED: dict[str, tuple[str, ...]] = {
    # file stem: (element id named by the error, words expected in the English message[, text on the
    # reported line when it is a child of the element rather than the element's own line])
    "message_without_name": ("Message_nameless", "no name"),
    "message_unresolved": ("work_def", "does not exist"),
    "compensate_event": ("work_def", "compensation"),
    "link_event": ("work_def", "link events"),
    "conditional_event": ("work_def", "conditional events"),
    "multiple_event_definitions": ("work", "several event definitions"),
    "event_definition_ref": ("work", "global event definitions", "<bpmn:eventDefinitionRef>"),
    "multi_instance_behavior": ("work", 'behavior="One"', "<bpmn:multiInstanceLoopCharacteristics"),
    "multi_instance_data_input": ("work", "loopDataInputRef", "<bpmn:loopDataInputRef>"),
    "complex_gateway": ("work", "complex gateways"),
    "service_class": ("work", "camunda:class"),
    "service_delegate_expression": ("work", "camunda:delegateExpression"),
    "service_expression": ("work", "camunda:expression"),
    "service_connector": ("work", "connectors", "<camunda:connector>"),
    "service_without_implementation": ("work", "no executable implementation"),
    "external_without_topic": ("work", "camunda:topic"),
    "send_task_without_implementation": ("work", "no executable implementation"),
    "receive_task_without_message": ("work", "must reference a message"),
    "business_rule_without_decision": ("work", "no executable implementation"),
    "script_javascript": ("work", "javascript"),
    "script_result_variable": ("work", "camunda:resultVariable"),
    "input_output": ("work", "inputOutput", "<camunda:inputOutput>"),
    "execution_listener": ("work", "execution listeners", "<camunda:executionListener"),
    "task_listener": ("work", "task listeners", "<camunda:taskListener"),
    "call_activity_mapping": ("work", "source/target pair", "<camunda:in "),
    "call_activity_expression": ("work", "calledElement"),
    "event_subprocess_none_start": ("events", "event sub-process needs exactly one start event"),
    "error_start_not_interrupting": ("events_start", "always interrupting"),
    "event_gateway_two_timers": ("long_timer", "one timer event at most"),
    "error_boundary_not_interrupting": ("work_failed", "always interrupting"),
    "timer_start": ("start", "timer and signal start events"),
    "signal_start_in_subprocess": ("inner_start", "inside a sub-process"),
    "cron_cycle": ("work", "cron"),
    "empty_timer": ("work", "timer needs exactly one"),
    "condition_on_parallel_gateway": ("flow_conditional", "parallel or event-based gateway"),
    "adhoc_subprocess": ("work", "ad-hoc"),
    "compensation_handler": ("undo", "compensation handlers"),
    "io_specification": ("work_io", "ioSpecification"),
    "potential_owner": ("work_owner", "potentialOwner"),
    "boundary_without_definition": ("work_boundary", "no event definition"),
    "cancel_end_outside_transaction": ("cancel_end", "transaction"),
    "unknown_camunda_attribute": ("work", "camunda:formHandlerClass"),
}


def test_every_refusal_diagram_is_listed() -> None:
    on_disk = {p.stem.removeprefix("refused_") for p in DIAGRAMS.glob("refused_*.bpmn")}
    assert on_disk == set(REFUSED)


@pytest.mark.parametrize("stem", sorted(REFUSED))
def test_unsupported_construct_refused_with_element_and_line(stem: str) -> None:
    name = f"refused_{stem}.bpmn"
    element_id, words, *marker = REFUSED[stem]
    with pytest.raises(DiagramError) as info:
        compile_deployment(load(name))
    error = info.value
    assert error.filename == name
    assert error.element_id == element_id
    if marker:
        assert error.line is not None
        assert marker[0] in (DIAGRAMS / name).read_text(encoding="utf-8").splitlines()[error.line - 1]
    else:
        assert error.line == line_of(name, element_id)
    assert words in error.message_en
    assert error.code in ("bpmn.unsupported", "bpmn.schema")
    assert re.search(r"[\u4e00-\u9fff]", error.message_zh)
    for text in (error.message_zh, error.message_en):
        assert not PYTHON_NAMES.search(text), text
        assert name in text


def test_spiffworkflow_validation_errors_are_translated() -> None:
    data = load("call_child.bpmn")["call_child.bpmn"].replace(
        b'<bpmn:startEvent id="inner_start" />',
        b'<bpmn:startEvent id="inner_start" />\n      <bpmn:startEvent id="inner_start_2" />',
    )
    with pytest.raises(DiagramError) as info:
        compile_deployment({"two_starts.bpmn": data})
    assert info.value.element_id == "child_work"
    assert info.value.line is not None
    assert "恰好有一个开始事件" in info.value.message_zh
    assert not PYTHON_NAMES.search(info.value.message_en)


# ----------------------------------------------------------------------------- external task at run time


def started_external_flow() -> tuple[CompiledProcess, BpmnWorkflow]:
    process = compile_one("external_task_flow.bpmn")
    workflow = BpmnWorkflow(process.spec, process.subprocess_specs)
    workflow.do_engine_steps()
    return process, workflow


def test_external_task_waits_in_started_until_completed() -> None:
    _, workflow = started_external_flow()
    [task] = waiting_external_tasks(workflow)
    assert task.state == TaskState.STARTED
    assert task.task_spec.topic == "license-check"
    workflow.do_engine_steps()
    assert task.state == TaskState.STARTED and not workflow.completed
    complete_external_task(task, {"licence": "ok"})
    workflow.do_engine_steps()
    assert workflow.completed
    assert workflow.last_task.data == {"licence": "ok"}
    with pytest.raises(EngineError):
        complete_external_task(task, {})


def test_external_task_bpmn_error_is_caught_by_boundary_event() -> None:
    _, workflow = started_external_flow()
    [task] = waiting_external_tasks(workflow)
    assert not throw_bpmn_error(task, "OTHER_CODE")
    assert throw_bpmn_error(task, "DEPT_REJECTED", "rejected", {"reason": "missing seal"})
    workflow.do_engine_steps()
    assert workflow.completed
    assert task.state == TaskState.CANCELLED
    assert workflow.last_task.data["reason"] == "missing seal"
    finished = {t.task_spec.name for t in workflow.get_tasks(state=TaskState.COMPLETED)}
    assert "end_rejected" in finished and "end_ok" not in finished


# ----------------------------------------------------------------------------- serializer


def test_spec_dict_is_json_and_round_trips() -> None:
    process = compile_one("camunda_dialect.bpmn")
    spec_dict = spec_to_dict(process)
    assert set(spec_dict) == set(SPEC_KEYS)
    json.dumps(spec_dict)
    spec, subprocess_specs = spec_from_dict(json.loads(json.dumps(spec_dict)))
    assert spec.task_specs["review"].extensions == process.spec.task_specs["review"].extensions
    assert isinstance(spec.task_specs["notify"], ExternalTask)
    assert (
        spec_to_dict(
            CompiledProcess(process.key, process.name, process.resource_name, spec, subprocess_specs, (), {}, None)
        )
        == spec_dict
    )


def test_case_state_without_spec_round_trips_to_identical_workflow() -> None:
    serializer = make_serializer()
    [parent] = [p for p in compile_deployment(load("call_parent.bpmn", "call_child.bpmn")) if p.key == "p_parent"]
    workflow = BpmnWorkflow(parent.spec, parent.subprocess_specs)
    workflow.do_engine_steps()
    full = serializer.to_dict(workflow)
    assert {"spec", "subprocess_specs"} <= set(full)
    spec_dict = spec_to_dict(parent)
    assert full["spec"] == spec_dict["spec"]
    assert full["subprocess_specs"] == spec_dict["subprocess_specs"]
    state = json.loads(json.dumps(strip_specs(full)))
    assert not set(SPEC_KEYS) & set(state)
    restored = serializer.from_dict(inject_specs(state, json.loads(json.dumps(spec_dict))))
    assert serializer.to_dict(restored) == full
    [ready] = [t for t in restored.get_tasks(state=TaskState.READY) if t.task_spec.manual]
    ready.run()
    restored.do_engine_steps()
    assert restored.completed


@pytest.mark.parametrize("path", sorted(COVERAGE.glob("*.bpmn")), ids=lambda p: p.stem)
def test_every_coverage_diagram_compiles_and_its_spec_round_trips(path: Path) -> None:
    for process in compile_deployment({path.name: path.read_bytes()}):
        spec_dict = spec_to_dict(process)
        spec, subprocess_specs = spec_from_dict(json.loads(json.dumps(spec_dict)))
        again = CompiledProcess(process.key, process.name, process.resource_name, spec, subprocess_specs, (), {}, None)
        assert spec_to_dict(again) == spec_dict


def test_an_event_subprocess_becomes_a_trigger_of_its_scope() -> None:
    [process] = compile_deployment({"e.bpmn": (COVERAGE / "event_subprocess_timer.bpmn").read_bytes()})
    specs = process.spec.task_specs
    reminder, deadline = specs["event_sub_reminder.Trigger"], specs["event_sub_deadline.Trigger"]
    assert isinstance(reminder, EventSubprocessTrigger) and not reminder.interrupting
    assert isinstance(deadline, EventSubprocessTrigger) and deadline.interrupting
    assert reminder.activity_id == "reminder_start" and reminder.event_definition.expression == "PT1S"
    assert {"event_sub_reminder.Trigger", "event_sub_deadline.Trigger"} <= set(specs["Start"]._outputs)
    handler_start = process.subprocess_specs["event_sub_reminder"].task_specs["reminder_start"]
    assert isinstance(handler_start.event_definition, NoneEventDefinition)  # the trigger caught it already


def test_several_outgoing_flows_of_a_task_go_through_one_split_in_document_order() -> None:
    [process] = compile_deployment({"c.bpmn": (COVERAGE / "conditional_flows.bpmn").read_bytes()})
    specs = process.spec.task_specs
    split = specs["task_decide.FlowSplit"]
    assert isinstance(split, ConditionalFlowSplit) and specs["task_decide"]._outputs == [split.name]
    assert [target for _, target in split.cond_task_specs] == ["task_urgent", "task_large", "task_normal"]
    assert split.default_task_spec == "task_normal" and split.flow_ids["task_urgent"] == "Flow_urgent"


def test_gateway_flows_are_tried_in_document_order_whatever_the_layout() -> None:
    [process] = compile_deployment({"o.bpmn": (COVERAGE / "exclusive_gateway_order.bpmn").read_bytes()})
    gateway = process.spec.task_specs["gw_amount"]
    targets = [target for _, target in gateway.cond_task_specs]
    assert targets == ["task_at_least_100", "task_at_least_1000", "task_other"]


NO_FLOW_TAKEN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="http://lianban.dev/test">
  <bpmn:process id="p_no_flow" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="flow_in" sourceRef="start" targetRef="decide" />
    <bpmn:scriptTask id="decide" scriptFormat="python"><bpmn:script>ok = False</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="flow_ok" sourceRef="decide" targetRef="end">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${ok == true}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_an_activity_whose_only_flow_condition_is_false_stops_with_a_named_error() -> None:
    from orchestrator.engine.runtime import CaseRuntime
    from orchestrator.engine.sandbox import make_script_engine

    [process] = compile_deployment({"no_flow.bpmn": NO_FLOW_TAKEN})
    runtime = CaseRuntime.create(process.spec, process.subprocess_specs, make_script_engine({}))
    with pytest.raises(EngineError) as info:
        runtime.run()
    assert info.value.code == "engine.no_outgoing_flow" and info.value.element_id == "decide"
    assert "decide" in info.value.message_zh and not PYTHON_NAMES.search(info.value.message_en)
