"""The statutory clock (法定 / 承诺时限) of a case: start, pause, resume, extend, stop, and the warning scan.

Where the limits come from: the bundle's process-level `camunda:properties`
- `statutory_limit_days`: the statutory limit (法定时限) in working days → clock kind `statutory`;
- `committed_limit_days`: the committed limit (承诺时限) in working days → clock kind `committed`.
A bundle with neither property has no clock. Per-task `statutory_limit_days` are step limits (环节时限)
and are not read here.

Rules (pinned, see `orchestrator.workcalendar` for the day-1 rule):
- the clock starts on the acceptance date (Asia/Shanghai date of the case start); the deadline is the
  end (23:59:59 Shanghai) of working day `limit + extended + paused` after it;
- a pause (特别程序, 行政许可法 art. 45, or a correction request) stops every running clock of the case;
  the paused working days are the working days from the pause date up to, not including, the resume
  date (the acceptance day never counts); each moves the deadline by exactly one working day;
- an extension (延期, art. 42) adds working days with who approved it and why; a statutory clock takes
  at most `MAX_STATUTORY_EXTENSION_DAYS` (15: bundled handling) in total;
- warning (预警, yellow): from 00:00 Shanghai of working day `limit - N + 1` (`LIANBAN_WARN_WORKDAYS`,
  default N = 1: the last day) or, when `LIANBAN_WARN_RATIO` is set (e.g. 0.8), of working day
  `floor(ratio × limit) + 1` (the moment that share of the limit has elapsed); overdue (超期, red): after
  the deadline. Each transition is an audit event on the case's chain and fires once.
- Nothing is ever approved automatically when a limit passes: the clock only records and reports.
- When a deadline falls in a year without calendar data the clock keeps no deadline (the case still
  starts: the application was received); every scan retries, and changes (resume, extend) are refused
  with 422 `calendar.no_data` until an administrator enters that year.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import timesource, workcalendar
from orchestrator.db import transaction
from orchestrator.errors import ConflictError, InvalidRequestError, LianbanError, NotFoundError
from orchestrator.models import CaseClock, ClockExtension, ClockPause, ProcessDefinition, ProcessInstance
from orchestrator.services import calendar as calendar_service
from orchestrator.services import case_store
from orchestrator.services.audit import EventSpec, record_events
from orchestrator.services.case_store import CaseRecord
from orchestrator.workcalendar import (
    SHANGHAI,
    CalendarDataMissingError,
    add_workdays,
    end_of_day,
    is_workday,
    shanghai_iso,
)

log = logging.getLogger(__name__)

STATUTORY, COMMITTED = "statutory", "committed"
LIMIT_PROPERTIES = {STATUTORY: "statutory_limit_days", COMMITTED: "committed_limit_days"}
KIND_NAMES_ZH = {STATUTORY: "法定时限", COMMITTED: "承诺时限"}
NORMAL, WARNING, OVERDUE, PAUSED, STOPPED = "NORMAL", "WARNING", "OVERDUE", "PAUSED", "STOPPED"
STATUSES = (NORMAL, WARNING, OVERDUE, PAUSED, STOPPED)
_SEVERITY = {NORMAL: 0, WARNING: 1, OVERDUE: 2}
PAUSE_REASONS = {"hearing": "听证", "testing": "检验检测", "inspection": "现场勘验/检查",
                 "expert_review": "专家评审", "correction": "补正材料", "other": "其他特别程序"}
MAX_STATUTORY_EXTENSION_DAYS = 15  # 行政许可法 art. 42: bundled handling 45 + 15 working days
MAX_COMMITTED_EXTENSION_DAYS = 365
MAX_LIMIT_DAYS = 3650
_ENDED_CASE_STATES = ("COMPLETED", "TERMINATED")


@dataclass(frozen=True)
class WarnPolicy:
    """When a clock turns yellow: `workdays` before the deadline, or at `ratio` of the limit when set."""

    workdays: int = 1
    ratio: float | None = None

    @classmethod
    def from_env(cls) -> WarnPolicy:
        workdays = int(os.environ.get("LIANBAN_WARN_WORKDAYS", "1"))
        raw_ratio = os.environ.get("LIANBAN_WARN_RATIO", "").strip()
        ratio = float(raw_ratio) if raw_ratio else None
        if workdays < 0 or (ratio is not None and not 0 < ratio <= 1):
            raise ValueError("LIANBAN_WARN_WORKDAYS must be ≥ 0 and LIANBAN_WARN_RATIO in (0, 1]")
        return cls(workdays, ratio)

    def warning_day_number(self, limit: int) -> int:
        """The working day (1-based, after acceptance) from whose start the clock is yellow."""
        if limit <= 0:
            return 0
        number = math.floor(self.ratio * limit) + 1 if self.ratio is not None else limit - self.workdays + 1
        return max(1, min(number, limit))


def _policy(policy: WarnPolicy | None) -> WarnPolicy:
    return policy if policy is not None else WarnPolicy.from_env()


def _utc(now: datetime | None) -> datetime:
    return (now or timesource.now()).astimezone(UTC)


def _local_date(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def count_workdays(first: date, end_exclusive: date) -> int:
    """Working days d with first ≤ d < end_exclusive (raises `CalendarDataMissingError` for unknown years)."""
    count, day = 0, first
    while day < end_exclusive:
        if is_workday(day):
            count += 1
        day += timedelta(days=1)
    return count


# --- scheduling --------------------------------------------------------------------------------------------


def _schedule(clock: CaseClock, policy: WarnPolicy) -> None:
    """Recompute the deadline and the warning moment from limit, extensions and completed pauses."""
    limit = clock.limit_days + clock.extended_days
    last_day = add_workdays(clock.started_on, limit + clock.paused_workdays)
    clock.deadline = end_of_day(last_day).astimezone(UTC)
    number = policy.warning_day_number(limit)
    warn_day = add_workdays(clock.started_on, number + clock.paused_workdays) if number else clock.started_on
    clock.warn_at = datetime.combine(warn_day, time(0, 0), SHANGHAI).astimezone(UTC)


_json_time = shanghai_iso


def target_status(now: datetime, deadline: datetime, warn_at: datetime | None) -> str:
    """NORMAL, WARNING (from `warn_at` on) or OVERDUE (after `deadline`): for case clocks and step limits."""
    if now > deadline:
        return OVERDUE
    if warn_at is not None and now >= warn_at:
        return WARNING
    return NORMAL


def _settle(clock: CaseClock, now: datetime) -> list[EventSpec]:
    """Move a running clock to the status `now` calls for; one event per transition."""
    if clock.status in (PAUSED, STOPPED) or clock.deadline is None:
        return []
    target = target_status(now, clock.deadline, clock.warn_at)
    if target == clock.status:
        return []
    payload = {"kind": clock.kind, "deadline": _json_time(clock.deadline), "at": _json_time(now)}
    if _SEVERITY[target] < _SEVERITY[clock.status]:  # a resume or an extension moved the deadline away
        before = clock.status
        clock.status = target
        clock.overdue_at = None
        if target == NORMAL:
            clock.warned_at = None
        return [("clock.status_restored", "scheduler", {**payload, "from": before, "to": target})]
    clock.status = target
    if target == OVERDUE:
        clock.overdue_at = now
        return [("clock.overdue", "scheduler", payload)]
    clock.warned_at = now
    return [("clock.warning", "scheduler", {**payload, "warn_at": _json_time(clock.warn_at)})]


def _save_events(session: Session, record: CaseRecord, events: list[EventSpec]) -> None:
    if events:
        record_events(session, record, events)
        case_store.save(session, record)


# --- the clock in the diagram -------------------------------------------------------------------------------
# A bundle's timers read the clock through case variables: `${statutory_warn_at}`, `${statutory_deadline}`,
# `${committed_warn_at}`, `${committed_deadline}` (ISO 8601, Shanghai). A paused, stopped or not yet computable
# clock shows `NEVER`, so its timers wait; pauses, resumes and extensions move the waiting timers.
NEVER = "9999-12-31T23:59:59+08:00"


def clock_variables(clocks: list[CaseClock]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for clock in clocks:
        running = clock.status not in (PAUSED, STOPPED)
        variables[f"{clock.kind}_deadline"] = (_json_time(clock.deadline) if running else None) or NEVER
        variables[f"{clock.kind}_warn_at"] = (_json_time(clock.warn_at) if running else None) or NEVER
    return variables


def planned_variables(properties: dict[str, Any], moment: datetime, policy: WarnPolicy | None = None) -> dict[str, str]:
    """The clock variables of a case about to start at `moment` (its timers run before the clock rows exist)."""
    warn_policy = _policy(policy)
    planned = []
    for kind, days in _limits(properties).items():
        clock = CaseClock(kind=kind, started_on=_local_date(moment), limit_days=days, paused_workdays=0,
                          extended_days=0, status=NORMAL)
        try:
            _schedule(clock, warn_policy)
        except CalendarDataMissingError:
            clock.deadline = clock.warn_at = None
        planned.append(clock)
    return clock_variables(planned)


def _retime(session: Session, record: CaseRecord, clocks: list[CaseClock]) -> None:
    """Move the diagram's timers that read the clock (nothing is written when no timer reads it)."""
    from orchestrator.services import cases

    cases.retime_clock_timers(session, record, clock_variables(clocks))


