"""Approval operations on running cases: send back (退回), retract (撤回), transfer (转办), signers (加签/减签).

Each runs as every mutation does: lock the case → restore → act on the engine → run on → save
(projections and audit in the same transaction). Each leaves an audit event saying who did what,
to whom and why, and a line in the case's official record (approval_records).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Table
from sqlalchemy.orm import Session

from orchestrator.auth.principal import Principal
from orchestrator.engine import countersign, rewind
from orchestrator.engine.multi_instance import CamundaMultiInstance
from orchestrator.errors import ConflictError, InvalidRequestError, NotFoundError
from orchestrator.models import HumanTask
from orchestrator.services import approval_access, approval_hooks, approval_records, case_store, task_rows
from orchestrator.services.cases import LoadedCase, load_case, save_case


def _table() -> Table:
    return HumanTask.__table__  # type: ignore[return-value]


def _task_row(session: Session, task_id: str) -> HumanTask:
    row = session.get(HumanTask, task_id, populate_existing=True)
    if row is None:
        raise NotFoundError(f"任务不存在：{task_id}", f"No task with id {task_id}", field="id")
    return row


def _open_case(session: Session, task_id: str) -> tuple[LoadedCase, HumanTask]:
    instance = case_store.lock_owner_of(session, _table(), task_id)
    if instance is None:
        raise NotFoundError(f"任务不存在：{task_id}", f"No task with id {task_id}", field="id")
    case = load_case(session, instance.id, instance=instance)
    return case, _task_row(session, task_id)


def _require_open(case: LoadedCase, task_id: str) -> Any:
    if task_id not in case.before.user_tasks:
        raise ConflictError("任务已办结或已取消", "Task is already completed or canceled", code="task.not_open")
    return case.runtime.get_task(task_id)


def required_reason(reason: str | None, field: str = "reason") -> str:
    if reason is None or not reason.strip():
        raise InvalidRequestError("必须填写理由", f"{field} is required", field=field)
    if len(reason) > 2000:
        raise InvalidRequestError("理由不能超过 2000 个字符", f"{field} is longer than 2000 characters", field=field)
    return reason.strip()


def set_assignee(session: Session, task_id: str, assignee: str | None) -> None:
    """Change an open task's assignee (through task_rows: the queue's candidate rows follow)."""
    task_rows.change_tasks(session, HumanTask.id == task_id, {"assignee": assignee})


# -- send back ---------------------------------------------------------------------------------
def send_back_targets(session: Session, task_id: str) -> list[dict[str, Any]]:
    """The steps this task may be sent back to, nearest first; `across_split` ones need a preview."""
    case, _row = _open_case(session, task_id)
    sender = _require_open(case, task_id)
    return [_target_json(session, t) for t in rewind.send_back_targets(sender)]


def _target_json(session: Session, target: rewind.SendBackTarget) -> dict[str, Any]:
    done = session.get(HumanTask, target.task_id)
    return {"activity_id": target.activity_id, "name": target.name, "task_id": target.task_id,
            "across_split": target.across_split, "completed_by": done.completed_by if done else None,
            "completed_at": done.ended_at.isoformat() if done and done.ended_at else None}


def send_back_preview(session: Session, task_id: str, target_activity: str) -> dict[str, Any]:
    """What a send-back to `target_activity` would undo, without changing anything."""
    case, _row = _open_case(session, task_id)
    sender = _require_open(case, task_id)
    target = rewind.find_target(sender, target_activity)
    node = case.runtime.get_task(target.task_id)
    assert node is not None
    undone = rewind.undone_by(node)
    return {"target": _target_json(session, target), **asdict(undone)}


def send_back(session: Session, task_id: str, target_activity: str, reason: str | None, principal: Principal,
              *, across_split: bool = False) -> dict[str, Any]:
    """Return the case to an earlier step of the sender's path, with a mandatory reason.

    Inside the sender's branch only that branch is rewound; to a step before the split the whole
    case from that step on is reset, which the caller must ask for explicitly (after a preview).
    """
    why = required_reason(reason)
    case, row = _open_case(session, task_id)
    who = approval_access.ensure_assignee(row, principal, "退回")
    sender = _require_open(case, task_id)
    target = rewind.find_target(sender, target_activity)
    if target.across_split and not across_split:
        raise ConflictError(
            f"环节 {target_activity} 在并联分支开始之前：退回将撤销其后所有部门的办理，"
            "请先预览并确认（across_split=true）",
            f"{target_activity} is before the split; preview and confirm with across_split=true",
            code="approval.send_back_needs_confirmation", field="across_split", element_id=target_activity,
        )
    target_task = case.runtime.get_task(target.task_id)
    assert target_task is not None
    previous = session.get(HumanTask, target.task_id)
    previous_assignee = previous.completed_by if previous is not None else None
    undone = rewind.undone_by(target_task)
    if target.across_split:
        node = rewind.reset_across(target_task, case.runtime.variables())
    else:
        rewind.check_same_branch(sender, target_task)
        node = rewind.rewind_branch(target_task, sender.data)
    case.runtime.run()
    step = rewind.open_step_below(node, target_activity)
    new_task_id = str(step.id) if step is not None else None
    previous_person = previous_assignee if _assign_policy(step) == "previous" else None
    assign_to = _present(session, case, step, previous_person)
    case.audit("task.sent_back", who, {
        "task_id": task_id, "activity_id": row.activity_id, "target_activity_id": target_activity,
        "target_task_id": new_task_id, "across_split": target.across_split, "reason": why,
        "assigned_to": assign_to, "undone": [t["activity_id"] for t in undone.open_user_tasks],
    })
    save_case(session, case, who)
    if new_task_id is not None and assign_to is not None:
        set_assignee(session, new_task_id, assign_to)
        if previous_person is not None and assign_to != previous_person:  # the person away still sees it
            _add_candidate_user(session, new_task_id, previous_person)
    approval_records.add_opinion(session, case.instance.id, row, who, kind="send_back", decision="send_back",
                                 opinion=why)
    return {"task_id": new_task_id, "activity_id": target_activity, "assignee": assign_to,
            "across_split": target.across_split}


def _present(session: Session, case: LoadedCase, step: Any, person: str | None) -> str | None:
    """Who takes a step returned to `person`: the person, or their proxy of today (代理, audited)."""
    proxy = approval_hooks.active_proxies(session, {person}).get(person) if person and step is not None else None
    if proxy is None:
        return person
    case.events.append(approval_hooks.proxied_event(str(step.id), str(step.task_spec.bpmn_id), proxy))
    return proxy.proxy


def _add_candidate_user(session: Session, task_id: str, user: str) -> None:
    row = _task_row(session, task_id)
    if user not in (row.candidate_users or []):
        task_rows.change_tasks(session, HumanTask.id == task_id, {"candidate_users": [*(row.candidate_users or []),
                                                                                      user]})


def _assign_policy(step: Any) -> str:
    if step is None:
        return "candidates"
    properties = (getattr(step.task_spec, "extensions", None) or {}).get("properties") or {}
    return str(properties.get(rewind.ASSIGN_PROPERTY) or "previous")


# -- retract -----------------------------------------------------------------------------------
def retract(session: Session, task_id: str, reason: str | None, principal: Principal) -> dict[str, Any]:
    """Take back a step I completed while the next step is neither claimed nor completed (else 409)."""
    why = (reason or "").strip() or None
    instance = case_store.lock_owner_of(session, _table(), task_id)
    if instance is None:
        raise NotFoundError(f"任务不存在：{task_id}", f"No task with id {task_id}", field="id")
    row = _task_row(session, task_id)
    who = approval_access.ensure_completed_by(row, principal)
    if row.state != "COMPLETED":
        raise ConflictError("只能撤回已办结的环节", "Only a completed step can be retracted", code="task.not_completed")
    case = load_case(session, instance.id, instance=instance)
    done = case.runtime.get_task(task_id)
    if done is None:
        raise _too_late("该环节已被退回或重置")
    body = done.parent
    if body is not None and isinstance(body.task_spec, CamundaMultiInstance):
        following, step = [], _retract_signature(body, done)
        case.runtime.run()
    else:
        following = _following_unclaimed(session, case, done)
        node = rewind.rewind_branch(done, done.data)
        case.runtime.run()
        step = rewind.open_step_below(node, str(done.task_spec.bpmn_id))
    new_task_id = str(step.id) if step is not None else None
    case.audit("task.retracted", who, {
        "task_id": task_id, "activity_id": row.activity_id, "new_task_id": new_task_id, "reason": why,
        "withdrawn": [str(t.task_spec.bpmn_id) for t in following],
    })
    save_case(session, case, who)
    if new_task_id is not None:
        set_assignee(session, new_task_id, who)
    approval_records.add_opinion(session, case.instance.id, row, who, kind="retract", decision="retract",
                                 opinion=why or "撤回")
    return {"task_id": new_task_id, "activity_id": row.activity_id, "assignee": who}


def _retract_signature(body: Any, done: Any) -> Any:
    """A countersign signature (会签): taken back only while the countersign runs and it is not the next one's turn."""
    blocker = body.task_spec.retract_blocker(body, done)
    if blocker is not None:
        raise _too_late(blocker)
    return body.task_spec.reopen_instance(body, done)


