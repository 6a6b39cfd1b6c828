"""/api approval operations: send back, retract, transfer, signers, decide, opinions, carbon copies, proxies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify

from orchestrator.auth import require_user
from orchestrator.errors import InvalidRequestError
from orchestrator.services import (
    approval_access,
    approval_decisions,
    approval_ops,
    approval_records,
    carbon_copies,
    proxies,
)
from orchestrator.services.approval_records import MAX_SIGNATURE_BYTES
from orchestrator.services.carbon_copies import MAX_RECIPIENTS
from orchestrator.web import access
from orchestrator.web.apidoc import PAGE, REASON, doc, json_request, query_param, text
from orchestrator.web.request_args import body_str, json_body, json_integer, query_flag, query_page
from orchestrator.web.session import unit_of_work

blueprint = Blueprint("approval", __name__, url_prefix="/api")

F = TypeVar("F", bound=Callable[..., Any])
_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_JSON = {"application/json": {"schema": {"type": "object"}}}
_ERRORS = {
    "400": {"description": "请求参数错误（field 指明字段）", "content": _PROBLEM},
    "403": {"description": "无权办理（只有办理人 / 部门负责人可以）", "content": _PROBLEM},
    "404": {"description": "任务或办件不存在", "content": _PROBLEM},
    "409": {"description": "任务状态不允许该操作", "content": _PROBLEM},
}


def _doc(summary_ok: str, body: dict[str, Any] | None = None, *, returns: str = "object",
         **details: Any) -> Callable[[F], F]:
    """OpenAPI details: the 200 answer (a JSON object or array), the usual problems, and the JSON body if any."""
    if body is not None:
        details["requestBody"] = json_request(body, required=bool(body["required"]))
    content = _JSON if returns == "object" else {"application/json": {"schema": {"type": returns}}}
    return doc(responses={"200": {"description": summary_ok, "content": content}, **_ERRORS}, **details)


def _object(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


# An own opinion, or the index of a stock phrase standing in for it.
_OPINION_OR_PHRASE = {"anyOf": [
    {"required": ["opinion"], "properties": {"opinion": text(2000, blank=False)}},
    {"required": ["phrase"], "properties": {"phrase": {"type": "integer"}}}]}
_TARGET = text(255, "图中环节的元素 id", blank=False)
_USER = text(128, "用户名", blank=False)
_BASE64 = r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
# Base64 of a PNG (its 8-byte signature encodes as iVBORw0KGg…) or of a JPEG (FF D8 FF: /9j/), at most 512 KB.
_SIGNATURE = {"oneOf": [
    {"type": "object", "required": ["type", "data"], "properties": {
        "type": {"const": kind}, "data": {"type": "string", "maxLength": MAX_SIGNATURE_BYTES * 4 // 3 + 4,
                                          "pattern": prefix + _BASE64, "description": "Base64"}}}
    for kind, prefix in (("image/png", "^iVBORw0KGg[o-r][A-Za-z0-9+/]"), ("image/jpeg", "^/9j/"))]}


@blueprint.get("/tasks/<task_id>/send-back-targets")
@_doc("可退回的环节：本分支内（across_split=false）与并联分支开始之前（需预览确认）", returns="array")
def send_back_targets(task_id: str) -> Response:
    """可退回的环节（最近的在前）"""
    with unit_of_work() as session:
        return jsonify(approval_ops.send_back_targets(session, task_id))


@blueprint.post("/tasks/<task_id>/send-back/preview")
@_doc("退回将撤销的任务、定时器与外部任务（不做任何修改）", _object(["target"], target=_TARGET))
def send_back_preview(task_id: str) -> Response:
    """预览退回：列出将被撤销的办理"""
    body = json_body(required=True)
    target = _required(body, "target", 255)
    with unit_of_work() as session:
        return jsonify(approval_ops.send_back_preview(session, task_id, target))


@blueprint.post("/tasks/<task_id>/send-back")
@_doc("已退回：目标环节的新任务及其办理人", _object(
    ["target", "reason"], target=_TARGET, reason=REASON,
    across_split={"type": "boolean", "description": "确认退回到并联分支开始之前（撤销所有分支）"}))
def send_back(task_id: str) -> Response:
    """退回到之前的环节（必须填写理由）"""
    body = json_body(required=True)
    target = _required(body, "target", 255)
    across = body.get("across_split", False)
    if not isinstance(across, bool):
        raise InvalidRequestError("across_split 必须是布尔值", "across_split must be a boolean", field="across_split")
    reason = body_str(body, "reason", 2000)
    with unit_of_work() as session:
        return jsonify(approval_ops.send_back(session, task_id, target, reason, require_user(),
                                               across_split=across))


@blueprint.post("/tasks/<task_id>/retract")
@_doc("已撤回：本环节的新任务（仍由本人办理）",
      _object([], reason={**text(2000, "撤回理由"), "type": ["string", "null"]}))
def retract(task_id: str) -> Response:
    """撤回本人已办理的环节（下一环节尚未签收或办理）"""
    body = json_body()
    reason = body_str(body, "reason", 2000)
    with unit_of_work() as session:
        return jsonify(approval_ops.retract(session, task_id, reason, require_user()))


@blueprint.post("/tasks/<task_id>/transfer")
@_doc("已转办", _object(["to", "reason"], to=_USER, reason=REASON))
def transfer(task_id: str) -> Response:
    """转办：任务永久交给他人办理"""
    body = json_body(required=True)
    to = body_str(body, "to", 128)
    reason = body_str(body, "reason", 2000)
    with unit_of_work() as session:
        return jsonify(approval_ops.transfer(session, task_id, to, reason, require_user()))


@blueprint.get("/tasks/<task_id>/signers")
@_doc("会签人及其签署状态、计数")
def signers(task_id: str) -> Response:
    """会签环节的会签人"""
    with unit_of_work() as session:
        return jsonify(approval_ops.list_signers(session, task_id))


@blueprint.post("/tasks/<task_id>/signers")
@_doc("已加签", _object(["signer", "position", "reason"], signer=_USER, reason=REASON, position={
    "type": "string", "enum": list(approval_ops.POSITIONS),
    "description": "before 前加签 / after 后加签（串行会签）；parallel 并行加签（并行会签）"}))
def add_signer(task_id: str) -> Response:
    """加签（部门负责人）"""
    body = json_body(required=True)
    signer, position = body_str(body, "signer", 128), body_str(body, "position", 16)
    reason = body_str(body, "reason", 2000)
    with unit_of_work() as session:
        return jsonify(approval_ops.change_signers(session, task_id, signer, reason, require_user(), add=True,
                                                   position=position))


@blueprint.post("/tasks/<task_id>/signers/remove")
@_doc("已减签：该会签人的待办任务撤销，并重新判断会签结果", _object(["signer", "reason"], signer=_USER, reason=REASON))
def remove_signer(task_id: str) -> Response:
    """减签（部门负责人）"""
    body = json_body(required=True)
    signer, reason = body_str(body, "signer", 128), body_str(body, "reason", 2000)
    with unit_of_work() as session:
        return jsonify(approval_ops.change_signers(session, task_id, signer, reason, require_user(),
                                                   add=False))


@blueprint.post("/tasks/<task_id>/decide")
@_doc("已审批：意见已记入办件的正式记录", _object(
    ["decision"], decision={"type": "string", "enum": list(approval_decisions.DEFAULT_OPTIONS),
                            "description": "approve 准予 / reject 不予 / correct 补正（按环节配置）"},
    opinion={**text(2000, "审批意见（不填则用 phrase）"), "type": ["string", "null"]},
    phrase={"type": ["integer", "null"], "minimum": 0, "description": "常用意见序号（GET opinion-phrases）"},
    signature={**_SIGNATURE, "description": "签名图片（可省略）"},
    variables={"type": ["object", "null"], "description": "表单其他字段（普通 JSON 值）"}) | _OPINION_OR_PHRASE)
def decide(task_id: str) -> Response:
    """审批：决定、意见（可选常用意见）与签名"""
    body = json_body(required=True)
    decision = body_str(body, "decision", 32)
    opinion = body_str(body, "opinion", 2000)
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        raise InvalidRequestError("variables 必须是 JSON 对象", "variables must be an object", field="variables")
    signature = approval_records.decode_signature(body.get("signature"))
    phrase = json_integer(body.get("phrase"))
    if body.get("phrase") is not None and phrase is None:
        raise InvalidRequestError("phrase 必须是常用意见的序号", "phrase must be an integer index", field="phrase")
    with unit_of_work() as session:
        if phrase is not None and not opinion:
            phrases = approval_records.phrases_for(approval_records.open_task(session, task_id))
            if not 0 <= phrase < len(phrases):
                raise InvalidRequestError("没有该常用意见", "phrase is out of range", field="phrase")
            opinion = phrases[phrase]
        return jsonify(approval_decisions.decide(session, task_id, decision, opinion, signature, variables,
                                                   require_user()))


@blueprint.get("/cases/<instance_id>/opinions")
@_doc("审批意见（按环节与部门，依办理先后）", parameters=[access.UNMASK_PARAM])
def case_opinions(instance_id: str) -> Response:
    """办件的审批意见（正式记录）"""
    with unit_of_work() as session:
        record = approval_records.opinions(session, instance_id)
        return jsonify(access.case_data_for_viewer(session, instance_id, record, "case opinions"))


@blueprint.get("/opinions/<int:opinion_id>/signature")
@_doc("签名图片")
def opinion_signature(opinion_id: int) -> Response:
    """审批意见的签名图片"""
    with unit_of_work() as session:
        kind, data = approval_records.signature(session, opinion_id)
    return Response(data, mimetype=kind)


@blueprint.get("/tasks/<task_id>/opinion-phrases")
@_doc("本环节的常用审批意见")
def opinion_phrases(task_id: str) -> Response:
    """常用审批意见（流程图属性 opinion.phrases，以 | 分隔）"""
    with unit_of_work() as session:
        return jsonify({"phrases": approval_records.phrases_for(approval_records.open_task(session, task_id))})


@blueprint.post("/cases/<instance_id>/cc")
@_doc("已抄送", _object(["recipients"], note={**text(2000), "type": ["string", "null"]}, recipients={
    "type": "array", "minItems": 1, "maxItems": MAX_RECIPIENTS, "items": _object(
        ["kind", "id"], kind={"type": "string", "enum": ["user", "group"]}, id=text(128, "用户名或部门编码",
                                                                                     blank=False))}))
def copy_case(instance_id: str) -> Response:
    """抄送办件给人员或部门（只读，不影响流转）"""
    body = json_body(required=True)
    recipients = carbon_copies.parse_recipients(body.get("recipients"))
    note = body_str(body, "note", 2000)
    with unit_of_work() as session:
        return jsonify(access.masked(carbon_copies.copy_case(session, instance_id, recipients, note,
                                                             require_user().username)))


@blueprint.get("/cases/<instance_id>/cc")
@_doc("办件的抄送记录及阅读状态", parameters=[access.UNMASK_PARAM])
def case_copies(instance_id: str) -> Response:
    """办件的抄送记录"""
    with unit_of_work() as session:
        return jsonify(access.case_data_for_viewer(session, instance_id,
                                                   carbon_copies.copies_of_case(session, instance_id), "case copies"))


@blueprint.get("/cc")
@_doc("抄送给我（或我的部门）的办件", parameters=[
    query_param("unread", "true 只看未读 / false 只看已读", {"type": "string", "enum": ["true", "false"]}), *PAGE])
def my_copies() -> Response:
    """我的抄送（未读数、列表）"""
    who = require_user()
    unread = query_flag("unread")
    first, max_results = query_page()
    with unit_of_work() as session:
        return jsonify(access.masked(carbon_copies.my_copies(session, who.username, approval_access.groups_of(who),
                                                             unread, first, max_results)))


@blueprint.post("/cc/<int:copy_id>/read")
@_doc("已标记为已读")
def read_copy(copy_id: int) -> Response:
    """标记抄送为已读"""
    who = require_user()
    with unit_of_work() as session:
        return jsonify(carbon_copies.mark_read(session, copy_id, who.username, approval_access.groups_of(who)))


@blueprint.get("/proxies")
@_doc("我设置的或代我的代理（管理员看全部）", returns="array")
def list_proxies() -> Response:
    """代理设置列表"""
    who = require_user()
    with unit_of_work() as session:
        return jsonify(proxies.list_proxies(session, None if who.is_admin else who.username))


@blueprint.post("/proxies")
@_doc("已设置代理：期间内本人的新任务由代理人接收，本人仍可看到", _object(
    ["proxy", "starts_on", "ends_on", "reason"], proxy=text(128, "代理人用户名", blank=False),
    principal={**text(128, "被代理人（默认本人；为他人设置需管理员或部门负责人）"), "type": ["string", "null"]},
    starts_on={"type": "string", "format": "date"}, ends_on={"type": "string", "format": "date"}, reason=REASON))
def set_proxy() -> Response:
    """设置代理（出差、休假）"""
    body = json_body(required=True)
    who = require_user()
    proxy = _required(body, "proxy", 128)
    principal = (body_str(body, "principal", 128) or who.username).strip()
    starts_on = proxies.parse_day(body.get("starts_on"), "starts_on")
    ends_on = proxies.parse_day(body.get("ends_on"), "ends_on")
    reason = approval_ops.required_reason(body_str(body, "reason", 2000))
    with unit_of_work() as session:
        approval_access.ensure_may_set_proxy(who, principal)
        return jsonify(proxies.set_proxy(session, principal, proxy, starts_on, ends_on, reason, who.username))


@blueprint.delete("/proxies/<int:proxy_id>")
@_doc("已撤销代理")
def revoke_proxy(proxy_id: int) -> Response:
    """撤销代理"""
    who = require_user()
    with unit_of_work() as session:
        return jsonify(proxies.revoke_proxy(session, proxy_id, who.username, who.is_admin))


def _required(body: dict[str, Any], name: str, max_len: int) -> str:
    value = body_str(body, name, max_len)
    if value is None or not value.strip():
        raise InvalidRequestError(f"{name} 不能为空", f"{name} is required", field=name)
    return value.strip()

