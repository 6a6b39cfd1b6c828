"""The 工作台 (workbench) a person sees after signing in: what is theirs to do, by role.

- department staff (reviewers, window clerks, department heads): 我的待办 (open tasks assigned to me) and
  本部门待领取 (open, unclaimed tasks offered to my departments or to me);
- supervisors and department heads: the 预警 (yellow) and 超期 (red) lists of cases and steps;
- analysts and administrators: the deployed bundles.

Lists come from the projection tables through the same service functions as the JSON APIs
(services.task_list for GET /api/tasks, services.supervision_reports for /api/supervision/*), in the caller's
scope; times are shown in Asia/Shanghai.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.auth import can_act_on_task
from orchestrator.auth.principal import Principal
from orchestrator.auth.roles import ADMINISTRATOR, ANALYST, DEPARTMENT_HEAD, DEPARTMENT_STAFF, SUPERVISOR
from orchestrator.errors import LianbanError
from orchestrator.forms import registry
from orchestrator.models import Department, HumanTask, User, UserDepartment
from orchestrator.services import (
    approval_access,
    approval_decisions,
    approval_records,
    calendar_alerts,
    carbon_copies,
    definitions,
    privacy,
    queries,
    supervision_reports,
    task_list,
)
from orchestrator.services import calendar as calendar_service
from orchestrator.services.task_list import TaskListQuery
from orchestrator.workcalendar import SHANGHAI

PAGE = 50

# The step's limit state as people read it; NULL (no limit) and STOPPED read as 无时限 / 已停止.
LIMIT_LABELS = {"NORMAL": "正常", "WARNING": "预警", "OVERDUE": "超期", "STOPPED": "已停止"}
# The variables the statutory clock writes into a case (services/clock.py).
CLOCK_LABELS = {"statutory_deadline": "法定办结期限", "statutory_warn_at": "法定时限预警时间",
                "committed_deadline": "承诺办结期限", "committed_warn_at": "承诺时限预警时间"}
ROLE_LABELS = {"administrator": "系统管理员", "analyst": "业务分析人员", "supervisor": "督办人员",
               "window_clerk": "综合窗口人员", "reviewer": "部门审批人员", "department_head": "部门负责人",
               "applicant": "申请人"}


def local_time(moment: datetime | None) -> str:
    """A stored UTC moment as people read it: `2026-11-30 23:59` in Asia/Shanghai ('—' for none)."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else "—"


def limit_label(state: str | None) -> str:
    return LIMIT_LABELS.get(state or "", "无时限")


def task_row(task: HumanTask, names: Names | None = None) -> dict[str, Any]:
    names = names or Names()
    state = task.limit_state or "NONE"
    groups = [task.department] if task.department else list(task.candidate_groups or [])
    return {"id": task.id, "name": task.name or task.activity_id, "business_key": task.business_key or "—",
            "applicant": task.applicant or "—", "bundle": names.bundle(task.definition_key),
            "assignee": task.assignee, "due": local_time(task.due), "limit_state": state,
            "limit_label": limit_label(task.limit_state),
            "department": "、".join(names.department(g) for g in groups) or "—",
            "created": local_time(task.created_at)}


@dataclass
class Names:
    """Department codes and bundle keys as people read them (their names)."""

    departments: dict[str, str] = field(default_factory=dict)
    bundles: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> Names:
        bundles = {d.key: d.name or d.key for d in definitions.list_definitions(session, latest_only=True,
                                                                                  max_results=1000)}
        departments = {code: name for code, name in session.execute(select(Department.code, Department.name))}
        return cls(departments, bundles)

    def department(self, code: str | None) -> str:
        return self.departments.get(code, code) if code else "—"

    def bundle(self, key: str) -> str:
        return self.bundles.get(key, key)


@dataclass
class Home:
    """What the 工作台 shows; a section is None when the person's roles do not include it."""

    who: str
    my_tasks: list[dict[str, Any]] | None = None
    my_total: int = 0
    unclaimed: list[dict[str, Any]] | None = None
    unclaimed_total: int = 0
    my_page: int = 1
    unclaimed_page: int = 1
    done: list[dict[str, Any]] | None = None
    copies: list[dict[str, Any]] | None = None
    copies_unread: int = 0
    warnings: dict[str, list[dict[str, Any]]] | None = None
    overdue: dict[str, list[dict[str, Any]]] | None = None
    bundles: list[dict[str, Any]] = field(default_factory=list)
    calendar_warning: str | None = None  # administrators: the holiday calendar runs out (calendar_alerts)