# --- life cycle --------------------------------------------------------------------------------------------


def _limits(properties: dict[str, Any]) -> dict[str, int]:
    limits: dict[str, int] = {}
    for kind, name in LIMIT_PROPERTIES.items():
        raw = properties.get(name)
        if raw is None or str(raw).strip() == "":
            continue
        try:
            days = int(str(raw).strip())
        except ValueError:
            log.warning("ignoring %s=%r: not a whole number of working days", name, raw)
            continue
        if 0 <= days <= MAX_LIMIT_DAYS:
            limits[kind] = days
    return limits


def has_limits(properties: dict[str, Any]) -> bool:
    """Whether cases of a definition with these process properties get clocks (`start_clocks` reads them).

    A case without clocks skips the clock look-ups on its hot path.
    """
    return bool(_limits(properties))


def start_clocks(session: Session, instance: CaseRecord, actor: str | None, now: datetime | None = None,
                 policy: WarnPolicy | None = None, properties: dict[str, Any] | None = None) -> list[CaseClock]:
    """Start the case's clocks from its bundle's limits (called by `cases.start_case` after the row is saved).

    `properties`: the definition's process properties when the caller has them (no look-up then).
    """
    if instance.state in _ENDED_CASE_STATES:
        return []
    if properties is None:
        definition = session.get(ProcessDefinition, instance.definition_id)
        properties = dict(definition.properties or {}) if definition is not None else {}
    limits = _limits(properties)
    if not limits:
        return []
    moment = _utc(now or instance.started_at)
    warn_policy = _policy(policy)
    clocks: list[CaseClock] = []
    events: list[EventSpec] = []
    for kind, days in limits.items():
        clock = CaseClock(instance_id=instance.id, definition_key=instance.definition_key, kind=kind,
                          started_on=_local_date(moment), limit_days=days, paused_workdays=0, extended_days=0,
                          status=NORMAL)
        try:
            _schedule(clock, warn_policy)
        except CalendarDataMissingError as error:
            clock.deadline = clock.warn_at = None
            events.append(("clock.deadline_unknown", actor, {"kind": kind, "limit_days": days,
                                                             "message": error.message_zh}))
        events.append(("clock.started", actor, {"kind": kind, "limit_days": days,
                                                "started_on": clock.started_on.isoformat(),
                                                "deadline": _json_time(clock.deadline)}))
        events.extend(_settle(clock, moment))
        session.add(clock)
        clocks.append(clock)
    session.flush()
    _save_events(session, instance, events)
    return clocks


