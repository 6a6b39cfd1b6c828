"""Hardened loading of untrusted BPMN and DMN XML.

Every document an analyst uploads goes through :func:`load_xml` before anything else reads it:

- lxml parser with entity resolution, DTD loading/validation and network access switched off,
  no ``huge_tree``, comments and processing instructions dropped;
- any ``<!DOCTYPE`` (and so any ``<!ENTITY``) is refused outright: billion laughs, XXE to local
  files and external DTDs never reach the parser's entity machinery;
- size, element-depth and element-count limits;
- every refusal is a :class:`~orchestrator.errors.DiagramError` naming the file and the line,
  Chinese first, with no Python exception name or traceback in it.

:func:`validate_bpmn_schema` / :func:`validate_dmn_schema` check a loaded tree against the XSDs that
ship inside SpiffWorkflow; the schemas are loaded once, from local files only.
"""

from __future__ import annotations

import copy
import functools
import re
import threading
from pathlib import Path
from typing import Any

from lxml import etree

from orchestrator.errors import DiagramError

MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 100
MAX_ELEMENTS = 200_000

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
# DMN 1.2 is left out on purpose: the DMN 1.2 XSD shipped with SpiffWorkflow 3.2.0 does not load
# (its DMNDI12.xsd is the DI schema), so such files cannot be validated and are refused.
DMN_NAMESPACES = {
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd": "DMN.xsd",
    "https://www.omg.org/spec/DMN/20191111/MODEL/": "DMN13.xsd",
}

_DOCTYPE_MARKERS = ("<!DOCTYPE", "<!ENTITY")
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _spiff_dir() -> Path:
    import SpiffWorkflow  # local import: only the package location is needed

    return Path(SpiffWorkflow.__file__).resolve().parent


def _document_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def _refuse(
    filename: str,
    zh: str,
    en: str,
    *,
    code: str,
    line: int | None = None,
    element_id: str | None = None,
) -> DiagramError:
    where_zh = f"（文件 {filename}" + (f"，第 {line} 行" if line else "") + "）"
    where_en = f" (file {filename}" + (f", line {line}" if line else "") + ")"
    return DiagramError(
        zh + where_zh,
        en + where_en,
        code=code,
        filename=filename,
        element_id=element_id,
        line=line,
    )


def _find_doctype(data: bytes) -> int | None:
    """Return the 1-based line of a DOCTYPE/ENTITY declaration, whatever the encoding."""
    encodings = ["utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"]
    for bom, enc in _BOMS:
        if data.startswith(bom):
            encodings.insert(0, enc)
    for enc in encodings:
        for marker in _DOCTYPE_MARKERS:
            encoded = marker.encode(enc)
            position = data.find(encoded)
            if position >= 0:
                return data[:position].count("\n".encode(enc)) + 1
    return None


def _clean_libxml_message(message: str) -> str:
    message = message.strip()
    # libxml2 repeats the position; the DiagramError already carries the line.
    message = re.sub(r",? line \d+, column \d+.*$", "", message)
    return message or "malformed XML"


def _check_shape(root: Any, filename: str) -> None:
    count = 0
    depth = 0
    for event, element in etree.iterwalk(root, events=("start", "end")):
        if event == "end":
            depth -= 1
            continue
        depth += 1
        count += 1
        if count > MAX_ELEMENTS:
            raise _refuse(
                filename,
                f"文档元素过多（上限 {MAX_ELEMENTS} 个）",
                f"the document has too many elements (limit {MAX_ELEMENTS})",
                code="xml.too_many_elements",
                line=element.sourceline,
            )
        if depth > MAX_DEPTH:
            raise _refuse(
                filename,
                f"元素嵌套过深（上限 {MAX_DEPTH} 层）",
                f"elements are nested too deeply (limit {MAX_DEPTH} levels)",
                code="xml.too_deep",
                line=element.sourceline,
                element_id=element.get("id"),
            )


def load_xml(data: bytes, filename: str) -> Any:
    """Parse untrusted XML bytes into an lxml element, or raise :class:`DiagramError`.

    The return value is an ``lxml.etree._Element`` (typed ``Any`` because lxml ships no stubs).
    """
    if not isinstance(data, (bytes, bytearray)):
        raise _refuse(
            filename,
            "文件内容必须是字节数据",
            "the file content must be bytes",
            code="xml.invalid",
        )
    if len(data) > MAX_BYTES:
        raise _refuse(
            filename,
            f"文件过大（{len(data)} 字节，上限 {MAX_BYTES} 字节）",
            f"the file is too large ({len(data)} bytes, limit {MAX_BYTES} bytes)",
            code="xml.too_large",
        )
    if not data.strip():
        raise _refuse(filename, "文件为空", "the file is empty", code="xml.malformed")
    doctype_line = _find_doctype(bytes(data))
    if doctype_line is not None:
        raise _refuse(
            filename,
            "不允许 DOCTYPE 或 ENTITY 声明（可能是实体扩展或外部实体攻击）",
            "DOCTYPE and ENTITY declarations are not allowed (entity expansion or external entity)",
            code="xml.doctype_forbidden",
            line=doctype_line,
        )
    try:
        root = etree.fromstring(bytes(data), parser=_document_parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) and exc.lineno > 0 else None
        detail = _clean_libxml_message(str(exc.msg or ""))
        raise _refuse(
            filename,
            f"XML 格式错误或编码不正确：{detail}",
            f"the XML is not well-formed or its encoding is wrong: {detail}",
            code="xml.malformed",
            line=line,
        ) from None
    except (etree.LxmlError, ValueError, LookupError) as exc:
        detail = _clean_libxml_message(str(exc))
        raise _refuse(
            filename,
            f"无法读取 XML：{detail}",
            f"the XML cannot be read: {detail}",
            code="xml.malformed",
        ) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise _refuse(
            filename,
            "不允许 DOCTYPE 或 ENTITY 声明",
            "DOCTYPE and ENTITY declarations are not allowed",
            code="xml.doctype_forbidden",
            line=1,
        )
    _check_shape(root, filename)
    return root