def _following_unclaimed(session: Session, case: LoadedCase, done: Any) -> list[Any]:
    """The open steps after `done`, refused (409) once one of them was claimed or anything after was completed."""
    blocker = rewind.retract_blocker(done)
    if blocker is not None:
        raise _too_late("下一环节已办理" if blocker == "completed" else "并联审批已汇聚，流程已继续")
    following = rewind.open_user_tasks_below(done)
    for task in following:
        next_row = session.get(HumanTask, str(task.id))
        diagram_assignee = case.runtime.user_task_info(str(task.id)).assignee
        if next_row is not None and next_row.assignee is not None and next_row.assignee != diagram_assignee:
            raise _too_late(f"下一环节“{next_row.name or next_row.activity_id}”已被签收")
    return following


def _too_late(why: str) -> ConflictError:
    return ConflictError(f"不能撤回：{why}", "Cannot retract: the next step was claimed or completed",
                         code="task.retract_too_late")


# -- transfer ----------------------------------------------------------------------------------
def transfer(session: Session, task_id: str, to: str | None, reason: str | None,
             principal: Principal) -> dict[str, Any]:
    """Hand an open task to another active person for good (转办): the new person is its assignee."""
    why = required_reason(reason)
    if to is None or not to.strip() or len(to) > 128:
        raise InvalidRequestError("必须指定转办给谁", "`to` (a user id) is required", field="to")
    to = to.strip()
    case, row = _open_case(session, task_id)
    who = approval_access.ensure_assignee(row, principal, "转办")
    _require_open(case, task_id)
    if to == who:
        raise InvalidRequestError("不能转办给自己", "Cannot transfer a task to oneself", field="to")
    approval_access.active_user(session, to, "to")
    case.audit("task.transferred", who, {"task_id": task_id, "activity_id": row.activity_id, "from": who,
                                         "to": to, "reason": why})
    save_case(session, case, who)
    set_assignee(session, task_id, to)
    approval_records.add_opinion(session, case.instance.id, row, who, kind="transfer", decision="transfer",
                                 opinion=f"转办给 {to}：{why}")
    return {"task_id": task_id, "assignee": to}