def stop_clocks(session: Session, instance: CaseRecord, actor: str | None, now: datetime | None = None) -> None:
    """Stop the clocks of a case that has ended (called by `cases.save_case` / `cases.terminate_case`).

    Records the events on the case's chain; the caller writes the case row afterwards.
    """
    if instance.state not in _ENDED_CASE_STATES:
        return
    moment = _utc(now)
    clocks = list(session.scalars(select(CaseClock).where(CaseClock.instance_id == instance.id,
                                                          CaseClock.status != STOPPED)))
    events: list[EventSpec] = []
    for clock in clocks:
        pause = _open_pause(session, clock)
        if pause is not None:
            pause.ended_at = moment
        on_time = clock.deadline is None or moment <= clock.deadline
        events.append(("clock.stopped", actor, {"kind": clock.kind, "status": clock.status,
                                                "case_state": instance.state, "on_time": on_time,
                                                "deadline": _json_time(clock.deadline)}))
        clock.status, clock.finished_at, clock.paused_since = STOPPED, moment, None
    session.flush()
    if events:
        record_events(session, instance, events)


def _lock(session: Session, instance_id: str) -> tuple[CaseRecord, list[CaseClock]]:
    record = case_store.lock(session, instance_id)
    if record is None:
        raise NotFoundError(f"办件不存在：{instance_id}", f"No process instance with id {instance_id}", field="id")
    clocks = list(session.scalars(select(CaseClock).where(CaseClock.instance_id == instance_id)
                                  .order_by(CaseClock.id)))
    return record, clocks


