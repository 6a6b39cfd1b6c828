"""Small helpers over parsed BPMN XML shared by the dialect check and the SpiffWorkflow parser."""

from __future__ import annotations

import re
from typing import Any

from orchestrator.engine.xml_safety import BPMN_NS
from orchestrator.errors import DiagramError

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}
CAMUNDA = "{" + CAMUNDA_NS + "}"
BPMN = "{" + BPMN_NS + "}"

PYTHON_LANGUAGES = {"", "python", "py", "python3", "text/x-python", "application/x-python"}
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
WRAPPED_IDENTIFIER = re.compile(r"^\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}$")

_PYTHON_NAMES = re.compile(r"\b(?:[A-Z]\w*(?:Error|Exception|Warning)|Traceback)\b")
_REPR_CALL = re.compile(r"^\s*[A-Z]\w*(?:Error|Exception)\((.*)\)\s*\.?\s*$", re.S)


def scrub(text: str) -> str:
    """Keep what a person can act on; drop Python exception reprs, class names and XML dumps."""
    text = text.strip().rstrip(". ").strip()
    match = _REPR_CALL.match(text)
    if match:
        text = match.group(1).strip("'\" ")
    text = re.sub(r"b'<.*", "", text, flags=re.S)
    text = _PYTHON_NAMES.sub("", text)
    return re.sub(r"\s+", " ", text).strip(" :,.") or "the element cannot be parsed"


def local_name(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def namespace_of(tag: Any) -> str:
    return tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""


def nearest_id(element: Any) -> str | None:
    while element is not None:
        if element.get("id"):
            return str(element.get("id"))
        element = element.getparent()
    return None


def refusal(filename: str, element: Any, zh: str, en: str, code: str = "bpmn.unsupported") -> DiagramError:
    """A DiagramError naming the file, the nearest element id and the line."""
    element_id = nearest_id(element)
    line = element.sourceline if element is not None else None
    label = element_id or local_name(element.tag)
    return DiagramError(
        f"{zh}（文件 {filename}，元素 {label}，第 {line} 行）",
        f"{en} (file {filename}, element {label}, line {line})",
        code=code,
        filename=filename,
        element_id=element_id,
        line=line,
    )


def document_child(node: Any, tag: str, ref: str | None) -> Any:
    """The definitions-level ``tag`` element whose id is ``ref`` (a QName: ``tns:Message_1`` works)."""
    root = node.getroottree().getroot()
    if ref and ":" in ref:
        prefix, local_id = ref.split(":", 1)
        if node.nsmap.get(prefix) == root.get("targetNamespace"):
            ref = local_id
    return next((c for c in root.iterchildren(f"{BPMN}{tag}") if c.get("id") == ref), None)


def is_event_subprocess(node: Any) -> bool:
    return node is not None and local_name(node.tag) == "subProcess" and node.get("triggeredByEvent") == "true"


def event_definitions(node: Any) -> list[Any]:
    """The BPMN ``*EventDefinition`` children of an event element."""
    return [
        c for c in node if namespace_of(c.tag) == BPMN_NS and local_name(c.tag).endswith("EventDefinition")
    ]
