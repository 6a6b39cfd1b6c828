"""Materials: uploads to a case or a task, checked by content (magic bytes), stored under safe names, downloaded.

The files are real: a PDF, a JPEG, a PNG and an OFD package built here byte by byte.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import transaction
from orchestrator.models import AuditEvent, Material
from orchestrator.services import materials
from orchestrator.services.seed import seed_bundles
from tests.conftest import ROOT
from tests.form_samples import sample
from tests.helpers import start, task_by_key

Sessions = sessionmaker[Session]

PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + \
        chunk(b"IEND", b"")


def _zip(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "<ofd:OFD xmlns:ofd=\"http://www.ofdspec.org/2016\"/>")
    return buffer.getvalue()


PNG = _png()
OFD = _zip(["OFD.xml", "Doc_0/Document.xml"])


@pytest.fixture(autouse=True)
def storage(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Files of this test in its own folder (after the app factory has set the configured one)."""
    root = tmp_path / "materials"
    monkeypatch.setattr(materials.settings, "storage_root", root)
    return root


def _case(client: FlaskClient, run_in_tx: Any) -> str:
    run_in_tx(seed_bundles, ROOT / "bpmn")
    return str(start(client, "restaurant_opening",
                     {"inspection_departments": ["dept-fire-rescue"]})["id"])


def _upload(client: FlaskClient, url: str, kind: str | None, *files: tuple[str, bytes]) -> Any:
    data: dict[str, Any] = {"file": [(io.BytesIO(content), name) for name, content in files]}
    if kind is not None:
        data["kind"] = kind
    return client.post(url, data=data, content_type="multipart/form-data")


def _stored(storage: Path) -> list[Path]:
    return sorted(p for p in storage.rglob("*") if p.is_file()) if storage.exists() else []


def test_a_pdf_is_stored_under_a_safe_name_with_its_checksum_and_downloaded_back(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any, storage: Path) -> None:
    case_id = _case(client, run_in_tx)
    response = _upload(client, f"/api/cases/{case_id}/materials", "business_license",
                       ("../../etc/营业执照 副本.PDF", PDF), ("/home/李/扫描件/平面图.png", PNG))
    assert response.status_code == 201, response.get_json()
    pdf, png = response.get_json()
    assert (pdf["filename"], pdf["content_type"], pdf["size"]) == ("营业执照 副本.pdf", "application/pdf", len(PDF))
    assert pdf["sha256"] == hashlib.sha256(PDF).hexdigest() and pdf["kind_name"] == "营业执照"
    assert (png["filename"], png["content_type"]) == ("平面图.png", "image/png")
    # Only ids reach the file system: <case>/<material>, inside the storage folder.
    assert _stored(storage) == sorted([storage / case_id / pdf["id"], storage / case_id / png["id"]])

    listed = client.get(f"/api/cases/{case_id}/materials").get_json()
    assert [m["id"] for m in listed] == [pdf["id"], png["id"]]

    download = client.get(pdf["download"])
    assert download.status_code == 200 and download.data == PDF
    assert download.mimetype == "application/pdf"
    assert download.headers["Content-Disposition"].endswith(
        "filename*=UTF-8''%E8%90%A5%E4%B8%9A%E6%89%A7%E7%85%A7%20%E5%89%AF%E6%9C%AC.pdf")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    with transaction(sessions) as session:
        events = list(session.scalars(select(AuditEvent.event_type).where(AuditEvent.instance_id == case_id,
                                                                          AuditEvent.event_type.like("material.%"))))
    assert events == ["material.uploaded", "material.uploaded", "material.downloaded"]