def _running(clocks: list[CaseClock]) -> list[CaseClock]:
    if not clocks:
        raise NotFoundError("该办件没有时限（所属一件事未设置法定或承诺时限）", "This case has no clock",
                            code="clock.not_found")
    return [c for c in clocks if c.status != STOPPED]


def _open_pause(session: Session, clock: CaseClock) -> ClockPause | None:
    return session.scalar(select(ClockPause).where(ClockPause.clock_id == clock.id, ClockPause.ended_at.is_(None)))


def pause(session: Session, instance_id: str, reason: str, note: str | None, actor: str | None,
          now: datetime | None = None) -> dict[str, Any]:
    """Stop every running clock of the case for a special procedure (特别程序) or a correction request."""
    if reason not in PAUSE_REASONS:
        raise InvalidRequestError(f"kind 应为 {', '.join(PAUSE_REASONS)} 之一", "kind is not a pause reason",
                                  field="kind")
    moment = _utc(now)
    record, clocks = _lock(session, instance_id)
    running = _running(clocks)
    if not running:
        raise ConflictError("办件已结束，时限已停止", "The case has ended; its clocks are stopped",
                            code="clock.stopped")
    if any(c.status == PAUSED for c in running):
        raise ConflictError("时限已暂停，请先恢复计时", "The clock is already paused", code="clock.already_paused")
    events: list[EventSpec] = []
    for clock in running:
        session.add(ClockPause(clock_id=clock.id, reason=reason, started_at=moment, actor=actor, note=note))
        events.append(("clock.paused", actor, {"kind": clock.kind, "reason": reason, "note": note,
                                               "status_before": clock.status, "at": _json_time(moment)}))
        clock.status, clock.paused_since = PAUSED, moment
    session.flush()
    _save_events(session, record, events)
    _retime(session, record, clocks)
    return describe(session, instance_id)


def resume(session: Session, instance_id: str, actor: str | None, now: datetime | None = None,
           policy: WarnPolicy | None = None) -> dict[str, Any]:
    """Restart the paused clocks; the paused working days move each deadline by exactly as many working days."""
    moment = _utc(now)
    warn_policy = _policy(policy)
    record, clocks = _lock(session, instance_id)
    paused = [c for c in _running(clocks) if c.status == PAUSED]
    if not paused:
        raise ConflictError("时限未暂停", "The clock is not paused", code="clock.not_paused")
    events: list[EventSpec] = []
    before_days = paused[0].paused_workdays
    for clock in paused:
        pause_row = _open_pause(session, clock)
        since = clock.paused_since or moment
        first = max(_local_date(since), clock.started_on + timedelta(days=1))
        workdays = count_workdays(first, _local_date(moment))
        if pause_row is not None:
            pause_row.ended_at, pause_row.workdays = moment, workdays
        clock.paused_workdays += workdays
        clock.paused_since = None
        clock.status = NORMAL
        clock.warned_at = clock.overdue_at = None
        _schedule(clock, warn_policy)
        events.append(("clock.resumed", actor, {"kind": clock.kind, "paused_workdays": workdays,
                                                "deadline": _json_time(clock.deadline), "at": _json_time(moment)}))
        events.extend(_settle(clock, moment))
    if paused:  # the case's open steps move by the same paused working days
        from orchestrator.services import step_limits

        events.extend(step_limits.shift_open_steps(session, instance_id, paused[0].paused_workdays - before_days,
                                                   moment, warn_policy))
    session.flush()
    _save_events(session, record, events)
    _retime(session, record, clocks)
    return describe(session, instance_id)