# -- 加签 / 减签 --------------------------------------------------------------------------------
POSITIONS = ("before", "after", "parallel")


def _countersign(case: LoadedCase, task_id: str) -> tuple[Any, Any]:
    """The running multi-instance body of a countersign task (open or signed), and its open instance."""
    task = case.runtime.get_task(task_id)
    body = task.parent if task is not None else None
    if body is None or not isinstance(body.task_spec, CamundaMultiInstance):
        raise ConflictError("该任务不是会签环节", "The task is not part of a countersign (multi-instance) step",
                            code="countersign.not_countersign")
    if body.state != TaskState.STARTED:
        raise ConflictError("会签环节已结束", "The countersign step has ended", code="countersign.ended")
    current = next((c for c in body.children if c.state == TaskState.READY and c.task_spec.manual), None)
    return body, current


def list_signers(session: Session, task_id: str) -> dict[str, Any]:
    case, row = _open_case(session, task_id)
    body, _current = _countersign(case, task_id)
    spec = body.task_spec
    tally = spec.tally(body)
    return {"activity_id": row.activity_id, "sequential": spec.sequential, "signers": spec.signers(body),
            "counters": countersign.counters(tally, sum(1 for s in spec.signers(body) if s["state"] == "open"))}


def change_signers(session: Session, task_id: str, signer: str | None, reason: str | None, principal: Principal,
                   *, add: bool, position: str | None = None) -> dict[str, Any]:
    """Add a signer (before / after the current one, or in parallel) or remove one who has not signed."""
    why = required_reason(reason)
    if signer is None or not signer.strip() or len(signer) > 128:
        raise InvalidRequestError("必须指定会签人", "`signer` (a user id) is required", field="signer")
    if add and position not in POSITIONS:
        raise InvalidRequestError("position 应为 before（前加签）、after（后加签）或 parallel（并行加签）",
                                  "position must be before, after or parallel", field="position")
    signer = signer.strip()
    case, row = _open_case(session, task_id)
    who = approval_access.ensure_may_manage_signers(session, row, principal)
    body, current = _countersign(case, task_id)
    if add:
        spec = body.task_spec
        approval_access.existing_signer(session, signer, countersign.signer_kind(spec.child_spec(body),
                                                                                 spec.element_variable))
    before = {s["signer"] for s in body.task_spec.signers(body) if s["state"] in ("open", "pending")}
    if add:
        body.task_spec.add_signer(body, current, signer, position or "")
    else:
        body.task_spec.remove_signer(body, signer)
    case.runtime.run()
    event = "countersign.signer_added" if add else "countersign.signer_removed"
    case.audit(event, who, {"task_id": task_id, "activity_id": row.activity_id, "signer": signer,
                            "position": position if add else None, "reason": why, "signers_before": sorted(before)})
    save_case(session, case, who)
    label = {"before": "前加签", "after": "后加签", "parallel": "并行加签"}.get(position or "", "减签")
    approval_records.add_opinion(session, case.instance.id, row, who, kind="signers",
                                 decision="add_signer" if add else "remove_signer", opinion=f"{label} {signer}：{why}")
    still_running = body.workflow.tasks.get(body.id) is body and body.state == TaskState.STARTED
    return {"activity_id": row.activity_id, "signer": signer, "running": still_running,
            "signers": body.task_spec.signers(body)}
