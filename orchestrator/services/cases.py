"""Use cases that change a case: start, complete a task, correlate a message, fire timers, suspend, terminate.

Every mutation: lock the instance row → restore the engine state → act → run engine steps →
sync projections → save → (the caller commits). Services never commit.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from orchestrator import timesource
from orchestrator.auth.principal import Principal
from orchestrator.engine.runtime import STATE_FORMAT, CaseRuntime, Snapshot, diff_snapshots
from orchestrator.engine.sandbox import make_script_engine
from orchestrator.errors import ConflictError, InvalidRequestError, LianbanError, NotFoundError
from orchestrator.models import (
    TIMER_PENDING,
    HumanTask,
    Job,
    MessageSubscription,
    ProcessDefinition,
    ProcessInstance,
    Timer,
)
from orchestrator.services import (
    approval_hooks,
    case_store,
    clock,
    hot_sql,
    manual_entry,
    step_limits,
    task_forms,
    task_rows,
)
from orchestrator.services.audit import EventSpec, record_event, record_events
from orchestrator.services.case_store import CaseRecord
from orchestrator.services.connectors import publish_after_commit
from orchestrator.services.definitions import LoadedDefinition, definition_cache, get_definition, latest_for_start
from orchestrator.services.projections import apply_changes, audit_specs, close_all_projections
from orchestrator.services.script_functions import script_functions

ACTIVE = "ACTIVE"
SUSPENDED = "SUSPENDED"
COMPLETED = "COMPLETED"
TERMINATED = "TERMINATED"

_script_engine = None


def script_engine() -> Any:
    """One sandboxed script engine per process: it holds no per-case state."""
    global _script_engine
    if _script_engine is None:
        _script_engine = make_script_engine(script_functions())
    return _script_engine


@dataclass
class LoadedCase:
    instance: CaseRecord
    definition: LoadedDefinition
    runtime: CaseRuntime
    before: Snapshot
    since: float
    events: list[EventSpec] = field(default_factory=list)
    # Writes of this step beyond the case row and projections (a form submission): sent in the step's batch.
    writes: list[Callable[[Session], None]] = field(default_factory=list)

    def audit(self, event_type: str, actor: str | None, payload: dict[str, Any]) -> None:
        """Queue an audit event; `save_case` writes the step's events in one statement."""
        self.events.append((event_type, actor, payload))


@dataclass(frozen=True)
class Correlation:
    """A case a message reached: a waiting one, or one the message started."""

    instance: CaseRecord
    started: bool


def _now() -> datetime:
    return timesource.now()


def _not_found(instance_id: str) -> NotFoundError:
    return NotFoundError(f"办件不存在：{instance_id}", f"No process instance with id {instance_id}", field="id")


def lock_case(session: Session, instance_id: str) -> CaseRecord:
    """Take the case's row lock for the rest of the transaction (SELECT … FOR UPDATE)."""
    record = case_store.lock(session, instance_id)
    if record is None:
        raise _not_found(instance_id)
    return record