def extend(session: Session, instance_id: str, days: int, approved_by: str, reason: str, actor: str | None,
           kind: str = STATUTORY, now: datetime | None = None, policy: WarnPolicy | None = None) -> dict[str, Any]:
    """Extend one clock by approved working days (延期); a statutory clock takes at most 15 in total."""
    if kind not in LIMIT_PROPERTIES:
        raise InvalidRequestError("kind 应为 statutory 或 committed", "kind must be statutory or committed",
                                  field="kind")
    if days < 1:
        raise InvalidRequestError("days 应为正整数（工作日数）", "days must be a positive integer", field="days")
    moment = _utc(now)
    record, clocks = _lock(session, instance_id)
    running = _running(clocks)
    clock = next((c for c in clocks if c.kind == kind), None)
    if clock is None:
        raise NotFoundError(f"该办件没有{KIND_NAMES_ZH[kind]}", f"This case has no {kind} clock",
                            code="clock.not_found", field="kind")
    if clock not in running:
        raise ConflictError("办件已结束，不能延期", "The case has ended; it cannot be extended", code="clock.stopped")
    cap = MAX_STATUTORY_EXTENSION_DAYS if kind == STATUTORY else MAX_COMMITTED_EXTENSION_DAYS
    if clock.extended_days + days > cap:
        left = cap - clock.extended_days
        if kind == STATUTORY:
            message_zh = (f"法定时限延期合计不得超过 {cap} 个工作日（《行政许可法》第四十二条：统一、联合、"
                          f"集中办理经本级人民政府负责人批准可延长十五日），已延期 {clock.extended_days} 个工作日，"
                          f"最多还可延期 {left} 个工作日")
        else:
            message_zh = f"承诺时限延期合计不得超过 {cap} 个工作日，最多还可延期 {left} 个工作日"
        raise InvalidRequestError(message_zh, f"Extensions of the {kind} limit may total at most {cap} working days; "
                                  f"{left} left", field="days", code="clock.extension_too_long",
                                  extra={"max_days": cap, "remaining_days": left})
    if clock.status != PAUSED:  # refuse before changing anything when the new deadline cannot be computed
        add_workdays(clock.started_on, clock.limit_days + clock.extended_days + days + clock.paused_workdays)
    clock.extended_days += days
    session.add(ClockExtension(clock_id=clock.id, days=days, approved_by=approved_by, reason=reason, actor=actor,
                               at=moment))
    events: list[EventSpec] = [("clock.extended", actor, {"kind": kind, "days": days, "approved_by": approved_by,
                                                          "reason": reason})]
    if clock.status != PAUSED:
        _schedule(clock, _policy(policy))
        events[0][2]["deadline"] = _json_time(clock.deadline)
        events.extend(_settle(clock, moment))
    session.flush()
    _save_events(session, record, events)
    _retime(session, record, clocks)
    return describe(session, instance_id)


# --- the scan ----------------------------------------------------------------------------------------------


def due_clock_ids(session: Session, now: datetime, limit: int = 500) -> list[int]:
    """Running clocks whose warning moment or deadline has passed (index range scans on status + time)."""
    moment = _utc(now)
    query = (select(CaseClock.id).where(or_(
        and_(CaseClock.status == NORMAL, CaseClock.warn_at <= moment),
        and_(CaseClock.status.in_((NORMAL, WARNING)), CaseClock.deadline < moment),
    )).order_by(CaseClock.id).limit(limit))
    return list(session.scalars(query))


