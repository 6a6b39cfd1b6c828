"""What the supervision board (督办) reads: warning and overdue lists, 督办 items and statistics, by department.

Every reader takes `departments`, the departments whose items the caller may see: `None` for administrators
and city-level supervisors (every department), otherwise the caller's departments and the ones below them
(`Principal.view_groups`). A step belongs to its department (`human_task.department`), a case to its
bundle's lead department, a 督办 item to the department it was opened for; what has no department is shown
only to those who see every department. Asking for a department outside one's own is refused (403).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from orchestrator import timesource
from orchestrator.errors import PermissionDeniedError
from orchestrator.models import CaseClock, HumanTask, SupervisionItem
from orchestrator.services.supervision import item_json, lead_departments
from orchestrator.workcalendar import SHANGHAI, CalendarDataMissingError, is_workday, shanghai_iso

UNASSIGNED = "（未指定）"


def visible_departments(department: str | None, departments: Collection[str] | None) -> Collection[str] | None:
    """The departments a list is restricted to: the one asked for (if the caller may see it), else the caller's."""
    if department is None:
        return departments
    if departments is not None and department not in departments:
        raise PermissionDeniedError(f"只能查看本部门及下级部门的督办信息，无权查看：{department}",
                                    f"You may read only your own departments' supervision lists, not {department}",
                                    field="department")
    return (department,)


def led_bundles(leads: Mapping[str, str], departments: Collection[str]) -> list[str]:
    """Bundles whose lead department (`lead_departments`) is one of `departments`: their cases belong to it."""
    return sorted(key for key, lead in leads.items() if lead in departments)


def _filtered(query: Select[Any], key: Any, bundle: str | None, moment: Any, start: date | datetime | None,
              end: date | datetime | None) -> Select[Any]:
    """`query` for one bundle (if given) and `start <= moment < end` (either bound optional)."""
    if bundle:
        query = query.where(key == bundle)
    if start is not None:
        query = query.where(moment >= start)
    if end is not None:
        query = query.where(moment < end)
    return query


def items(session: Session, status: str | None, department: str | None, bundle: str | None, first: int,
          max_results: int, departments: Collection[str] | None = None) -> dict[str, Any]:
    query = select(SupervisionItem)
    scope = visible_departments(department, departments)
    if status:
        query = query.where(SupervisionItem.status == status)
    if scope is not None:
        query = query.where(SupervisionItem.department.in_(scope))
    if bundle:
        query = query.where(SupervisionItem.bundle == bundle)
    rows = session.scalars(query.order_by(SupervisionItem.deadline, SupervisionItem.id).offset(first)
                           .limit(max_results))
    return {"items": [item_json(r) for r in rows], "first": first, "max_results": max_results}


def limit_list(session: Session, status: str, department: str | None, bundle: str | None,
               due_from: datetime | None, due_to: datetime | None, first: int, max_results: int,
               departments: Collection[str] | None = None) -> dict[str, Any]:
    """Cases (statutory / committed clocks) and steps in `status` (WARNING or OVERDUE), earliest due first."""
    from orchestrator.services.clock import clock_json
    from orchestrator.services.step_limits import step_json

    leads = lead_departments(session)
    scope = visible_departments(department, departments)
    cases = select(CaseClock).where(CaseClock.status == status)
    steps = select(HumanTask).where(HumanTask.state == "CREATED", HumanTask.limit_state == status)
    if bundle:
        cases = cases.where(CaseClock.definition_key == bundle)
        steps = steps.where(HumanTask.definition_key == bundle)
    if scope is not None:
        cases = cases.where(CaseClock.definition_key.in_(led_bundles(leads, scope)))
        steps = steps.where(HumanTask.department.in_(scope))
    if due_from is not None:
        cases, steps = cases.where(CaseClock.deadline >= due_from), steps.where(HumanTask.due >= due_from)
    if due_to is not None:
        cases, steps = cases.where(CaseClock.deadline < due_to), steps.where(HumanTask.due < due_to)
    case_rows = session.scalars(cases.order_by(CaseClock.deadline, CaseClock.id).offset(first).limit(max_results))
    step_rows = session.scalars(steps.order_by(HumanTask.due, HumanTask.id).offset(first).limit(max_results))
    return {"status": status,
            "cases": [clock_json(c) | {"department": leads.get(c.definition_key)} for c in case_rows],
            "steps": [step_json(t) for t in step_rows], "first": first, "max_results": max_results}


def _rate(on_time: int, total: int) -> float | None:
    return round(on_time / total, 4) if total else None


