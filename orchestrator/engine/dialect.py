"""The dialect check: everything SpiffWorkflow would parse but Lianban would not run faithfully is refused.

``DialectChecker(process, filename).run()`` walks one executable process element by element and
raises a DiagramError (code ``bpmn.unsupported``) naming the element id and line; ``check_dmn``
does the same for a decision table. The table of what is supported is in ``engine/parsing.py``.
"""

from __future__ import annotations

from typing import Any

from orchestrator.engine import countersign, rewind
from orchestrator.engine.bpmn_xml import (
    CAMUNDA,
    CAMUNDA_NS,
    IDENTIFIER,
    PYTHON_LANGUAGES,
    WRAPPED_IDENTIFIER,
    document_child,
    event_definitions,
    is_event_subprocess,
    local_name,
    namespace_of,
    refusal,
)
from orchestrator.engine.dialect_rules import (
    ACTIVITIES,
    ALLOWED_CAMUNDA_ATTRS,
    EVENT_DEFINITIONS,
    EVENT_SUBPROCESS_STARTS,
    HARMLESS_CAMUNDA_ELEMENTS,
    IGNORED_CAMUNDA_ATTRS,
    JAVA_MESSAGE,
    REFUSED_CAMUNDA_ELEMENTS,
    REFUSED_ELEMENTS,
    looks_like_cron,
)
from orchestrator.engine.xml_safety import BPMN_NS
from orchestrator.errors import DiagramError