class _LocalSchemaResolver(etree.Resolver):  # type: ignore[misc]
    """Lets the XSD loader read sibling schema files and nothing else (no network, no other files)."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self._folder = folder.resolve()

    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:
        name = system_url.rsplit("/", 1)[-1]
        candidate = (self._folder / name).resolve()
        if candidate.parent == self._folder and candidate.is_file():
            return self.resolve_filename(str(candidate), context)
        return self.resolve_string("", context)


def _load_schema(path: Path) -> Any:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    parser.resolvers.add(_LocalSchemaResolver(path.parent))
    schema_doc = etree.parse(str(path), parser=parser)
    return etree.XMLSchema(schema_doc)


@functools.lru_cache(maxsize=1)
def _bpmn_schema() -> Any:
    return _load_schema(_spiff_dir() / "bpmn" / "parser" / "schema" / "BPMN20.xsd")


@functools.lru_cache(maxsize=4)
def _dmn_schema(file_name: str) -> Any:
    return _load_schema(_spiff_dir() / "dmn" / "parser" / "schema" / file_name)


def _element_at_line(root: Any, line: int | None) -> Any:
    if not line:
        return None
    for element in root.iter():
        if element.sourceline == line and isinstance(element.tag, str):
            return element
    return None


_NS_PREFIXES = {
    BPMN_NS: "bpmn",
    "http://www.omg.org/spec/BPMN/20100524/DI": "bpmndi",
    "http://www.omg.org/spec/DD/20100524/DC": "dc",
    "http://www.omg.org/spec/DD/20100524/DI": "di",
}


def _short_names(message: str) -> str:
    for uri, prefix in _NS_PREFIXES.items():
        message = message.replace("{" + uri + "}", prefix + ":")
    return message


_SCHEMA_LOCK = threading.Lock()  # a shared XMLSchema keeps one error log: validate one tree at a time


def _validate(schema: Any, root: Any, filename: str, kind: str) -> None:
    with _SCHEMA_LOCK:
        if schema.validate(root):
            return
        entries = list(schema.error_log)
    error = entries[0] if entries else None
    line = error.line if error is not None and error.line > 0 else None
    element = _element_at_line(root, line)
    element_id = element.get("id") if element is not None else None
    detail = _short_names(error.message if error is not None else "invalid document")
    raise _refuse(
        filename,
        f"{kind} 文档不符合 XML 模式（XSD）：{detail}",
        f"the {kind} document does not conform to its XML schema (XSD): {detail}",
        code=f"{kind.lower()}.schema",
        line=line,
        element_id=element_id,
    )


def validate_bpmn_schema(root: Any, filename: str) -> None:
    """Validate a loaded BPMN tree against SpiffWorkflow's BPMN 2.0 XSD; raise DiagramError."""
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise _refuse(
            filename,
            "不是 BPMN 2.0 文档（根元素必须是 bpmn:definitions）",
            "not a BPMN 2.0 document (the root element must be bpmn:definitions)",
            code="bpmn.not_bpmn",
            line=root.sourceline,
        )
    target = root
    # bpmn-js writes correlation retrieval expressions as formalExpression; the XSD wants
    # messagePath. Validate a copy with the tag renamed, as SpiffWorkflow's own validator does.
    quirk = root.xpath(
        ".//bpmn:correlationPropertyRetrievalExpression/bpmn:formalExpression",
        namespaces={"bpmn": BPMN_NS},
    )
    if quirk:
        target = copy.deepcopy(root)
        for expression in target.xpath(
            ".//bpmn:correlationPropertyRetrievalExpression/bpmn:formalExpression",
            namespaces={"bpmn": BPMN_NS},
        ):
            expression.tag = f"{{{BPMN_NS}}}messagePath"
    _validate(_bpmn_schema(), target, filename, "BPMN")


def dmn_namespace(root: Any) -> str | None:
    """The DMN namespace of a loaded document's root, or None when it is not a DMN document."""
    tag = root.tag if isinstance(root.tag, str) else ""
    if tag.startswith("{") and tag.endswith("}definitions"):
        namespace = tag[1 : -len("}definitions")]
        if namespace in DMN_NAMESPACES:
            return namespace
    return None


def validate_dmn_schema(root: Any, filename: str) -> None:
    """Validate a loaded DMN tree (DMN 1.1 or 1.3) against SpiffWorkflow's XSDs."""
    namespace = dmn_namespace(root)
    if namespace is None:
        raise _refuse(
            filename,
            "不是受支持的 DMN 文档（须为 DMN 1.1 或 1.3 的 definitions 根元素）",
            "not a supported DMN document (the root must be DMN 1.1 or DMN 1.3 definitions)",
            code="dmn.not_dmn",
            line=root.sourceline,
        )
    _validate(_dmn_schema(DMN_NAMESPACES[namespace]), root, filename, "DMN")