def pending_deadline_ids(session: Session, after_id: int = 0, limit: int = 500) -> list[int]:
    """Running clocks without a deadline (their last day fell in a year without calendar data)."""
    query = (select(CaseClock.id).where(CaseClock.status.in_((NORMAL, WARNING, OVERDUE)),
                                        CaseClock.deadline.is_(None), CaseClock.id > after_id)
             .order_by(CaseClock.id).limit(limit))
    return list(session.scalars(query))


def scan_clock(session: Session, clock_id: int, now: datetime, policy: WarnPolicy | None = None) -> list[str]:
    """Bring one clock up to date under its case's lock; returns the event types written."""
    clock = session.get(CaseClock, clock_id)
    if clock is None or clock.status in (PAUSED, STOPPED):
        return []
    if clock.deadline is None:  # try without the lock first: most rounds the data is still missing
        try:
            add_workdays(clock.started_on, clock.limit_days + clock.extended_days + clock.paused_workdays)
        except CalendarDataMissingError:
            return []
    record = case_store.lock(session, clock.instance_id)
    session.refresh(clock)
    if record is None or clock.status in (PAUSED, STOPPED):
        return []
    events: list[EventSpec] = []
    retime = False
    if clock.deadline is None:
        try:
            _schedule(clock, _policy(policy))
        except CalendarDataMissingError:
            return []
        events.append(("clock.deadline_set", "scheduler", {"kind": clock.kind,
                                                            "deadline": _json_time(clock.deadline)}))
        retime = True
    events.extend(_settle(clock, _utc(now)))
    session.flush()
    if events:
        record_events(session, record, events)
        _escalate(session, record, clock, events, _utc(now))
        case_store.save(session, record)
    if retime:
        _retime(session, record, list(session.scalars(select(CaseClock).where(CaseClock.instance_id == record.id))))
    return [event[0] for event in events]


def _escalate(session: Session, record: CaseRecord, clock: CaseClock, events: list[EventSpec], now: datetime) -> None:
    """Overdue: notify the lead department's head and the supervisors and open a 督办 item; warning: notify."""
    from orchestrator.services import supervision

    kinds = {event[0] for event in events}
    if "clock.overdue" in kinds:
        supervision.escalate_case(session, record, clock, now)
    elif "clock.warning" in kinds:
        supervision.warn_case(session, record, clock)


_calendar_seen: dict[str, frozenset[int] | None] = {"years": None}


def _scan_one(factory: sessionmaker[Session], clock_id: int, moment: datetime, policy: WarnPolicy) -> int:
    try:
        with transaction(factory) as session:
            return len(scan_clock(session, clock_id, moment, policy))
    except LianbanError as error:
        log.warning("clock %s scan failed: %s", clock_id, error.message_en)
        return 0


def scan(factory: sessionmaker[Session], now: datetime | None = None, policy: WarnPolicy | None = None,
         batch: int = 500) -> int:
    """Move due clocks to WARNING / OVERDUE, each under its case's lock in its own transaction.

    Clocks still waiting for calendar data are retried when the administrator's complete years change.
    Returns the number of events written. Run by the embedded scheduler and `lianban.clock.scan`.
    """
    moment = _utc(now)
    warn_policy = _policy(policy)
    calendar_service.reload_overrides(factory)  # another process may have entered a new year
    written = 0
    years = frozenset(workcalendar.complete_override_years())
    if _calendar_seen["years"] != years:
        last = 0
        while True:
            with transaction(factory) as session:
                pending = pending_deadline_ids(session, last, batch)
            for clock_id in pending:
                written += _scan_one(factory, clock_id, moment, warn_policy)
            if len(pending) < batch:
                break
            last = pending[-1]
        _calendar_seen["years"] = years
    with transaction(factory) as session:
        due = due_clock_ids(session, moment, batch)
    for clock_id in due:
        written += _scan_one(factory, clock_id, moment, warn_policy)
    return written