def _limit_rows(session: Session, status: str, principal: Principal, names: Names) -> dict[str, list[dict[str, Any]]]:
    """The supervision list in the viewer's reach (as GET /api/supervision/warnings|overdue answers it): every
    department for a city-level supervisor, else the viewer's departments and those below them."""
    found = supervision_reports.limit_list(session, status, department=None, bundle=None, due_from=None,
                                           due_to=None, first=0, max_results=PAGE, departments=principal.view_groups)
    clocks, steps = found["cases"], found["steps"]
    return {
        "cases": [{"instance_id": c["instance_id"], "bundle": names.bundle(c["bundle"]), "kind": c["kind_name"],
                   "department": names.department(c.get("department")), "deadline": _iso_local(c.get("deadline")),
                   "limit_days": c["limit_days"]} for c in clocks],
        "steps": [{"task_id": s["task_id"], "instance_id": s["instance_id"], "name": s["name"] or s["activity_id"],
                   "business_key": s["business_key"] or "—", "bundle": names.bundle(s["bundle"]),
                   "assignee": s["assignee"] or "未认领", "department": names.department(s["department"]),
                   "due": _iso_local(s["due"])} for s in steps]}


def _iso_local(value: str | None) -> str:
    return local_time(datetime.fromisoformat(value)) if value else "—"


def who(principal: Principal) -> str:
    """`海关审批员（部门审批人员）`: the person and their roles, for the page header."""
    roles = "、".join(ROLE_LABELS.get(r, r) for r in sorted(principal.roles))
    return f"{principal.display_name or principal.username}（{roles}）"