class WorkflowCache:
    """Recently saved workflows by case id and row version: a hit skips deserialising the state.

    The row version read under the lock says whether the cached object is the stored state. An
    entry is taken out when a step loads it and put back only after that step's commit, so a step
    that fails or rolls back can never leave a half-changed workflow behind. Entries are also found
    by their open user tasks, for a completion that works ahead of its lock (`complete_task`).
    """

    def __init__(self, capacity: int = 500) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[int, CaseRuntime, frozenset[str]]] = OrderedDict()
        self._by_task: dict[str, str] = {}

    def _pop(self, instance_id: str) -> tuple[int, CaseRuntime, frozenset[str]] | None:
        entry = self._entries.pop(instance_id, None)
        if entry is not None:
            for task_id in entry[2]:
                self._by_task.pop(task_id, None)
        return entry

    def take(self, instance_id: str, version: int) -> CaseRuntime | None:
        with self._lock:
            entry = self._pop(instance_id)
        return entry[1] if entry is not None and entry[0] == version else None

    def take_by_task(self, task_id: str) -> tuple[str, int, CaseRuntime] | None:
        """The cached workflow that has `task_id` open, taken out: (case id, row version, workflow)."""
        with self._lock:
            instance_id = self._by_task.get(task_id)
            entry = self._pop(instance_id) if instance_id is not None else None
        return (instance_id, entry[0], entry[1]) if instance_id is not None and entry is not None else None

    def put_after_commit(self, session: Session, instance_id: str, version: int, runtime: CaseRuntime,
                         user_tasks: frozenset[str] = frozenset()) -> None:
        if self.capacity <= 0:
            return

        def put() -> None:
            with self._lock:
                self._pop(instance_id)
                self._entries[instance_id] = (version, runtime, user_tasks)
                for task_id in user_tasks:
                    self._by_task[task_id] = instance_id
                while len(self._entries) > self.capacity:
                    self._pop(next(iter(self._entries)))

        after_commit(session, put)


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's transaction has committed (dropped if it rolls back)."""
    global _after_commit_listening
    if not _after_commit_listening:
        # Once, on the Session class: a listener per session costs more than the step's own work.
        event.listen(Session, "after_commit", _run_after_commit)
        event.listen(Session, "after_rollback", _drop_after_commit)
        _after_commit_listening = True
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(callback)


_AFTER_COMMIT_KEY = "lianban.after_commit"
_after_commit_listening = False


def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop(_AFTER_COMMIT_KEY, ()):
        callback()


def _drop_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT_KEY, None)


workflow_cache = WorkflowCache()


def load_case(session: Session, instance_id: str, *, for_change: bool = True,
              instance: CaseRecord | None = None) -> LoadedCase:
    instance = instance if instance is not None else lock_case(session, instance_id)
    if for_change and instance.state != ACTIVE:
        raise ConflictError(
            f"办件当前状态为 {instance.state}，不能办理", f"Process instance is {instance.state}",
            code="instance.not_active",
        )
    definition = definition_cache.get(session, instance.definition_id)
    runtime = workflow_cache.take(instance.id, instance.version)
    if runtime is None:
        runtime = CaseRuntime.restore(instance.engine_state, definition.spec, definition.subprocess_specs,
                                      script_engine())
    return LoadedCase(instance, definition, runtime, runtime.snapshot(), time.time())


def save_case(session: Session, case: LoadedCase, actor: str | None) -> None:
    """Sync projections from the engine state and write the state back, in the caller's transaction."""
    after = case.runtime.snapshot()
    changes = diff_snapshots(case.runtime, case.before, after, case.since)
    instance = case.instance
    manual = manual_entry.entries_for(changes.new_external_tasks)  # 二次录入 topics become clerks' tasks
    ended_manual = manual_entry.mark(case.runtime, manual, changes.ended_external_tasks)
    instance.engine_state = case.runtime.dump()
    instance.variables = _jsonable(case.runtime.variables())
    changes.new_user_tasks = approval_hooks.apply_proxies(session, changes.new_user_tasks, case.events)  # 代理
    copies = approval_hooks.copies_for(case.runtime, changes, actor, case.events)  # 抄送 drawn on the steps
    case.events.extend(audit_specs(changes, actor))
    case.events.extend(manual_entry.audit_specs(manual, actor))
    case.events.extend(step_limits.stop_events(session, changes.ended_user_tasks, actor, case.runtime))
    if case.runtime.is_completed and instance.state == ACTIVE:
        instance.state = COMPLETED
        instance.ended_at = _now()
        case.events.append(("case.completed", actor, {}))
    if instance.state != ACTIVE and clock.has_limits(case.definition.properties):
        # A case that has just ended stops its statutory clocks (reads rows: not in the batch below).
        record_events(session, instance, case.events)
        case.events = []
        clock.stop_clocks(session, instance, actor)
    lanes = task_rows.lane_groups(session, changes.new_user_tasks)  # reads departments: before the batch
    # The step's writes go with the transaction's next round trip (its commit, mostly) on PostgreSQL.
    with hot_sql.batched(session):
        record_events(session, instance, case.events)  # moves the chain head before the row is written
        case.events = []
        case_store.save(session, instance)
        apply_changes(session, instance, case.definition, changes, actor, set(case.before.timers), lanes)
        for write in case.writes:
            write(session)
        case.writes = []
    approval_hooks.write_copies(session, instance.id, copies)
    manual_entry.open_tasks(session, instance, case.definition, manual)
    manual_entry.close_tasks(session, ended_manual, actor)
    publish_after_commit(session, changes.new_external_tasks)
    if instance.state == ACTIVE:
        workflow_cache.put_after_commit(session, instance.id, instance.version, case.runtime,
                                        frozenset(after.user_tasks))
    case.before = after
    case.since = time.time()