class DialectChecker:
    """Walks one executable process and refuses, element by element, what the engine cannot run."""

    def __init__(self, process: Any, filename: str) -> None:
        self.process = process
        self.filename = filename
        self.root = process.getroottree().getroot()
        self.by_id = {el.get("id"): el for el in process.iter() if isinstance(el.tag, str) and el.get("id")}

    def refuse(self, element: Any, zh: str, en: str) -> DiagramError:
        return refusal(self.filename, element, zh, en)

    def run(self) -> None:
        for element in self.process.iter():
            namespace = namespace_of(element.tag)
            if namespace == BPMN_NS:
                self.check_bpmn(element, local_name(element.tag))
            elif namespace == CAMUNDA_NS:
                self.check_camunda_element(element, local_name(element.tag))

    # -- BPMN elements
    def check_bpmn(self, el: Any, name: str) -> None:
        if name in REFUSED_ELEMENTS:
            raise self.refuse(el, *REFUSED_ELEMENTS[name])
        self.check_camunda_attributes(el, name)
        if name in ACTIVITIES and el.get("isForCompensation") == "true":
            raise self.refuse(el, "不支持补偿处理活动", "compensation handlers are not supported")
        check = getattr(self, f"check_{name}", None)
        if name in EVENT_DEFINITIONS:
            self.check_event(el, name)
        if check is not None:
            check(el)

    def check_camunda_attributes(self, el: Any, name: str) -> None:
        for key in el.attrib:
            if not key.startswith(CAMUNDA):
                continue
            attr = key[len(CAMUNDA) :]
            if attr in IGNORED_CAMUNDA_ATTRS or attr in ALLOWED_CAMUNDA_ATTRS.get(name, set()):
                continue
            if attr in ("class", "delegateExpression", "expression"):
                raise self.refuse(el, JAVA_MESSAGE[0].format(a=attr), JAVA_MESSAGE[1].format(a=attr))
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
            value = el.get(CAMUNDA + attr)
            if value is not None and value not in allowed:
                raise self.refuse(el, f'不支持 camunda:{attr}="{value}"', f'camunda:{attr}="{value}" is not supported')

    def check_camunda_element(self, el: Any, name: str) -> None:
        if name in REFUSED_CAMUNDA_ELEMENTS:
            raise self.refuse(el, *REFUSED_CAMUNDA_ELEMENTS[name])
        if name in ("in", "out"):
            self.check_variable_mapping(el, name)
            return
        if name == "property" and el.get("name") == countersign.RULE_PROPERTY:
            try:
                countersign.parse_rule(el.get("value"), "")
            except DiagramError as exc:
                raise refusal(self.filename, el, exc.message_zh, exc.message_en, code=exc.code) from None
        if name == "property" and el.get("name") in (rewind.TARGETS_PROPERTY, rewind.ASSIGN_PROPERTY):
            user_tasks = {t.get("id") for t in el.getroottree().getroot().iter(f"{{{BPMN_NS}}}userTask")}
            problem = rewind.send_back_property_problem(el.get("name"), el.get("value"), user_tasks)
            if problem is not None:
                raise refusal(self.filename, el, *problem, code="bpmn.send_back_rule")
        if name not in HARMLESS_CAMUNDA_ELEMENTS:
            raise self.refuse(
                el,
                f"不支持 Camunda 扩展元素 camunda:{name}",
                f"the Camunda extension element camunda:{name} is not supported",
            )

    def check_variable_mapping(self, el: Any, name: str) -> None:
        owner = el.getparent().getparent() if el.getparent() is not None else None
        owner_name = local_name(owner.tag) if owner is not None else ""
        attributes = dict(el.attrib)
        if owner_name == "callActivity":
            pair = set(attributes) == {"source", "target"} and all(IDENTIFIER.match(v) for v in attributes.values())
            if attributes == {"variables": "all"} or pair:
                return
        elif owner_name in ("intermediateThrowEvent", "endEvent") and name == "in":
            if attributes == {"variables": "all"}:
                return
        raise self.refuse(
            el,
            f'camunda:{name} 只支持 variables="all" 或 source/target 变量名（调用活动传入/传出）',
            f'camunda:{name} is only supported as variables="all" or a source/target pair of variable names',
        )

    # -- events
    def check_event(self, el: Any, name: str) -> None:
        children = [c for c in el if namespace_of(c.tag) == BPMN_NS]
        definitions = [c for c in children if local_name(c.tag).endswith("EventDefinition")]
        for child in children:
            if local_name(child.tag) in REFUSED_ELEMENTS:
                raise self.refuse(child, *REFUSED_ELEMENTS[local_name(child.tag)])
        if len(definitions) > 1:
            raise self.refuse(
                el, "不支持一个事件有多个事件定义", "events with several event definitions are not supported"
            )
        parent = el.getparent()
        parent_name = local_name(parent.tag)
        if name != "startEvent" or parent_name == "process":
            allowed = EVENT_DEFINITIONS[name]
        else:
            allowed = EVENT_SUBPROCESS_STARTS if is_event_subprocess(parent) else set()
        if not definitions:
            if name == "boundaryEvent":
                raise self.refuse(el, "边界事件缺少事件定义", "the boundary event has no event definition")
            return
        definition = definitions[0]
        kind = local_name(definition.tag)
        if kind == "errorEventDefinition" and name == "startEvent" and el.get("isInterrupting") == "false":
            raise self.refuse(
                el,
                "错误开始事件必须是中断型（isInterrupting 不能为 false）",
                "an error start event is always interrupting (isInterrupting must not be false)",
            )
        if kind == "errorEventDefinition" and name == "boundaryEvent" and el.get("cancelActivity") == "false":
            raise self.refuse(
                el,
                "错误边界事件必须是中断型（cancelActivity 不能为 false）",
                "an error boundary event is always interrupting (cancelActivity must not be false)",
            )
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
            if target is None or target.getparent() is not el.getparent() or local_name(target.tag) not in ACTIVITIES:
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
            if not any(local_name(a.tag) == "transaction" for a in el.iterancestors()):
                raise self.refuse(
                    el, "取消结束事件只能用于事务子流程", "cancel end events are only allowed inside a transaction"
                )

    def check_reference(self, holder: Any, attribute: str, tag: str, require_name: bool) -> None:
        ref = holder.get(attribute)
        if not ref:
            raise self.refuse(
                holder, f"事件必须引用一个 {tag}（{attribute}）", f"the event must reference a {tag} ({attribute})"
            )
        target = document_child(holder, tag, ref)
        if target is None:
            raise self.refuse(holder, f"引用的 {tag} {ref} 不存在", f"the referenced {tag} {ref} does not exist")
        if require_name and not (target.get("name") or "").strip():
            raise self.refuse(
                target,
                f"{tag} {ref} 没有名称（name），无法按名称关联",
                f"the {tag} {ref} has no name, so nothing can correlate with it",
            )

    def check_timer(self, event: Any, definition: Any) -> None:
        parts = [c for c in definition if local_name(c.tag) in ("timeDate", "timeDuration", "timeCycle")]
        if len(parts) != 1 or not (parts[0].text or "").strip():
            raise self.refuse(
                event,
                "定时器必须恰好有一个非空的 timeDate、timeDuration 或 timeCycle",
                "a timer needs exactly one non-empty timeDate, timeDuration or timeCycle",
            )
        if local_name(parts[0].tag) == "timeCycle" and looks_like_cron(parts[0].text):
            raise self.refuse(
                event,
                "不支持 cron 格式的循环定时器，请使用 ISO 8601（如 R3/PT10M）",
                "cron timer cycles are not supported; use ISO 8601 (for example R3/PT10M)",
            )

    # -- activities and other elements (dispatched by name)
    def _implementation(self, el: Any, name: str) -> bool:
        connector = el.find(f"{{{BPMN_NS}}}extensionElements/{CAMUNDA}connector")
        if connector is not None:
            raise self.refuse(connector, *REFUSED_CAMUNDA_ELEMENTS["connector"])
        kind = el.get(CAMUNDA + "type")
        if kind is None:
            return False
        if kind != "external":
            raise self.refuse(el, f'不支持 camunda:type="{kind}"', f'camunda:type="{kind}" is not supported')
        if not (el.get(CAMUNDA + "topic") or "").strip():
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
        ref = el.get(CAMUNDA + "decisionRef")
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
        if language not in PYTHON_LANGUAGES:
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
        if not is_event_subprocess(el):
            return
        starts = el.findall(f"{{{BPMN_NS}}}startEvent")
        if len(starts) != 1 or not event_definitions(starts[0]):
            raise self.refuse(
                el,
                "事件子流程必须恰好有一个带消息、定时、信号、错误或升级事件定义的开始事件",
                "an event sub-process needs exactly one start event, with a message, timer, signal, error or "
                "escalation definition",
            )
        element_id = el.get("id")
        connected = [f for f in self.process.iter(f"{{{BPMN_NS}}}sequenceFlow") if element_id in (
            f.get("sourceRef"), f.get("targetRef"))]
        attached = [b for b in self.process.iter(f"{{{BPMN_NS}}}boundaryEvent") if b.get("attachedToRef") == element_id]
        looped = [c for c in el if local_name(c.tag).endswith("LoopCharacteristics")]
        if connected or attached or looped:
            raise self.refuse(
                (connected + attached + looped)[0],
                "事件子流程不能有顺序流、边界事件或循环/多实例",
                "an event sub-process cannot have sequence flows, boundary events or loop/multi-instance markers",
            )

    def check_eventBasedGateway(self, el: Any) -> None:
        if el.get("instantiate") == "true" or el.get("eventGatewayType") == "Parallel":
            raise self.refuse(
                el,
                "不支持实例化或并行类型的事件网关",
                "instantiating or parallel event-based gateways are not supported",
            )
        targets = [
            self.by_id.get(f.get("targetRef"))
            for f in self.process.iter(f"{{{BPMN_NS}}}sequenceFlow")
            if f.get("sourceRef") == el.get("id")
        ]
        timers = [
            t for t in targets if t is not None and any(local_name(d.tag) == "timerEventDefinition"
                                                        for d in event_definitions(t))
        ]
        if len(timers) > 1:
            raise self.refuse(
                timers[1],
                "事件网关后最多只能有一个定时事件（多个定时器会共用一个到期时间）",
                "an event-based gateway may lead to one timer event at most (several would share one due time)",
            )

    def check_sequenceFlow(self, el: Any) -> None:
        condition = el.find(f"{{{BPMN_NS}}}conditionExpression")
        if condition is None:
            return
        source = self.by_id.get(el.get("sourceRef"))
        if source is None or local_name(source.tag) in ("parallelGateway", "eventBasedGateway"):
            raise self.refuse(
                el,
                "并行网关和事件网关的流出顺序流不能带条件（条件不会被求值）",
                "flows leaving a parallel or event-based gateway cannot carry a condition (it would be ignored)",
            )
        language = (condition.get("language") or "").strip().lower()
        if language not in PYTHON_LANGUAGES:
            raise self.refuse(el, f"不支持 {language} 语言的条件", f"{language} conditions are not supported")
        if condition.get(CAMUNDA + "resource") is not None:
            raise self.refuse(el, "不支持 camunda:resource 条件", "camunda:resource conditions are not supported")

    def check_multiInstanceLoopCharacteristics(self, el: Any) -> None:
        if el.get("behavior") not in (None, "All"):
            raise self.refuse(
                el,
                f'不支持多实例 behavior="{el.get("behavior")}"',
                f'multi-instance behavior="{el.get("behavior")}" is not supported',
            )
        collection = el.get(CAMUNDA + "collection")
        element_variable = el.get(CAMUNDA + "elementVariable")
        if collection is not None:
            if not (IDENTIFIER.match(collection) or WRAPPED_IDENTIFIER.match(collection)):
                raise self.refuse(
                    el,
                    "camunda:collection 必须是变量名（如 items 或 ${items}）",
                    "camunda:collection must be a variable name (items or ${items})",
                )
            if not element_variable or not IDENTIFIER.match(element_variable):
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


def check_dmn(root: Any, filename: str) -> None:
    decisions = [c for c in root if local_name(c.tag) == "decision"]
    if len(decisions) != 1:
        target = decisions[1] if len(decisions) > 1 else root
        raise refusal(filename, target, "每个 DMN 文件只能有一个决策", "a DMN file must hold exactly one decision")
    decision = decisions[0]
    if any(local_name(c.tag) in ("informationRequirement", "knowledgeRequirement") for c in decision):
        raise refusal(filename, decision, "不支持决策依赖（DRD）", "decision requirements (DRD) are not supported")
    tables = [c for c in decision if local_name(c.tag) == "decisionTable"]
    if len(tables) != 1:
        raise refusal(filename, decision, "决策必须是一张决策表", "the decision must be a single decision table")
    hit_policy = (tables[0].get("hitPolicy") or "UNIQUE").upper()
    aggregation = tables[0].get("aggregation")
    if hit_policy not in ("UNIQUE", "FIRST", "COLLECT") or aggregation:
        policy = f"{hit_policy} {aggregation}" if aggregation else hit_policy
        raise refusal(filename, tables[0], f"不支持命中策略 {policy}", f"the hit policy {policy} is not supported")

