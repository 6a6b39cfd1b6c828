"""Hardened XML loading: every hostile or broken document becomes a DiagramError with file and line."""

from __future__ import annotations

import re

import pytest

from orchestrator.engine import xml_safety
from orchestrator.engine.xml_safety import load_xml, validate_bpmn_schema, validate_dmn_schema
from orchestrator.errors import DiagramError

PYTHON_NAMES = re.compile(r"(Error|Exception|Traceback)\b")

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol3;</bpmn:definitions>
"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE definitions [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">
  <bpmn:documentation>&secret;</bpmn:documentation>
</bpmn:definitions>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE definitions SYSTEM "http://127.0.0.1:9/evil.dtd">
<definitions/>
"""

MINIMAL_BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"/></bpmn:process>
</bpmn:definitions>
"""


def refused(data: bytes, filename: str = "hostile.bpmn") -> DiagramError:
    with pytest.raises(DiagramError) as info:
        load_xml(data, filename)
    error = info.value
    assert error.filename == filename
    assert error.line is not None or error.code == "xml.too_large"
    for message in (error.message_zh, error.message_en, str(error)):
        assert not PYTHON_NAMES.search(message), message
    assert re.search(r"[\u4e00-\u9fff]", error.message_zh)
    return error


def test_billion_laughs_refused_before_expansion() -> None:
    error = refused(BILLION_LAUGHS)
    assert error.code == "xml.doctype_forbidden"
    assert error.line == 2


def test_xxe_never_reads_local_files() -> None:
    error = refused(XXE)
    assert error.code == "xml.doctype_forbidden"
    with open("/etc/passwd", encoding="utf-8", errors="replace") as handle:
        first_line = handle.readline().strip()
    for text in (error.message_zh, error.message_en, repr(error.to_problem())):
        assert "root:" not in text
        assert first_line not in text


def test_xxe_in_utf16_is_refused_too() -> None:
    error = refused(XXE.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16"))
    assert error.code == "xml.doctype_forbidden"


def test_external_dtd_refused_without_network() -> None:
    assert refused(EXTERNAL_DTD).code == "xml.doctype_forbidden"


def test_oversize_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xml_safety, "MAX_BYTES", 1024)
    error = refused(MINIMAL_BPMN + b" " * 2048)
    assert error.code == "xml.too_large"


def test_too_deep_refused() -> None:
    error = refused(b"<a>" * (xml_safety.MAX_DEPTH + 5) + b"</a>" * (xml_safety.MAX_DEPTH + 5))
    assert error.code == "xml.too_deep"


def test_far_too_deep_stops_inside_libxml() -> None:
    assert refused(b"<a>" * 5000 + b"</a>" * 5000).code == "xml.malformed"


def test_too_many_elements_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xml_safety, "MAX_ELEMENTS", 10)
    error = refused(b"<a>" + b"<b/>" * 20 + b"</a>")
    assert error.code == "xml.too_many_elements"


def test_not_well_formed_names_the_line() -> None:
    error = refused(b'<?xml version="1.0"?>\n<a>\n  <b>\n</a>\n')
    assert error.code == "xml.malformed"
    assert error.line == 4


def test_wrong_encoding_declaration_refused() -> None:
    error = refused('<?xml version="1.0" encoding="UTF-8"?>\n<a>\xe4\xb8\xad</a>'.encode("latin-1") + b"\xff\xfe")
    assert error.code == "xml.malformed"
    assert error.line == 2
    error = refused(b'<?xml version="1.0" encoding="UTF-16"?>\n<a/>')
    assert error.code == "xml.malformed"


def test_unknown_encoding_refused() -> None:
    assert refused(b'<?xml version="1.0" encoding="klingon-8"?>\n<a/>').code == "xml.malformed"


def test_empty_document_refused() -> None:
    with pytest.raises(DiagramError):
        load_xml(b"  ", "empty.bpmn")


def test_clean_document_loads_and_validates() -> None:
    root = load_xml(MINIMAL_BPMN, "ok.bpmn")
    assert root.tag.endswith("definitions")
    validate_bpmn_schema(root, "ok.bpmn")


def test_schema_violation_names_element_and_line() -> None:
    data = MINIMAL_BPMN.replace(b'<bpmn:startEvent id="s"/>', b'<bpmn:startEvent id="s"/>\n<bpmn:bogus id="x"/>')
    root = load_xml(data, "bad.bpmn")
    with pytest.raises(DiagramError) as info:
        validate_bpmn_schema(root, "bad.bpmn")
    assert info.value.code == "bpmn.schema"
    assert info.value.line == 4
    assert info.value.element_id == "x"
    assert "bpmn:bogus" in info.value.message_en


def test_non_bpmn_root_refused() -> None:
    root = load_xml(b"<html/>", "page.bpmn")
    with pytest.raises(DiagramError) as info:
        validate_bpmn_schema(root, "page.bpmn")
    assert info.value.code == "bpmn.not_bpmn"


def test_dmn_12_refused_with_clear_message() -> None:
    root = load_xml(
        b'<definitions xmlns="http://www.omg.org/spec/DMN/20180521/MODEL/" id="d" name="d" namespace="x"/>', "t.dmn"
    )
    with pytest.raises(DiagramError) as info:
        validate_dmn_schema(root, "t.dmn")
    assert info.value.code == "dmn.not_dmn"


def test_schema_loader_reads_only_local_files() -> None:
    resolver = xml_safety._LocalSchemaResolver(xml_safety._spiff_dir() / "bpmn" / "parser" / "schema")

    class Context:
        pass

    seen: list[str] = []
    resolver.resolve_string = lambda text, context: seen.append("refused")
    resolver.resolve("file:///etc/passwd", "", Context())
    resolver.resolve("http://example.invalid/Semantic.xsd.evil", "", Context())
    assert seen == ["refused", "refused"]