def _jsonable(data: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, (str, int, float, bool, type(None), list, dict)):
            result[key] = value
        else:
            result[key] = str(value)
    return result


def start_case(
    session: Session,
    *,
    key: str | None = None,
    definition_id: str | None = None,
    variables: Mapping[str, Any] | None = None,
    business_key: str | None = None,
    actor: str | None = None,
    before_run: Callable[[CaseRuntime], None] | None = None,
) -> CaseRecord:
    """Start a case of the latest version of `key` (or of one definition) and run it to its wait states."""
    ahead: _PreparedStart | None = None
    if definition_id:
        row = get_definition(session, definition_id)
        loaded, suspended = definition_cache.from_row(row), row.suspended
    elif key:
        latest = latest_for_start(session, key)
        guess = definition_cache.latest_seen(key)
        if guess is not None:  # run the case on the version last seen while the look-up travels
            ahead = _prepare_start(guess, variables, business_key, actor, before_run, keep_error=True)
        loaded, suspended = latest()
    else:
        raise InvalidRequestError("需要流程定义的 key 或 id", "A process definition key or id is required", field="key")
    if suspended:
        raise ConflictError("流程定义已挂起", "Process definition is suspended", code="definition.suspended")
    if business_key is not None and len(business_key) > 255:
        raise InvalidRequestError("业务编号过长", "businessKey is longer than 255 characters", field="businessKey")
    prepared = ahead if ahead is not None and ahead.case.definition is loaded else None
    if prepared is None:
        prepared = _prepare_start(loaded, variables, business_key, actor, before_run, keep_error=False)
    elif prepared.error is not None:
        raise prepared.error
    case = prepared.case
    save_case(session, case, actor)
    # statutory / committed limits of the bundle
    clock.start_clocks(session, case.instance, actor, properties=loaded.properties)
    return case.instance


@dataclass
class _PreparedStart:
    case: LoadedCase
    error: Exception | None = None


def _prepare_start(loaded: LoadedDefinition, variables: Mapping[str, Any] | None, business_key: str | None,
                   actor: str | None, before_run: Callable[[CaseRuntime], None] | None,
                   keep_error: bool) -> _PreparedStart:
    """A new case of `loaded`, run to its wait states in memory; nothing is written here.

    `keep_error`: the definition is a guess (see `start_case`): an engine error is kept, raised only
    if the guess turns out right.
    """
    runtime = CaseRuntime.create(loaded.spec, loaded.subprocess_specs, script_engine())
    runtime.workflow.task_tree.data.update(dict(variables or {}))
    instance = CaseRecord(
        id=str(uuid.uuid4()),
        definition_id=loaded.id,
        definition_key=loaded.key,
        business_key=business_key,
        state=ACTIVE,
        engine_state=b"",
        serializer_version=STATE_FORMAT,
        variables={},
        version=1,
        started_at=_now(),
        started_by=actor,
    )
    # the statutory clock as case variables, for timers that read it (`${statutory_deadline}`)
    runtime.workflow.task_tree.data.update(clock.planned_variables(dict(loaded.properties), instance.started_at))
    prepared = _PreparedStart(LoadedCase(instance, loaded, runtime, Snapshot(), time.time()))
    try:
        runtime.run()
        if before_run is not None:
            before_run(runtime)
    except Exception as error:  # noqa: BLE001 - raised by start_case if the guessed definition is the latest
        if not keep_error:
            raise
        prepared.error = error
    prepared.case.audit("case.started", actor, {"definition_id": loaded.id, "business_key": business_key,
                                                "variables": sorted(variables or {})})
    return prepared


