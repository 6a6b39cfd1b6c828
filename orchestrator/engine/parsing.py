"""Deploy-time compile step: BPMN/DMN bytes -> SpiffWorkflow specs, or a DiagramError naming the element.

Pipeline per deployment: :func:`~orchestrator.engine.xml_safety.load_xml` (hardened lxml) ->
XSD validation -> the dialect check (``engine/dialect.py``: everything SpiffWorkflow would parse but
Lianban would not run faithfully is refused, naming element id and line) -> SpiffWorkflow's
``CamundaParser``, subclassed in ``engine/spiff_parser.py`` so that each element becomes a spec
with Camunda 7 semantics and Camunda attributes land, raw and unevaluated, in each task spec's
``extensions`` dict. No diagram expression is evaluated here. Refusals carry code
``bpmn.unsupported`` unless stated otherwise. Runtime semantics are in ``engine/events.py``,
``event_subprocess.py``, ``multi_instance.py``, ``flows.py``, ``joins.py`` and ``specs.py``.

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
event subProcess (triggeredByEvent) with    supported   a trigger waits with its scope (process or
message/timer/signal/error/escalation                   sub-process); interrupting cancels the scope's
start, interrupting or not                              other work first, non-interrupting runs once
                                                        per event beside it; never keeps a scope open
event subProcess: none start, several       refused     no trigger / Camunda refuses them too
starts, flows, boundary events, loops;
error start with isInterrupting="false"
endEvent none/message/error/escalation/     supported   error/escalation: nearest catcher, scope by
terminate/signal; cancel in a transaction               scope (boundary, then event sub-process);
                                                        signal: caught in the case; message: see below
intermediateCatchEvent message/signal/timer supported
intermediateThrowEvent none/message/        supported   signal payload only with camunda:in
signal/escalation                                       variables="all" (as Camunda)
message throw (end, intermediate,           supported   as in Camunda 7 without implementation:
sendTask with messageRef)                               delivered to nothing in the engine; kept for
                                                        publishing (CaseRuntime.thrown_messages)
message catch (all positions)               supported   payload merged at the top of the data and
                                                        set on every unfinished path (process vars)
boundaryEvent message/signal/timer/error/   supported   non-interrupting message/signal/escalation
escalation; cancel on a transaction                     catch every event while the activity runs;
                                                        paths they started outlive the activity
error boundaryEvent cancelActivity="false"  refused     errors always interrupt
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
several / conditional / default flows out   supported   Camunda rules: every true or unconditioned
of an activity or event                                 flow is taken, the default only when none is;
                                                        none takeable -> ``engine.no_outgoing_flow``
service/send/businessRuleTask               supported   -> ExternalTask (waits in STARTED); type,
camunda:type="external" + camunda:topic                 topic, priority (camunda:taskPriority),
                                                        properties -> extensions
camunda:class / delegateExpression /        refused     Java delegates: no executor here
expression, connectors, other camunda:type
serviceTask without implementation          refused     nothing to execute
receiveTask with messageRef                 supported   instantiate="true" refused
businessRuleTask camunda:decisionRef        supported   DMN table in the deployment or library;
                                                        resultVariable/mapDecisionResult honoured;
                                                        decisionRefBinding latest|deployment only
scriptTask python / no scriptFormat         supported   other languages, camunda:resource and
                                                        camunda:resultVariable refused
callActivity literal calledElement          supported   resolved in the deployment, then library;
                                                        camunda:in/out variables="all" or source/
                                                        target pairs; without them nothing passes;
                                                        binding latest|deployment
camunda:in/out sourceExpression, local,     refused     not implemented; calledElement expressions
businessKey; calledElement expression                   refused likewise
subProcess, transaction                     supported   embedded: shares the process variables
adHocSubProcess, complexGateway             refused     not executed by Camunda 7 / not supported
multiInstance (camunda:collection+element   supported   Camunda semantics: instance writes become
Variable, loopCardinality, completionCond)              process variables; loopCounter and nrOf*
                                                        counters; history body ``<id>#multiInstance
                                                        Body``; ``${name}`` collection -> name
multiInstance behavior!=All, complex        refused     not read by the engine
BehaviorDefinition, loopDataInput/Output,
data items
standardLoopCharacteristics                 supported   SpiffWorkflow loop (loopMaximum integer)
isForCompensation                           refused     compensation is not implemented
exclusiveGateway, inclusiveGateway          supported   flows tried in document order (SpiffWorkflow:
                                                        by the target's y); a non-default flow
                                                        without condition counts as true
parallelGateway                             supported   branch writes joined as one scope; different
                                                        values -> ``engine.branch_variable_conflict``
eventBasedGateway                           supported   instantiate / Parallel type refused; one timer
                                                        at most (SpiffWorkflow would share its due)
condition on a flow out of a parallel or    refused     it would be ignored; other languages than
event-based gateway; non-python language                python and camunda:resource refused
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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec

from orchestrator.engine.bpmn_xml import CAMUNDA, NS, document_child, local_name, refusal, scrub
from orchestrator.engine.dialect import DialectChecker, check_dmn
from orchestrator.engine.spiff_parser import LianbanParser
from orchestrator.engine.xml_safety import (
    BPMN_NS,
    dmn_namespace,
    load_xml,
    validate_bpmn_schema,
    validate_dmn_schema,
)
from orchestrator.errors import DiagramError

__all__ = ["BPMN_SUFFIXES", "DMN_SUFFIXES", "CompiledProcess", "compile_deployment"]

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
                for decision in (c for c in doc.root if local_name(c.tag) == "decision"):
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
            check_dmn(doc.root, doc.filename)
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
                raise refusal(
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
            DialectChecker(current, current_doc.filename).run()
            checked.add(id(current))
        for call in current.iter(f"{{{BPMN_NS}}}callActivity"):
            called = call.get("calledElement")
            if called not in index.processes:
                raise refusal(
                    current_doc.filename,
                    call,
                    f"调用的流程 {called} 既不在本次部署中，也没有部署过",
                    f"the called process {called} is neither in this deployment nor deployed before",
                    code="bpmn.called_process_missing",
                )
            pending.append(index.processes[called])
        for task in current.iter(f"{{{BPMN_NS}}}businessRuleTask"):
            ref = task.get(CAMUNDA + "decisionRef")
            if ref is None:
                continue
            decision_doc = index.decisions.get(ref)
            if decision_doc is None:
                raise refusal(
                    current_doc.filename,
                    task,
                    f"引用的决策 {ref} 不存在",
                    f"the decision {ref} does not exist",
                    code="bpmn.decision_missing",
                )
            if decision_doc.from_library:
                check_dmn(decision_doc.root, decision_doc.filename)
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
        detail = scrub(str(exc))
        raise refusal(
            doc.filename,
            process,
            f"流程 {key} 无法编译：{detail}",
            f"process {key} cannot be compiled: {detail}",
            code="bpmn.invalid",
        ) from None
    start_names = []
    for definition in process.xpath("./bpmn:startEvent/bpmn:messageEventDefinition", namespaces=NS):
        start_names.append(document_child(definition, "message", definition.get("messageRef")).get("name"))
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
        version_tag=process.get(CAMUNDA + "versionTag"),
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
    detail = scrub(raw)
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