def pages(total: int) -> int:
    """How many pages of PAGE rows a list of `total` has (at least one)."""
    return max(1, -(-total // PAGE))


def home(session: Session, principal: Principal, my_page: int = 1, unclaimed_page: int = 1) -> Home:
    """The 工作台 of `principal`; `my_page` and `unclaimed_page` (from 1) page the two task lists by PAGE."""
    result = Home(who=who(principal), my_page=my_page, unclaimed_page=unclaimed_page)
    names = Names.load(session)
    if principal.roles & DEPARTMENT_STAFF:  # the same lists as GET /api/tasks?view=mine and ?view=unclaimed
        mine = task_list.list_tasks(session, principal, TaskListQuery(view="mine", size=PAGE,
                                                                      first=(my_page - 1) * PAGE))
        result.my_tasks, result.my_total = [task_row(t, names) for t in mine.items], mine.total
        offered = task_list.list_tasks(session, principal, TaskListQuery(view="unclaimed", size=PAGE,
                                                                         first=(unclaimed_page - 1) * PAGE))
        result.unclaimed, result.unclaimed_total = [task_row(t, names) for t in offered.items], offered.total
        result.done = done_steps(session, principal, names)
    copied = carbon_copies.my_copies(session, principal.username, approval_access.groups_of(principal), None, 0,
                                     PAGE)
    if copied["total"]:
        result.copies, result.copies_unread = [_copy_row(c, names) for c in copied["items"]], copied["unread"]
    if principal.roles & {SUPERVISOR, DEPARTMENT_HEAD}:
        result.warnings = _limit_rows(session, "WARNING", principal, names)
        result.overdue = _limit_rows(session, "OVERDUE", principal, names)
    if principal.roles & {ANALYST, ADMINISTRATOR}:
        result.bundles = [{"id": d.id, "key": d.key, "name": d.name or d.key, "version": d.version}
                          for d in definitions.list_definitions(session, latest_only=True, max_results=200)]
    if ADMINISTRATOR in principal.roles:
        calendar_service.load_overrides(session)  # a year imported by another process ends the warning here too
        result.calendar_warning = calendar_alerts.banner()
    return _masked(result)


def _masked(shown: Home) -> Home:
    """The 工作台 with every personal ID number masked, as the APIs behind its lists mask them (a note of a copy, a
    case number or an applicant written with one)."""
    for name in ("my_tasks", "unclaimed", "done", "copies", "warnings", "overdue"):
        setattr(shown, name, privacy.mask_document(getattr(shown, name)))
    return shown


DONE_SHOWN = 20  # 我的已办: the most recent steps a person completed


def done_steps(session: Session, principal: Principal, names: Names) -> list[dict[str, Any]]:
    """我的已办: the steps `principal` completed, most recent first (撤回 is offered on each; the API decides).

    A step is completed by its assignee (an unclaimed one is claimed on completion), so the rows are found through
    the (assignee, state) index among the person's own completed steps, not by scanning every completed step."""
    me = principal.username
    rows = session.scalars(select(HumanTask).where(HumanTask.assignee == me, HumanTask.state == "COMPLETED",
                                                   HumanTask.completed_by == me)
                           .order_by(HumanTask.ended_at.desc(), HumanTask.id).limit(DONE_SHOWN))
    return [{**task_row(t, names), "instance_id": t.instance_id, "ended": local_time(t.ended_at)} for t in rows]


def _copy_row(copy: dict[str, Any], names: Names) -> dict[str, Any]:
    recipient = copy["recipient"]
    return {"id": copy["id"], "case_id": copy["case_id"], "sent_by": copy["sent_by"], "note": copy["note"] or "",
            "read": copy["read"], "at": _iso_local(copy["created_at"]),
            "to": names.department(recipient["id"]) if recipient["kind"] == "group" else recipient["id"]}


@dataclass
class TaskPage:
    """The task page: its header row, the approval operations the viewer may use, and the people they may name."""

    task: dict[str, Any]
    actions: dict[str, bool]
    people: list[dict[str, str]]
    departments: list[tuple[str, str]]
    decide: dict[str, Any] | None = None


def task_page(session: Session, principal: Principal, task_id: str) -> TaskPage:
    """What /tasks/<id> shows `principal` (404 when the task is not open).

    The assignee (not while the task is delegated) may send back, transfer, delegate and copy; the delegate of a
    delegated task may only resolve it (approval_access decides again under the case lock). A task without a
    lianban form is completed with a decision and an opinion (`decide`: POST /api/tasks/{id}/decide, the options
    the step configures and its stock phrases) by its assignee or, unclaimed, a candidate."""
    row = queries.get_task(session, task_id)
    mine = row.assignee == principal.username
    delegated = row.delegation_state == "PENDING"
    actions = {"send_back": mine and not delegated, "transfer": mine and not delegated,
               "delegate": mine and not delegated, "copy": mine and not delegated, "resolve": mine and delegated}
    people = colleagues(session, principal) if any(actions.values()) else []
    names = Names.load(session)
    decide = None
    may_complete = bool(principal.roles & DEPARTMENT_STAFF) and can_act_on_task(principal, row)
    if _form_of(row) is None and not delegated and may_complete:
        decide = {"options": [(o, DECISION_LABELS.get(o, o)) for o in approval_decisions.options(row)],
                  "phrases": approval_records.phrases_for(row)}
    header = privacy.mask_document({**task_row(row, names), "instance_id": row.instance_id, "owner": row.owner})
    return TaskPage({**header, "delegated": delegated, "has_form": _form_of(row) is not None}, actions, people,
                    sorted(names.departments.items()), decide)


# How the decisions of POST /api/tasks/{id}/decide read (a step may configure others: shown as they are).
DECISION_LABELS = {"approve": "准予（同意）", "reject": "不予（不同意）", "correct": "补正"}


def _form_of(task: HumanTask) -> object | None:
    """The task's lianban form, or None when it has none (or its form file is broken: the form route says so)."""
    try:
        return registry.for_key(task.form_key)
    except LianbanError:
        return None


PEOPLE_SHOWN = 200


def colleagues(session: Session, principal: Principal) -> list[dict[str, str]]:
    """Active staff a task may be handed to, as far as the viewer sees: everyone of the departments the viewer
    reaches (all departments for those who see every group), the viewer excepted; each with their departments."""
    query = (select(User.username, User.display_name, Department.code, Department.name)
             .join(UserDepartment, UserDepartment.user_id == User.id)
             .join(Department, Department.id == UserDepartment.department_id)
             .where(User.active.is_(True), User.username != principal.username)
             .order_by(User.username, Department.code))
    if principal.view_groups is not None:
        query = query.where(Department.code.in_(sorted(principal.view_groups | principal.act_groups)))
    people: dict[str, dict[str, str]] = {}
    for username, display_name, _code, department in session.execute(query):
        person = people.setdefault(username, {"username": username, "name": display_name or username,
                                              "departments": ""})
        person["departments"] = "、".join(filter(None, [person["departments"], department]))
        if len(people) > PEOPLE_SHOWN:
            break
    return list(people.values())[:PEOPLE_SHOWN]


def field_labels() -> dict[str, Any]:
    """How case data reads in Chinese: `fields` (variable → the label the forms give it) and `options`
    (variable → option value → its label), the first form that names a variable wins."""
    labels: dict[str, str] = dict(CLOCK_LABELS)
    options: dict[str, dict[str, str]] = {}
    for name in registry.names():
        try:
            form = registry.get(name)
        except LianbanError:
            continue  # a broken form file is refused where it is used; here it only lacks its labels
        for form_field in form.fields:
            if form_field.key and form_field.label:
                labels.setdefault(form_field.key, form_field.label)
            if form_field.key and form_field.option_labels:
                options.setdefault(form_field.key, dict(form_field.option_labels))
    return {"fields": labels, "options": options}
