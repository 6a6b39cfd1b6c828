"""Multi-instance activities with Camunda 7 semantics (SpiffWorkflow's Camunda variant differs).

SpiffWorkflow's Camunda multi-instance keeps only the element variable of each instance (written
back into the collection), drops every other variable an instance set, offers none of Camunda's
counters, and rewrites its (shared, cached) spec while it runs. Here, as in Camunda 7:

- ``camunda:collection`` (a variable name) gives one instance per item, the item in the local
  ``camunda:elementVariable``; ``loopCardinality`` (an expression) gives that many instances.
- Each instance sees the local ``loopCounter`` (0-based) and the multi-instance body's
  ``nrOfInstances``, ``nrOfActiveInstances`` and ``nrOfCompletedInstances``.
- What an instance writes (except those locals) becomes a process variable when it completes:
  it is copied to the multi-instance body, and so to what follows. The collection is never rewritten.
- ``completionCondition`` is evaluated after each instance completes, with the process variables,
  the instance's locals and the up-to-date counters; when true the remaining instances are cancelled.
- Countersign rules, weights and the approve / reject counters ``nrOfApproved`` / ``nrOfRejected``
  come from ``countersign.py``; signers can be added and removed while the step runs (加签 / 减签).

Each signer is a slot in the body's ``internal_data["slots"]`` (item, weight, order, state, decision),
never deleted, only marked removed; a sequential body runs the pending slot of lowest order next.

In the activity history the body is reported as ``<id>#multiInstanceBody``, as Camunda does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from copy import deepcopy
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.mixins import BpmnSpecMixin
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from orchestrator.engine import countersign
from orchestrator.engine.task_data import evaluate_with, fingerprints, written_variables
from orchestrator.errors import ConflictError, EngineError, InvalidRequestError

COUNTERS = ("nrOfInstances", "nrOfActiveInstances", "nrOfCompletedInstances", "nrOfApproved", "nrOfRejected")
PENDING, OPEN, DONE, REMOVED = "pending", "open", "done", "removed"
LOOP_COUNTER = "loopCounter"


class CamundaMultiInstance(LoopTask, BpmnSpecMixin):  # type: ignore[misc]
    """The multi-instance body; its instances are children running the spec named ``task_spec``."""

    sequential = False

    def __init__(
        self,
        wf_spec: Any,
        bpmn_id: str,
        task_spec: str,
        collection: str | None = None,
        element_variable: str | None = None,
        cardinality: str | None = None,
        condition: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.task_spec = task_spec
        self.collection = collection
        self.element_variable = element_variable
        self.cardinality = cardinality
        self.condition = condition

    # -- what each instance keeps to itself
    def local_names(self) -> set[str]:
        names = {LOOP_COUNTER, *COUNTERS}
        if self.element_variable and self.collection:
            names.add(self.element_variable)
        return names

    def child_spec(self, my_task: Task) -> Any:
        return my_task.workflow.spec.task_specs[self.task_spec]

    def rule(self, my_task: Task) -> countersign.Rule | None:
        properties = countersign.properties_of(self.child_spec(my_task))
        return countersign.parse_rule(properties.get(countersign.RULE_PROPERTY), self.bpmn_id)

    def _update_hook(self, my_task: Task) -> bool:
        if my_task.has_state(TaskState.READY | TaskState.STARTED):
            return False  # already running (SpiffWorkflow may update a task more than once)
        super()._update_hook(my_task)
        items = self._items(my_task)
        my_task.internal_data["merged"] = []
        my_task.internal_data["slots"] = [
            {"item": item, "weight": self._weight(my_task, item, index), "order": float(index), "state": PENDING,
             "decision": None}
            for index, item in enumerate(items)
        ]
        if not items:
            return True
        my_task._set_state(TaskState.STARTED)
        for index in range(1 if self.sequential else len(items)):
            self._create_instance(my_task, index)
        return False

    def _items(self, my_task: Task) -> list[Any]:
        if self.collection:
            if self.collection not in my_task.data:
                raise self._error(my_task, f"多实例集合变量 {self.collection} 不存在",
                                  f"the multi-instance collection variable {self.collection} does not exist")
            value = my_task.data[self.collection]
            if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, set, frozenset)):
                raise self._error(my_task, f"多实例集合 {self.collection} 必须是列表",
                                  f"the multi-instance collection {self.collection} must be a list")
            return list(value)
        count = my_task.workflow.script_engine.evaluate(my_task, self.cardinality)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise self._error(my_task, f"多实例数量（loopCardinality）必须是非负整数，实际为 {count!r}",
                              f"loopCardinality must evaluate to a non-negative integer, got {count!r}")
        return list(range(count))

    def _weight(self, my_task: Task, item: Any, index: int) -> float:
        expression = countersign.properties_of(self.child_spec(my_task)).get(countersign.WEIGHT_PROPERTY)
        if not expression:
            return 1.0
        context = dict(my_task.data)
        context[LOOP_COUNTER] = index
        if self.element_variable and self.collection:
            context[self.element_variable] = item
        value = evaluate_with(my_task, str(expression), context, "countersign weight", self.bpmn_id)
        return countersign.weight_of(value, self.bpmn_id)

    def _error(self, my_task: Task, zh: str, en: str) -> WorkflowTaskException:
        error = WorkflowTaskException(en, task=my_task)
        error.__cause__ = EngineError(zh, en, code="engine.multi_instance", status=422, element_id=self.bpmn_id)
        return error

    # -- slots
    def slots(self, my_task: Task) -> list[dict[str, Any]]:
        slots: list[dict[str, Any]] | None = my_task.internal_data.get("slots")
        if slots is None:  # a body started before slots existed: rebuild them from its children
            slots = self._legacy_slots(my_task)
            my_task.internal_data["slots"] = slots
        return slots

    def _legacy_slots(self, my_task: Task) -> list[dict[str, Any]]:
        merged = set(my_task.internal_data.get("merged", []))
        by_index = {c.internal_data.get("loop_counter"): c for c in self._instances(my_task)}
        items = my_task.internal_data.get("items") or [
            by_index[i].data.get(self.element_variable) if i in by_index and self.element_variable else i
            for i in range(int(my_task.internal_data.get("instances", 0)))]
        slots = []
        for index, item in enumerate(items):
            child = by_index.get(index)
            state = PENDING if child is None else DONE if str(child.id) in merged else (
                OPEN if not child.has_state(TaskState.FINISHED_MASK) else REMOVED)
            if child is not None:
                child.internal_data["slot"] = index
            slots.append({"item": item, "weight": 1.0, "order": float(index), "state": state, "decision": None})
        return slots

    def tally(self, my_task: Task) -> countersign.Tally:
        live = [s for s in self.slots(my_task) if s["state"] != REMOVED]
        done = [s for s in live if s["state"] == DONE]
        return countersign.Tally(
            instances=len(live), completed=len(done),
            approved=sum(1 for s in done if s["decision"] is True),
            rejected=sum(1 for s in done if s["decision"] is False),
            approved_weight=sum(s["weight"] for s in done if s["decision"] is True),
            rejected_weight=sum(s["weight"] for s in done if s["decision"] is False),
            total_weight=sum(s["weight"] for s in live),
        )

    def _counters(self, my_task: Task) -> dict[str, int]:
        active = sum(1 for c in self._instances(my_task) if not c.has_state(TaskState.FINISHED_MASK))
        return countersign.counters(self.tally(my_task), active)

    def _create_instance(self, my_task: Task, slot_index: int) -> Task:
        slot = self.slots(my_task)[slot_index]
        child_spec = self.child_spec(my_task)
        if not child_spec.completed_event.is_connected(self.merge_child):
            child_spec.completed_event.connect(self.merge_child)
        child = my_task._add_child(child_spec, TaskState.WAITING)
        child.triggered = True
        tally = self.tally(my_task)
        index = tally.completed if self.sequential else slot_index
        child.internal_data["loop_counter"] = index
        child.internal_data["slot"] = slot_index
        slot["state"] = OPEN
        local: dict[str, Any] = {LOOP_COUNTER: index}
        if self.element_variable and self.collection:
            local[self.element_variable] = deepcopy(slot["item"])
        active = 1 + sum(1 for c in self._instances(my_task)
                         if c is not child and not c.has_state(TaskState.FINISHED_MASK))
        local.update(countersign.counters(tally, active))
        child.data.update(local)
        # A local shadows a process variable of the same name: hide it while the child inherits.
        shadowed = {name: my_task.data.pop(name) for name in local if name in my_task.data}
        try:
            child.task_spec._update(child)
        finally:
            my_task.data.update(shadowed)
        child.internal_data["inputs"] = fingerprints(child.data)
        return child

    def merge_child(self, workflow: Any, child: Task) -> None:
        """An instance completed: propagate what it wrote, count its decision, maybe finish the body."""
        my_task = child.parent
        if my_task is None or my_task.task_spec is not self or not my_task.has_state(TaskState.STARTED):
            return
        locals_ = self.local_names()
        written = written_variables(child.data, child.internal_data.get("inputs", {}), skip=locals_)
        my_task.data.update(deepcopy(written))
        my_task.internal_data.setdefault("merged", []).append(str(child.id))
        slot = self.slots(my_task)[int(child.internal_data.get("slot", child.internal_data.get("loop_counter", 0)))]
        slot["state"] = DONE
        slot["decision"] = self._decision(my_task, child)
        self.settle(my_task, child)

    def _decision(self, my_task: Task, child: Task) -> bool | None:
        variable = countersign.decision_variable(self.child_spec(my_task))
        decision = countersign.read_decision(child.data.get(variable))
        if decision is None and self.rule(my_task) is not None:
            raise self._error(child, f"会签环节 {self.bpmn_id} 的办理结果必须写入变量 {variable}（approve 或 reject）",
                              f"countersign step {self.bpmn_id} needs {variable} = approve or reject")
        return decision

    def settle(self, my_task: Task, child: Task | None) -> None:
        """After an instance ended or the signers changed: finish the body, start the next, or update counters."""
        tally = self.tally(my_task)
        rule = self.rule(my_task)
        decided = countersign.outcome(rule, tally) if rule is not None else None
        if decided is not None or (child is not None and self._completion_condition_met(my_task, child)):
            if decided is not None:
                my_task.data[countersign.result_variable(self.child_spec(my_task), self.bpmn_id)] = decided
            for instance in self._instances(my_task):
                if not instance.has_state(TaskState.FINISHED_MASK):
                    instance.cancel()
            my_task._set_state(TaskState.READY)
            return
        pending = sorted((s["order"], i) for i, s in enumerate(self.slots(my_task)) if s["state"] == PENDING)
        open_ = [c for c in self._instances(my_task) if not c.has_state(TaskState.FINISHED_MASK)]
        if not pending and not open_:
            my_task._set_state(TaskState.READY)
        elif self.sequential and not open_:
            self._create_instance(my_task, pending[0][1])
        else:
            counters = self._counters(my_task)
            for instance in open_:
                instance.data.update(counters)

    def _completion_condition_met(self, my_task: Task, child: Task) -> bool:
        if not self.condition:
            return False
        context = dict(my_task.data)
        context.update({k: v for k, v in child.data.items() if k in self.local_names()})
        context.update(self._counters(my_task))
        return bool(evaluate_with(child, self.condition, context, "completion condition", self.bpmn_id))

    # -- 加签 / 减签
    def signers(self, my_task: Task) -> list[dict[str, Any]]:
        return [{"signer": s["item"], "state": s["state"], "weight": s["weight"], "decision": s["decision"]}
                for s in sorted(self.slots(my_task), key=lambda s: s["order"]) if s["state"] != REMOVED]

    def add_signer(self, my_task: Task, current: Task | None, signer: Any, position: str) -> None:
        """Add a signer before or after the current one (sequential), or in parallel (parallel)."""
        self._check_change(my_task, "add")
        slots = self.slots(my_task)
        if any(s["item"] == signer and s["state"] in (PENDING, OPEN) for s in slots):
            raise ConflictError(f"{signer} 已在本环节的会签人中", f"{signer} is already a signer",
                                code="countersign.duplicate_signer", field="signer")
        allowed = ("before", "after") if self.sequential else ("parallel",)
        if position not in allowed:
            zh = "串行会签只能前加签或后加签（before / after）" if self.sequential else "并行会签只能并行加签"
            raise InvalidRequestError(zh, f"position must be one of {', '.join(allowed)}", field="position")
        if current is None:
            raise ConflictError("会签环节没有待签署的任务", "The countersign step has no open task",
                                code="countersign.ended")
        current_slot = slots[int(current.internal_data["slot"])]
        slot = {"item": signer, "weight": self._weight(my_task, signer, len(slots)), "state": PENDING,
                "decision": None, "order": current_slot["order"]}
        slots.append(slot)
        if position == "parallel":
            self._create_instance(my_task, len(slots) - 1)
            self.settle(my_task, None)
        elif position == "after":
            later = [s["order"] for s in slots if s["state"] == PENDING and s["order"] > current_slot["order"]]
            slot["order"] = (current_slot["order"] + min(later)) / 2 if later else current_slot["order"] + 1
        else:
            done = [s["order"] for s in slots if s["state"] == DONE and s["order"] < current_slot["order"]]
            slot["order"] = (current_slot["order"] + max(done)) / 2 if done else current_slot["order"] - 1
            current_slot["state"] = PENDING  # the current signer signs again after the added one
            current.cancel()
            self._create_instance(my_task, len(slots) - 1)

    def remove_signer(self, my_task: Task, signer: Any) -> None:
        """Remove a signer who has not signed: its open task disappears and the rule is evaluated again."""
        self._check_change(my_task, "remove")
        slots = self.slots(my_task)
        matching = [i for i, s in enumerate(slots) if s["item"] == signer and s["state"] in (PENDING, OPEN)]
        if not matching:
            raise ConflictError(f"{signer} 不是本环节尚未签署的会签人", f"{signer} is not a signer who has yet to sign",
                                code="countersign.not_a_pending_signer", field="signer")
        if sum(1 for s in slots if s["state"] != REMOVED) <= 1:
            raise ConflictError("会签环节至少保留一位会签人", "A countersign step keeps at least one signer",
                                code="countersign.last_signer", field="signer")
        index = matching[0]
        slots[index]["state"] = REMOVED
        for instance in self._instances(my_task):
            if instance.internal_data.get("slot") == index and not instance.has_state(TaskState.FINISHED_MASK):
                instance.cancel()
        self.settle(my_task, None)

    # -- 撤回
    def retract_blocker(self, my_task: Task, child: Task) -> str | None:
        """Why a signer can no longer take back a signature (None: it can).

        Too late once the countersign has ended (the next step started), or in a sequential
        countersign once the next signer's turn has come.
        """
        if not my_task.has_state(TaskState.STARTED):
            return "会签已结束，下一环节已开始"
        if child.state != TaskState.COMPLETED or str(child.id) not in my_task.internal_data.get("merged", []):
            return "该会签任务未签署或已被撤销"
        if self.sequential and any(not c.has_state(TaskState.FINISHED_MASK) for c in self._instances(my_task)):
            return "已轮到下一位会签人办理"
        return None

    def reopen_instance(self, my_task: Task, child: Task) -> Task:
        """Take back a signature while the countersign runs: the signer's slot opens again with a fresh task.

        The signed instance leaves the tree (history keeps its row) and its decision leaves the
        tally; what it wrote stays in the body's data until the signer signs again.
        """
        index = int(child.internal_data.get("slot", child.internal_data.get("loop_counter", 0)))
        slot = self.slots(my_task)[index]
        slot["state"], slot["decision"] = PENDING, None
        merged = my_task.internal_data.get("merged", [])
        my_task.internal_data["merged"] = [m for m in merged if m != str(child.id)]
        my_task.workflow._remove_task(child.id)
        return self._create_instance(my_task, index)

    def _check_change(self, my_task: Task, change: str) -> None:
        if not my_task.has_state(TaskState.STARTED):
            raise ConflictError("会签环节已结束", "The countersign step has ended", code="countersign.ended")
        if not (self.collection and self.element_variable):
            raise ConflictError("该环节不是按人员列表会签，不能加签或减签",
                                "Signers can change only on a step with a collection and an element variable",
                                code="countersign.no_signer_list")
        if change not in countersign.allowed_changes(self.child_spec(my_task)):
            raise ConflictError(f"流程图不允许在本环节{'加签' if change == 'add' else '减签'}",
                                f"The diagram does not allow signers to be {change}ed here",
                                code="countersign.change_not_allowed")


class CamundaParallelMultiInstance(CamundaMultiInstance):
    """All instances at once (``isSequential`` absent or false)."""


class CamundaSequentialMultiInstance(CamundaMultiInstance):
    """One instance after the other (``isSequential="true"``)."""

    sequential = True