@dataclass
class _WorkAhead:
    """A completion run on a cached workflow before the case's lock was confirmed (see `complete_task`)."""

    instance_id: str
    version: int
    runtime: CaseRuntime
    before: Snapshot
    since: float
    variables: Mapping[str, Any]
    submission: task_forms.CheckedSubmission | None = None
    error: Exception | None = None

    def valid_for(self, instance: CaseRecord) -> bool:
        """Whether the locked row is the state the workflow was cached at: else the work is thrown away."""
        return instance.id == self.instance_id and instance.version == self.version and instance.state == ACTIVE


def _work_ahead(task_id: str, variables: Mapping[str, Any]) -> _WorkAhead | None:
    """Complete the task on its case's cached workflow, if the cache has it; nothing is written here.

    The workflow is out of the cache while this step owns it; an error is kept and raised only if the
    lock confirms the cached state (else the step starts again from the stored state and meets it there).
    """
    found = workflow_cache.take_by_task(task_id)
    if found is None:
        return None
    instance_id, version, runtime = found
    ahead = _WorkAhead(instance_id, version, runtime, runtime.snapshot(), time.time(), variables)
    if task_id not in ahead.before.user_tasks:
        return None
    try:
        ahead.submission = task_forms.check_submission(runtime, task_id, dict(variables))
        if ahead.submission is not None:
            ahead.variables = ahead.submission.values
        runtime.complete_user_task(task_id, ahead.variables)
    except Exception as error:  # noqa: BLE001 - raised by complete_task once the lock confirms this state
        ahead.error = error
    return ahead


def _complete_on_stored_state(
    session: Session, instance: CaseRecord, task_id: str, variables: Mapping[str, Any], as_user: Principal | None,
) -> tuple[LoadedCase, task_forms.CheckedSubmission | None, Mapping[str, Any]]:
    case = load_case(session, instance.id, instance=instance)
    if as_user is not None and (task_id in case.before.external_tasks or task_id in case.before.user_tasks):
        from orchestrator.services.task_claims import ensure_can_complete

        ensure_can_complete(session, case.instance, task_id, as_user)
    submission: task_forms.CheckedSubmission | None = None
    if task_id in case.before.external_tasks:
        # 二次录入: the clerk records what the department's system returned (case variables); the service task
        # completes with it.
        variables = manual_entry.record(session, case.runtime, task_id, variables)
        case.writes.append(task_forms.draft_removal(task_id))
    elif task_id in case.before.user_tasks:
        # A `lianban:` form is checked before the engine is touched: a refused submission changes nothing.
        submission = task_forms.check_submission(case.runtime, task_id, dict(variables))
        if submission is not None:
            variables = submission.values
        case.runtime.complete_user_task(task_id, variables)
    else:
        raise ConflictError("任务已办结或已取消", "Task is already completed or canceled", code="task.not_open")
    return case, submission, variables


def complete_task(session: Session, task_id: str, variables: Mapping[str, Any], actor: str | None, *,
                  as_user: Principal | None = None, events: Sequence[EventSpec] = ()) -> CaseRecord:
    """Complete a user task with its result variables and run the case on.

    `as_user`: the signed-in user of an HTTP request; every request path passes it, and only the
    task's assignee may complete (task_claims.ensure_can_complete). Trusted callers inside the
    process (tests of the engine, benchmarks) pass none. `events`: audit events of the caller's
    use case (a decision), written with the completion's.
    """
    locked = case_store.lock_owner_of_ahead(session, _table(HumanTask), task_id)
    ahead = _work_ahead(task_id, variables)  # on the cached workflow, while the lock travels
    instance = locked()
    if instance is None:
        raise NotFoundError(f"任务不存在：{task_id}", f"No task with id {task_id}", field="id")
    if ahead is not None and ahead.valid_for(instance):
        case = LoadedCase(instance, definition_cache.get(session, instance.definition_id), ahead.runtime,
                          ahead.before, ahead.since)
        if as_user is not None:
            from orchestrator.services.task_claims import ensure_can_complete

            ensure_can_complete(session, case.instance, task_id, as_user)
        if ahead.error is not None:
            raise ahead.error
        submission, variables = ahead.submission, ahead.variables
    else:
        case, submission, variables = _complete_on_stored_state(session, instance, task_id, variables, as_user)
    activity_id = case.runtime.activity_of(task_id)
    case.audit("task.completed", actor,
               {"task_id": task_id, "activity_id": activity_id, "variables": sorted(variables)})
    case.events.extend(events)
    if submission is not None:
        case.events.extend(task_forms.decision_events(task_id, activity_id, submission, actor))
        case.writes.append(task_forms.submission_write(case.instance.id, task_id, activity_id, submission, actor))
    save_case(session, case, actor)
    return case.instance