def on_time_rate(session: Session, ended_from: datetime | None, ended_to: datetime | None,
                 kind: str = "statutory", departments: Collection[str] | None = None) -> dict[str, Any]:
    """Share of finished cases and steps that ended within their limit, per bundle and per department."""
    leads = lead_departments(session)
    case_query = select(CaseClock.definition_key, CaseClock.finished_at, CaseClock.deadline).where(
        CaseClock.status == "STOPPED", CaseClock.kind == kind)
    step_query = select(HumanTask.definition_key, HumanTask.department, HumanTask.ended_at, HumanTask.due).where(
        HumanTask.limit_state == "STOPPED", HumanTask.state == "COMPLETED")
    if departments is not None:
        case_query = case_query.where(CaseClock.definition_key.in_(led_bundles(leads, departments)))
        step_query = step_query.where(HumanTask.department.in_(departments))
    if ended_from is not None:
        case_query = case_query.where(CaseClock.finished_at >= ended_from)
        step_query = step_query.where(HumanTask.ended_at >= ended_from)
    if ended_to is not None:
        case_query = case_query.where(CaseClock.finished_at < ended_to)
        step_query = step_query.where(HumanTask.ended_at < ended_to)
    tallies: dict[str, dict[str, list[int]]] = {name: defaultdict(lambda: [0, 0]) for name in
                                                 ("case_bundle", "case_department", "step_bundle", "step_department")}
    for key, finished, deadline in session.execute(case_query):
        ok = int(deadline is None or finished is None or finished <= deadline)
        for table, name in (("case_bundle", key), ("case_department", leads.get(key) or UNASSIGNED)):
            tallies[table][name][0] += ok
            tallies[table][name][1] += 1
    for key, department, ended, due in session.execute(step_query):
        ok = int(due is None or ended is None or ended <= due)
        for table, name in (("step_bundle", key), ("step_department", department or UNASSIGNED)):
            tallies[table][name][0] += ok
            tallies[table][name][1] += 1

    def rows(table: str, label: str) -> list[dict[str, Any]]:
        return [{label: name, "on_time": ok, "total": total, "rate": _rate(ok, total)}
                for name, (ok, total) in sorted(tallies[table].items())]

    return {"kind": kind, "cases": {"by_bundle": rows("case_bundle", "bundle"),
                                    "by_department": rows("case_department", "department")},
            "steps": {"by_bundle": rows("step_bundle", "bundle"),
                      "by_department": rows("step_department", "department")}}


def _workdays_between(first: date, last: date) -> int | None:
    """Working days after `first` up to and including `last` (the acceptance day never counts)."""
    count, day = 0, first
    try:
        while day < last:
            day += timedelta(days=1)
            if is_workday(day):
                count += 1
    except CalendarDataMissingError:
        return None
    return count


def handling_times(session: Session, bundle: str | None, started_from: date | None, started_to: date | None,
                   kind: str, first: int, max_results: int,
                   departments: Collection[str] | None = None) -> dict[str, Any]:
    """Per case: working days used (pauses excluded) against the limit (with extensions)."""
    now = timesource.now()
    query = select(CaseClock).where(CaseClock.kind == kind)
    if departments is not None:
        query = query.where(CaseClock.definition_key.in_(led_bundles(lead_departments(session), departments)))
    query = _filtered(query, CaseClock.definition_key, bundle, CaseClock.started_on, started_from, started_to)
    result = []
    for clock in session.scalars(query.order_by(CaseClock.started_on, CaseClock.id).offset(first).limit(max_results)):
        end = (clock.finished_at or now).astimezone(SHANGHAI).date()
        elapsed = _workdays_between(clock.started_on, end)
        used = None if elapsed is None else max(0, elapsed - clock.paused_workdays)
        limit = clock.limit_days + clock.extended_days
        result.append({"instance_id": clock.instance_id, "bundle": clock.definition_key, "kind": clock.kind,
                       "status": clock.status, "started_on": clock.started_on.isoformat(),
                       "finished_at": shanghai_iso(clock.finished_at), "finished": clock.finished_at is not None,
                       "used_workdays": used, "paused_workdays": clock.paused_workdays, "limit_workdays": limit,
                       "used_share": round(used / limit, 4) if used is not None and limit else None,
                       "within_limit": clock.deadline is None or (clock.finished_at or now) <= clock.deadline})
    return {"items": result, "first": first, "max_results": max_results}


def step_times(session: Session, bundle: str | None, ended_from: datetime | None,
               ended_to: datetime | None, departments: Collection[str] | None = None) -> dict[str, Any]:
    """Per bundle and step (activity): how many ended, mean and longest handling time, against the step limit."""
    query = select(HumanTask.definition_key, HumanTask.activity_id, HumanTask.name, HumanTask.department,
                   HumanTask.created_at, HumanTask.ended_at, HumanTask.due, HumanTask.limit_days).where(
        HumanTask.state == "COMPLETED")
    if departments is not None:
        query = query.where(HumanTask.department.in_(departments))
    query = _filtered(query, HumanTask.definition_key, bundle, HumanTask.ended_at, ended_from, ended_to)
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for key, activity, name, department, created, ended, due, limit_days in session.execute(query):
        group = groups.setdefault((key, activity), {
            "bundle": key, "activity_id": activity, "name": name, "department": department, "count": 0,
            "total_hours": 0.0, "max_hours": 0.0, "limit_days": limit_days, "on_time": 0, "with_limit": 0})
        hours = (ended - created).total_seconds() / 3600 if ended is not None else 0.0
        group["count"] += 1
        group["total_hours"] += hours
        group["max_hours"] = max(group["max_hours"], hours)
        if due is not None:
            group["with_limit"] += 1
            group["on_time"] += int(ended is None or ended <= due)
    items = []
    for group in sorted(groups.values(), key=lambda g: (g["bundle"], g["activity_id"])):
        total = group.pop("total_hours")
        items.append(group | {"mean_hours": round(total / group["count"], 3), "max_hours": round(group["max_hours"], 3),
                              "on_time_rate": _rate(group["on_time"], group["with_limit"])})
    return {"items": items}


__all__ = ["UNASSIGNED", "handling_times", "items", "led_bundles", "limit_list", "on_time_rate", "step_times",
           "visible_departments"]