# --- reading -----------------------------------------------------------------------------------------------


def _times(name: str, moment: datetime | None) -> dict[str, str | None]:
    return {name: _json_time(moment), f"{name}_utc": moment.astimezone(UTC).isoformat() if moment else None}


def clock_json(clock: CaseClock, pauses: list[ClockPause] | None = None,
               extensions: list[ClockExtension] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": clock.id, "instance_id": clock.instance_id, "bundle": clock.definition_key, "kind": clock.kind,
        "kind_name": KIND_NAMES_ZH.get(clock.kind, clock.kind), "status": clock.status,
        "started_on": clock.started_on.isoformat(), "limit_days": clock.limit_days,
        "extended_days": clock.extended_days, "paused_workdays": clock.paused_workdays,
        "deadline_day": _local_date(clock.deadline).isoformat() if clock.deadline else None,
        **_times("deadline", clock.deadline), **_times("warn_at", clock.warn_at),
        **_times("paused_since", clock.paused_since), **_times("warned_at", clock.warned_at),
        **_times("overdue_at", clock.overdue_at), **_times("finished_at", clock.finished_at),
    }
    if pauses is not None:
        data["pauses"] = [{"id": p.id, "kind": p.reason, "kind_name": PAUSE_REASONS.get(p.reason, p.reason),
                           **_times("started_at", p.started_at), **_times("ended_at", p.ended_at),
                           "workdays": p.workdays, "actor": p.actor, "note": p.note} for p in pauses]
    if extensions is not None:
        data["extensions"] = [{"id": e.id, "days": e.days, "approved_by": e.approved_by, "reason": e.reason,
                               "actor": e.actor, **_times("at", e.at)} for e in extensions]
    return data


def describe(session: Session, instance_id: str) -> dict[str, Any]:
    """The case's clocks with their pauses and extensions (404 for an unknown case)."""
    if session.scalar(select(CaseClock.instance_id).where(CaseClock.instance_id == instance_id).limit(1)) is None:
        if session.get(ProcessInstance, instance_id) is None:
            raise NotFoundError(f"办件不存在：{instance_id}", f"No process instance with id {instance_id}", field="id")
    clocks = list(session.scalars(select(CaseClock).where(CaseClock.instance_id == instance_id)
                                  .order_by(CaseClock.id)))
    ids = [c.id for c in clocks]
    pauses = list(session.scalars(select(ClockPause).where(ClockPause.clock_id.in_(ids)).order_by(ClockPause.id)))
    extensions = list(session.scalars(select(ClockExtension).where(ClockExtension.clock_id.in_(ids))
                                      .order_by(ClockExtension.id)))
    return {"instance_id": instance_id, "clocks": [
        clock_json(c, [p for p in pauses if p.clock_id == c.id], [e for e in extensions if e.clock_id == c.id])
        for c in clocks]}


def supervision_list(session: Session, statuses: list[str], bundle: str | None = None,
                     due_before: datetime | None = None, kind: str | None = None, first: int = 0,
                     max_results: int = 100, departments: Collection[str] | None = None) -> dict[str, Any]:
    """The warning / overdue list (督办), earliest deadline first, straight from the indexed table.

    `departments`: only cases of bundles led by one of them (None: every case; see supervision_reports).
    """
    from orchestrator.services.supervision import lead_departments
    from orchestrator.services.supervision_reports import led_bundles

    query = select(CaseClock).where(CaseClock.status.in_(statuses))
    if departments is not None:
        query = query.where(CaseClock.definition_key.in_(led_bundles(lead_departments(session), departments)))
    if bundle:
        query = query.where(CaseClock.definition_key == bundle)
    if kind:
        query = query.where(CaseClock.kind == kind)
    if due_before is not None:
        query = query.where(CaseClock.deadline < due_before)
    rows = session.scalars(query.order_by(CaseClock.deadline, CaseClock.id).offset(first).limit(max_results))
    return {"items": [clock_json(c) for c in rows], "first": first, "max_results": max_results}