def complete_external(session: Session, job_id: str, variables: Mapping[str, Any], actor: str | None) -> CaseRecord:
    instance = case_store.lock_owner_of(session, _table(Job), job_id)
    if instance is None:
        raise NotFoundError(f"外部任务不存在：{job_id}", f"No external task with id {job_id}", field="id")
    case = load_case(session, instance.id, instance=instance)
    if job_id not in case.before.external_tasks:
        raise ConflictError("外部任务已办结或已取消", "External task is no longer open", code="job.not_open")
    case.runtime.complete_external_task(job_id, variables)
    case.audit("job.completed", actor, {"job_id": job_id, "variables": sorted(variables)})
    save_case(session, case, actor)
    return case.instance


def correlate_message(
    session: Session,
    *,
    message_name: str,
    business_key: str | None = None,
    correlation_keys: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
    correlate_all: bool = False,
    actor: str | None = None,
) -> list[Correlation]:
    """Deliver a message to waiting cases, or start one through a message start event."""
    if not message_name:
        raise InvalidRequestError("缺少消息名称", "messageName is required", field="messageName")
    query = (
        select(MessageSubscription.instance_id)
        .join(ProcessInstance, ProcessInstance.id == MessageSubscription.instance_id)
        .where(MessageSubscription.message_name == message_name, ProcessInstance.state == ACTIVE)
        .distinct()
    )
    if business_key is not None:
        query = query.where(ProcessInstance.business_key == business_key)
    candidates = list(session.scalars(query))
    matched: list[Correlation] = []
    for instance_id in sorted(candidates):
        case = load_case(session, instance_id)
        if correlation_keys and any(case.instance.variables.get(k) != v for k, v in correlation_keys.items()):
            continue
        if case.runtime.correlate_message(message_name, variables or {}):
            case.audit("message.correlated", actor, {"message": message_name})
            save_case(session, case, actor)
            matched.append(Correlation(case.instance, started=False))
            if not correlate_all:
                break
    if matched:
        return matched
    definition = _message_start_definition(session, message_name)
    if definition is not None:
        def deliver(runtime: CaseRuntime) -> None:
            runtime.correlate_message(message_name, variables or {})

        instance = start_case(session, definition_id=definition.id, variables=variables, business_key=business_key,
                              actor=actor, before_run=deliver)
        return [Correlation(instance, started=True)]
    raise InvalidRequestError(
        f"没有等待消息“{message_name}”的办件，也没有以该消息启动的流程",
        f"Cannot correlate message '{message_name}': no matching process instance or message start event",
        code="message.no_match",
        field="messageName",
    )


def _message_start_definition(session: Session, message_name: str) -> ProcessDefinition | None:
    from orchestrator.services.definitions import list_definitions

    for definition in list_definitions(session, latest_only=True, max_results=10_000):
        if message_name in (definition.message_start_names or []) and not definition.suspended:
            return definition
    return None


def set_suspended(session: Session, instance_id: str, suspended: bool, actor: str | None) -> CaseRecord:
    instance = lock_case(session, instance_id)
    if instance.state not in (ACTIVE, SUSPENDED):
        raise ConflictError("办件已结束", "Process instance has ended", code="instance.ended")
    instance.state = SUSPENDED if suspended else ACTIVE
    task_rows.change_tasks(session, HumanTask.instance_id == instance_id, {"suspended": suspended})
    for model in (Job, Timer):
        session.execute(update(model).where(model.instance_id == instance_id).values(suspended=suspended))
    record_event(session, instance, "case.suspended" if suspended else "case.resumed", actor, {})
    case_store.save(session, instance)
    return instance