@pytest.mark.parametrize(("kind", "name", "content", "code", "fragment"), [
    ("no_such_kind", "a.pdf", PDF, "material.invalid", "材料类别 no_such_kind 不存在"),
    ("business_license", "证照.pdf", PNG, "material.type_mismatch", "扩展名 .pdf 与实际格式（PNG 图片）不符"),
    ("business_license", "setup.pdf", b"MZ\x90\x00" + b"\x00" * 200, "material.type_not_allowed", "无法识别的格式"),
    ("lease_contract", "合同.jpg", JPEG, "material.type_not_allowed", "只接受：PDF 文档、OFD 版式文档"),
    ("application_form", "申请表.ofd", _zip(["readme.txt"]), "material.type_not_allowed", "无法识别的格式"),
    ("business_license", "truncated.pdf", PDF[:40], "material.type_not_allowed", "无法识别的格式"),
    ("business_license", "空.pdf", b"", "material.invalid", "是空文件"),
    ("identity_document", "身份证.jpg", JPEG + b"\x00" * (5 * 1024 * 1024), "material.too_large", "大小上限 5 MiB"),
])
def test_a_wrong_file_is_refused_naming_the_problem_and_nothing_is_stored(
        client: FlaskClient, sessions: Sessions, run_in_tx: Any, storage: Path,
        kind: str, name: str, content: bytes, code: str, fragment: str) -> None:
    case_id = _case(client, run_in_tx)
    response = _upload(client, f"/api/cases/{case_id}/materials", kind, ("ok.pdf", PDF), (name, content))
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == code and fragment in problem["message_zh"], problem["message_zh"]
    assert problem["field"] in ("kind", "file")
    assert _stored(storage) == []  # the first, valid file of the request is gone with the rollback
    with transaction(sessions) as session:
        assert session.scalar(select(func.count()).select_from(Material)) == 0


def test_an_ofd_jpeg_and_png_are_recognised_by_their_content(
        client: FlaskClient, run_in_tx: Any) -> None:
    case_id = _case(client, run_in_tx)
    for kind, name, content, expected in [("application_form", "申请表.ofd", OFD, "application/ofd"),
                                          ("site_photo", "门头", JPEG, "image/jpeg"),
                                          ("site_photo", "后厨.PNG", PNG, "image/png")]:
        response = _upload(client, f"/api/cases/{case_id}/materials", kind, (name, content))
        assert response.status_code == 201, response.get_json()
        assert response.get_json()[0]["content_type"] == expected
    names = [m["filename"] for m in client.get(f"/api/cases/{case_id}/materials").get_json()]
    assert names == ["申请表.ofd", "门头.jpg", "后厨.png"]  # a name without extension gets the real one


def test_a_task_takes_materials_while_open_and_an_altered_file_is_never_served(
        client: FlaskClient, run_in_tx: Any, storage: Path) -> None:
    case_id = _case(client, run_in_tx)
    intake = task_by_key(client, case_id, "task_intake")
    response = _upload(client, f"/api/tasks/{intake['id']}/materials", "inspection_record", ("记录.pdf", PDF))
    assert response.status_code == 201, response.get_json()
    (material,) = response.get_json()
    assert material["task_id"] == intake["id"] and material["instance_id"] == case_id

    assert client.post(f"/api/tasks/{intake['id']}/submit",
                       json={"values": sample("restaurant-intake")}).status_code == 200
    closed = _upload(client, f"/api/tasks/{intake['id']}/materials", "inspection_record", ("记录.pdf", PDF))
    assert closed.status_code == 409 and closed.get_json()["code"] == "task.not_open"

    (storage / case_id / material["id"]).write_bytes(PDF.replace(b"Catalog", b"Catalug"))
    altered = client.get(material["download"])
    assert altered.status_code == 500 and altered.get_json()["code"] == "material.corrupt"


def test_uploads_without_a_file_to_an_unknown_case_or_too_large_are_clear_errors(
        client: FlaskClient, run_in_tx: Any) -> None:
    case_id = _case(client, run_in_tx)
    missing = client.post(f"/api/cases/{case_id}/materials", data={"kind": "other"},
                          content_type="multipart/form-data")
    assert missing.status_code == 400 and missing.get_json()["field"] == "file"
    unknown = _upload(client, "/api/cases/no-such-case/materials", "other", ("a.pdf", PDF))
    assert unknown.status_code == 404
    assert client.get("/api/materials/no-such-material").status_code == 404
    huge = _upload(client, f"/api/cases/{case_id}/materials", "other", ("big.pdf", b"%PDF" + b"0" * (11 << 20)))
    assert huge.status_code == 413 and huge.mimetype == "application/problem+json"
    assert huge.get_json()["message_zh"] == "上传内容过大"
