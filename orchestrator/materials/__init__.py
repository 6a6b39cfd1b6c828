"""Uploaded materials (申请材料): which file types each kind of material accepts, what a file really is,
and a name that is safe to store and to offer for download. No Flask and no SQL here.

materials.json (path from `LIANBAN_MATERIALS`) configures the file types (by content, never by the
name or the Content-Type a browser claims) and, per material kind, the types allowed and a size limit.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filetype  # magic-byte detection (pure Python, no libmagic)
from jsonschema import Draft202012Validator

from orchestrator.errors import InvalidRequestError, LianbanError

MAX_NAME_LENGTH = 100
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
# filetype's extension for a sniffed file → our type name; an OFD (GB/T 33190) is a ZIP with OFD.xml at its root.
_SNIFFED = {"pdf": "pdf", "jpg": "jpg", "png": "png", "zip": "zip"}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["types", "kinds"],
    "properties": {
        "max_bytes": {"type": "integer", "minimum": 1},
        "types": {"type": "object", "minProperties": 1, "additionalProperties": {
            "type": "object", "required": ["content_type", "extensions"],
            "properties": {"name": {"type": "string"}, "content_type": {"type": "string"},
                           "extensions": {"type": "array", "minItems": 1,
                                          "items": {"type": "string", "pattern": r"^\.[a-z0-9]+$"}}},
        }},
        "kinds": {"type": "object", "minProperties": 1, "additionalProperties": {
            "type": "object", "required": ["name", "types"],
            "properties": {"name": {"type": "string"},
                           "types": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                           "max_bytes": {"type": "integer", "minimum": 1}},
        }},
    },
}


class MaterialError(InvalidRequestError):
    """An upload refused: wrong type, too large, empty, unknown kind; names the field and the file."""

    code = "material.invalid"


@dataclass(frozen=True)
class FileType:
    key: str
    name: str
    content_type: str
    extensions: tuple[str, ...]


@dataclass(frozen=True)
class MaterialKind:
    key: str
    name: str
    types: tuple[str, ...]
    max_bytes: int


@dataclass(frozen=True)
class MaterialRules:
    types: Mapping[str, FileType]
    kinds: Mapping[str, MaterialKind]

    @classmethod
    def from_file(cls, path: Path) -> MaterialRules:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LianbanError(f"材料配置文件 {path.name} 无法读取：{exc}", f"Cannot read {path}: {exc}",
                               code="material.config", status=500) from None
        return cls.from_dict(document, path.name)

    @classmethod
    def from_dict(cls, document: Any, filename: str = "materials.json") -> MaterialRules:
        error = next(iter(Draft202012Validator(CONFIG_SCHEMA).iter_errors(document)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "（根）"
            raise LianbanError(f"材料配置 {filename} 无效（{where}）：{error.message}",
                               f"{filename} is invalid at {where}: {error.message}", code="material.config",
                               status=500, filename=filename)
        default_max = int(document.get("max_bytes", 10 * 1024 * 1024))
        types = {key: FileType(key, str(t.get("name") or key), t["content_type"], tuple(t["extensions"]))
                 for key, t in document["types"].items()}
        kinds = {}
        for key, kind in document["kinds"].items():
            unknown = [t for t in kind["types"] if t not in types]
            if unknown:
                raise LianbanError(f"材料配置 {filename}：材料 {key} 引用了未定义的文件类型 {unknown}",
                                   f"{filename}: kind {key} uses undefined types {unknown}", code="material.config",
                                   status=500, filename=filename)
            kinds[key] = MaterialKind(key, kind["name"], tuple(kind["types"]), int(kind.get("max_bytes", default_max)))
        return cls(types, kinds)

    def kind(self, key: str | None) -> MaterialKind:
        if not key or key not in self.kinds:
            allowed = "、".join(f"{k}（{v.name}）" for k, v in self.kinds.items())
            raise MaterialError(f"材料类别 {key or '（空）'} 不存在，可选：{allowed}", f"Unknown material kind {key!r}",
                                field="kind")
        return self.kinds[key]


@dataclass(frozen=True)
class CheckedFile:
    filename: str
    file_type: FileType


def sniff(content: bytes) -> str | None:
    """What the bytes are (pdf, jpg, png, ofd), whatever the file is called; None when none of these."""
    guess = filetype.guess(content[:8192])
    found = _SNIFFED.get(guess.extension) if guess is not None else None
    if found == "zip":
        return "ofd" if _is_ofd(content) else None
    if found == "pdf" and b"%%EOF" not in content[-2048:]:
        return None  # a PDF header on something else, or a truncated upload
    return found


def _is_ofd(content: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:  # reads the directory only, never inflates
            return any(name.lower() == "ofd.xml" for name in archive.namelist())
    except (zipfile.BadZipFile, ValueError):
        return False


def safe_filename(raw: str | None, extensions: tuple[str, ...]) -> str:
    """A name to store and offer: the last path part, no control or reserved characters, no leading dots,
    at most 100 characters, ending with the detected type's extension. Chinese names are kept."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    extension = f".{ext.lower()}"
    if extension not in extensions:
        stem, extension = name, extensions[0]  # keep what was there, add the real extension
    stem = stem[: MAX_NAME_LENGTH - len(extension)].rstrip(" .") or "material"
    return stem + extension


def check_file(rules: MaterialRules, kind: MaterialKind, raw_name: str | None, content: bytes) -> CheckedFile:
    """Refuse an empty, oversized or wrongly typed file; the type comes from the bytes (magic numbers)."""
    label = raw_name or "（未命名文件）"
    if not content:
        raise MaterialError(f"文件 {label} 是空文件", "The file is empty", field="file", filename=raw_name)
    if len(content) > kind.max_bytes:
        raise MaterialError(f"文件 {label} 超过“{kind.name}”的大小上限 {kind.max_bytes // (1024 * 1024)} MiB",
                            f"File exceeds {kind.max_bytes} bytes for kind {kind.key}", field="file",
                            filename=raw_name, code="material.too_large")
    detected = sniff(content)
    allowed = "、".join(rules.types[t].name for t in kind.types)
    if detected is None or detected not in kind.types:
        what = rules.types[detected].name if detected is not None and detected in rules.types else "无法识别的格式"
        raise MaterialError(f"文件 {label} 的实际格式为{what}，“{kind.name}”只接受：{allowed}",
                            f"File content is {detected or 'unknown'}; kind {kind.key} accepts {list(kind.types)}",
                            field="file", filename=raw_name, code="material.type_not_allowed")
    file_type = rules.types[detected]
    declared = Path(raw_name or "").suffix.lower()
    if declared and declared not in file_type.extensions:
        raise MaterialError(f"文件 {label} 的扩展名 {declared} 与实际格式（{file_type.name}）不符",
                            f"Extension {declared} does not match the content ({detected})", field="file",
                            filename=raw_name, code="material.type_mismatch")
    return CheckedFile(safe_filename(raw_name, file_type.extensions), file_type)