def terminate_case(session: Session, instance_id: str, reason: str | None, actor: str | None) -> CaseRecord:
    case = load_case(session, instance_id, for_change=False)
    instance = case.instance
    if instance.state in (COMPLETED, TERMINATED):
        raise ConflictError("办件已结束", "Process instance has already ended", code="instance.ended")
    case.runtime.cancel()
    instance.engine_state = case.runtime.dump()
    instance.state = TERMINATED
    instance.ended_at = _now()
    instance.end_reason = reason
    record_events(session, instance, [*step_limits.stop_events(session, {}, actor, instance_id=instance.id),
                                      ("case.terminated", actor, {"reason": reason})])
    step_limits.stop_case_steps(session, instance.id)
    clock.stop_clocks(session, instance, actor)
    case_store.save(session, instance)
    close_all_projections(session, instance, canceled=True)
    return instance


def fire_timer(session: Session, timer_id: str, actor: str | None = "scheduler") -> bool:
    """Fire one due timer under its case's lock; False when it was already fired or removed."""
    instance = case_store.lock_owner_of(session, _table(Timer), timer_id)
    if instance is None:
        return False  # fired by someone else meanwhile
    timer = session.get(Timer, timer_id, populate_existing=True)
    if timer is None:
        return False
    return fire_locked_timer(session, instance, timer_id, timer.activity_id, timer.due_at, actor)


def fire_locked_timer(session: Session, instance: CaseRecord, timer_id: str, activity_id: str, due_at: datetime,
                      actor: str | None = "scheduler") -> bool:
    """Fire a timer whose case the caller holds locked; False when the engine does not consider it due yet
    or the case is no longer active (then nothing is written)."""
    if instance.state != ACTIVE:
        return False
    case = load_case(session, instance.id, instance=instance)
    if timer_id not in case.before.timers:
        return False  # already fired (the projection row was stale)
    case.runtime.fire_timers()
    if case.runtime.snapshot().timers.get(timer_id) == case.before.timers[timer_id]:
        return False  # not due on the engine's clock (a due time equal to `now` fires on the next round)
    case.audit("timer.fired", actor, {"timer_id": timer_id, "activity_id": activity_id,
                                      "due_at": due_at.isoformat()})
    save_case(session, case, actor)
    return True


def retime_clock_timers(session: Session, instance: CaseRecord, variables: dict[str, str],
                        actor: str | None = None) -> bool:
    """Move the case's waiting timers that read the statutory clock's variables (caller holds the lock)."""
    if instance.state != ACTIVE or not variables:
        return False
    case = load_case(session, instance.id, instance=instance)
    moved = case.runtime.retime_timers(variables)
    if not moved:
        return False
    case.audit("clock.timers_moved", actor, {"timers": moved, **variables})
    save_case(session, case, actor)
    return True


def _table(model: type) -> Any:
    return model.__table__  # type: ignore[attr-defined]


def due_timer_ids(session: Session, now: datetime, limit: int = 100) -> list[str]:
    return list(session.scalars(
        select(Timer.id).where(TIMER_PENDING, Timer.due_at <= now).order_by(Timer.due_at).limit(limit)
    ))


def update_variables(session: Session, instance_id: str, modifications: Mapping[str, Any], deletions: list[str],
                     actor: str | None) -> CaseRecord:
    """Set or remove process variables on every active path of the case (Camunda's POST …/variables)."""
    case = load_case(session, instance_id)
    case.runtime.set_variables(modifications, deletions)
    case.audit("case.variables_changed", actor, {"modified": sorted(modifications), "deleted": sorted(deletions)})
    save_case(session, case, actor)
    return case.instance


__all__ = [
    "ACTIVE", "COMPLETED", "SUSPENDED", "TERMINATED", "LianbanError", "complete_external", "complete_task",
    "correlate_message", "due_timer_ids", "fire_locked_timer", "fire_timer", "load_case",
    "retime_clock_timers", "set_suspended", "start_case",
    "terminate_case", "update_variables",
]
