"""What every step of a case does for approvals: proxies (代理) take new tasks, steps copy the case (抄送).

Called by ``save_case`` before the step's batched writes (these read rows) and, for the carbon
copies, after them (their rows refer to the case row the batch writes).

- Proxy: a new task assigned to someone with a proxy for today (Asia/Shanghai) is assigned to the
  proxy instead, and the original person stays a candidate user, so that both see it; a task that
  names the person as a candidate user gets the proxy as one more candidate.
- Carbon copy: a user task with the properties ``cc.users`` / ``cc.groups`` (comma-separated) copies
  the case to them when it is completed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from orchestrator.engine.runtime import CaseRuntime, Changes, UserTaskInfo
from orchestrator.models import CarbonCopy, TaskProxy
from orchestrator.services.audit import EventSpec
from orchestrator.workcalendar import SHANGHAI

CC_USERS_PROPERTY = "cc.users"
CC_GROUPS_PROPERTY = "cc.groups"


def active_proxies(session: Session, people: set[str], at: datetime | None = None) -> dict[str, TaskProxy]:
    """The proxy of each person who is away today (the latest one set wins)."""
    if not people:
        return {}
    today = (at or datetime.now(UTC)).astimezone(SHANGHAI).date()
    rows = session.scalars(select(TaskProxy).where(
        TaskProxy.principal.in_(sorted(people)), TaskProxy.starts_on <= today, TaskProxy.ends_on >= today,
        TaskProxy.revoked_at.is_(None)).order_by(TaskProxy.created_at))
    return {row.principal: row for row in rows}


def apply_proxies(session: Session, tasks: list[UserTaskInfo], events: list[EventSpec]) -> list[UserTaskInfo]:
    people = {t.assignee for t in tasks if t.assignee} | {u for t in tasks for u in t.candidate_users}
    proxies = active_proxies(session, people)
    if not proxies:
        return tasks
    result = []
    for task in tasks:
        changed = task
        if task.assignee in proxies:
            proxy = proxies[task.assignee]
            users = [*task.candidate_users, *([task.assignee] if task.assignee not in task.candidate_users else [])]
            changed = replace(task, assignee=proxy.proxy, candidate_users=users)
            events.append(_proxied(task, proxy))
        for user in task.candidate_users:
            proxy_row = proxies.get(user)
            if proxy_row is not None and proxy_row.proxy not in changed.candidate_users:
                changed = replace(changed, candidate_users=[*changed.candidate_users, proxy_row.proxy])
                events.append(_proxied(task, proxy_row))
        result.append(changed)
    return result


def _proxied(task: UserTaskInfo, proxy: TaskProxy) -> EventSpec:
    return proxied_event(task.id, task.activity_id, proxy)


def proxied_event(task_id: str, activity_id: str, proxy: TaskProxy) -> EventSpec:
    """The audit event of a task that went to (or also to) a proxy."""
    return ("task.proxied", proxy.principal, {"task_id": task_id, "activity_id": activity_id,
                                             "principal": proxy.principal, "proxy": proxy.proxy,
                                             "proxy_id": proxy.id})


def copies_for(runtime: CaseRuntime, changes: Changes, actor: str | None,
               events: list[EventSpec]) -> list[dict[str, Any]]:
    """Carbon copies the diagram asks for on the user tasks this step completed."""
    rows: list[dict[str, Any]] = []
    for task_id, canceled in sorted(changes.ended_user_tasks.items()):
        task = None if canceled else runtime.get_task(task_id)
        if task is None:
            continue
        properties = (getattr(task.task_spec, "extensions", None) or {}).get("properties") or {}
        for kind, name in (("user", CC_USERS_PROPERTY), ("group", CC_GROUPS_PROPERTY)):
            for recipient in _names(properties.get(name)):
                rows.append({"task_id": task_id, "activity_id": task.task_spec.bpmn_id, "recipient_kind": kind,
                             "recipient": recipient, "sent_by": actor, "note": None})
    if rows:
        events.append(("case.copied", actor, {"recipients": [f"{r['recipient_kind']}:{r['recipient']}" for r in rows],
                                              "activity_id": rows[0]["activity_id"]}))
    return rows


def _names(raw: Any) -> list[str]:
    return [part.strip() for part in str(raw or "").split(",") if part.strip()]


def write_copies(session: Session, instance_id: str, rows: list[dict[str, Any]]) -> list[CarbonCopy]:
    now = datetime.now(UTC)
    copies = [CarbonCopy(instance_id=instance_id, created_at=now, **row) for row in rows]
    session.add_all(copies)
    if copies:
        session.flush()
    return copies


def copies_filter(user: str, groups: list[str]) -> Any:
    """Rows addressed to this user or to one of their groups."""
    clauses = [(CarbonCopy.recipient_kind == "user") & (CarbonCopy.recipient == user)]
    if groups:
        clauses.append((CarbonCopy.recipient_kind == "group") & CarbonCopy.recipient.in_(groups))
    return or_(*clauses)
