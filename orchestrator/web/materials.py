"""/api/cases/{id}/materials, /api/tasks/{id}/materials (multipart uploads) and /api/materials/{id} (download)."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, jsonify, request

from orchestrator.auth import permission
from orchestrator.auth.policy import READERS, STAFF
from orchestrator.auth.roles import APPLICANT
from orchestrator.errors import InvalidRequestError
from orchestrator.services import forms, materials
from orchestrator.web import access
from orchestrator.web.apidoc import PROBLEM_CONTENT, doc
from orchestrator.web.request_args import actor
from orchestrator.web.session import unit_of_work

blueprint = Blueprint("materials", __name__, url_prefix="/api")

MAX_FILES = 20
_PROBLEM = PROBLEM_CONTENT
_LIST = {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}
_UPLOAD_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["kind", "file"],
    "properties": {"kind": {"type": "string",
                            "description": "材料类别（materials.json 的 kinds，如 business_license）"},
                   "file": {"type": "array", "items": {"type": "string", "format": "binary"},
                            "minItems": 1, "maxItems": MAX_FILES,
                            "description": "一个或多个文件（PDF、OFD、JPG、PNG 等，以文件内容判定格式）"}}},
    "encoding": {"file": {"contentType": "application/octet-stream"}}}}}
_UPLOAD_RESPONSES = {
    "201": {"description": "已上传的材料（安全文件名、SHA-256、大小）", "content": _LIST},
    "400": {"description": "类别不存在、格式不允许、扩展名与内容不符、空文件或超过大小上限（field、filename 指明）",
            "content": _PROBLEM},
    "409": {"description": "办件已结束或任务已办结", "content": _PROBLEM},
    "413": {"description": "请求超过服务器上传上限", "content": _PROBLEM},
}


def _files() -> list[tuple[str | None, bytes]]:
    files = request.files.getlist("file")
    if not files:
        raise InvalidRequestError("请以 multipart/form-data 的 file 字段上传文件", "No file in field 'file'",
                                  field="file")
    if len(files) > MAX_FILES:
        raise InvalidRequestError(f"一次最多上传 {MAX_FILES} 个文件", f"At most {MAX_FILES} files", field="file")
    return [(f.filename, f.read()) for f in files]


@blueprint.post("/cases/<instance_id>/materials")
@doc(requestBody=_UPLOAD_BODY, responses=_UPLOAD_RESPONSES)
@permission(roles=[APPLICANT, *STAFF], scope="case")
def upload_case_materials(instance_id: str) -> tuple[Response, int]:
    """为办件上传材料"""
    kind, files, who = request.form.get("kind"), _files(), actor()
    with unit_of_work() as session:
        rows = [materials.upload(session, instance_id=instance_id, kind=kind, filename=name, content=content,
                                 actor=who) for name, content in files]
        return jsonify([materials.describe(m) for m in rows]), 201


@blueprint.post("/tasks/<task_id>/materials")
@doc(requestBody=_UPLOAD_BODY, responses=_UPLOAD_RESPONSES)
@permission(roles=STAFF, scope="task")
def upload_task_materials(task_id: str) -> tuple[Response, int]:
    """为任务上传材料（如勘验照片、决定文书）"""
    kind, files, who = request.form.get("kind"), _files(), actor()
    with unit_of_work() as session:
        access.require_task_access(session, forms.open_task(session, task_id), act=True)
        rows = [materials.upload(session, task_id=task_id, kind=kind, filename=name, content=content, actor=who)
                for name, content in files]
        return jsonify([materials.describe(m) for m in rows]), 201


@blueprint.get("/cases/<instance_id>/materials")
@doc(responses={"200": {"description": "办件的全部材料（不含文件内容）", "content": _LIST}})
@permission(roles=[APPLICANT, *READERS], scope="case")
def list_case_materials(instance_id: str) -> Response:
    """办件的材料清单"""
    with unit_of_work() as session:
        return jsonify(access.masked(materials.list_materials(session, instance_id)))


@blueprint.get("/materials/<material_id>")
@doc(responses={
    "200": {"description": "文件内容（附件下载）",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
    "500": {"description": "存储的文件缺失或与上传时的校验值不符（material.corrupt）", "content": _PROBLEM}})
@permission(roles=[APPLICANT, *READERS])
def download_material(material_id: str) -> Response:
    """下载材料（经授权，记入审计）"""
    who = actor()
    with unit_of_work() as session:
        access.require_case_access(session, materials.get_material(session, material_id).instance_id)
        material, content = materials.download(session, material_id, who)
    ascii_name = material.filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    response = Response(content, mimetype=material.content_type)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(material.filename)}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["ETag"] = f'"{material.sha256}"'
    return response
