"""Third-party BPMN files (../shared/conformance): each one deploys or is refused cleanly.

Every file is compiled once, alone, as its own deployment (module-level cache), so the whole module
runs in a few seconds. A refusal must name the file, point at an element or a line, and carry no
Python exception name; nothing may raise anything but DiagramError. A hang is caught by pytest-timeout
(the per-test limit of pyproject.toml), not by asserting on measured times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from orchestrator.engine.parsing import CompiledProcess, compile_deployment
from orchestrator.errors import DiagramError

_BESIDE_REPO = Path(__file__).resolve().parents[1].parent / "shared" / "conformance"
CONFORMANCE = _BESIDE_REPO if _BESIDE_REPO.is_dir() else Path("/work/shared/conformance")
SUFFIXES = (".bpmn", ".bpmn20.xml", ".xml")
PYTHON_NAMES = re.compile(
    r"\b(?:TypeError|KeyError|AttributeError|ValueError|IndexError|AssertionError|NameError|"
    r"RuntimeError|NotImplementedError|ValidationException|WorkflowException|XMLSyntaxError|"
    r"LxmlError|Exception|Traceback)\b"
)

# The camunda-bpm-examples models that use only what Lianban supports (user tasks, external tasks,
# gateways, message start events, sub-processes, boundary error events ...). Everything else there
# uses Java delegates, connectors, listeners, JavaScript or tenants and is refused by name.
CAMUNDA_SUPPORTED = {
    "migration/migrate-on-deployment/src/main/resources/exampleProcess.bpmn",
    "multi-tenancy/schema-isolation/src/main/resources/processes/tenant1/tenant1_process.bpmn",
    "multi-tenancy/tenant-identifier-shared-definitions/src/main/resources/processes/default/subProcess.bpmn",
    "multi-tenancy/tenant-identifier-shared-definitions/src/main/resources/processes/tenant2/subProcess.bpmn",
    "process-engine-plugin/bpmn-parse-listener/src/main/resources/bpmnParseListenerOnUserTask.bpmn",
    "process-engine-plugin/handling-jpa-variables/src/test/resources/process.bpmn",
    "spring-boot-starter/example-webapp-ee/src/main/resources/bpmn/sample.bpmn",
    "startevent/message-start/src/main/resources/message_start_process.bpmn",
    "testing/junit5/camunda-bpm-junit-assert/src/test/resources/testProcess.bpmn",
    "testing/junit5/camunda-bpm-junit-use-engine/src/test/resources/testProcess.bpmn",
    "usertask/task-camunda-forms/src/main/resources/invoiceApproval.bpmn",
    "usertask/task-form-embedded/src/main/resources/loanApproval.bpmn",
    "usertask/task-form-embedded-bpmn-events/src/main/resources/invoicePayment.bpmn",
    "usertask/task-form-embedded-react/src/main/resources/react-example.bpmn",
    "wildfly/jackson-annotations/src/main/resources/waitingState.bpmn",
}


def _files() -> list[Path]:
    if not CONFORMANCE.is_dir():
        return []
    return sorted(p for p in CONFORMANCE.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES))


FILES = _files()


@dataclass(frozen=True)
class Outcome:
    processes: tuple[CompiledProcess, ...]
    error: DiagramError | None
    unexpected: str | None


@cache
def outcome(path: Path) -> Outcome:
    try:
        return Outcome(tuple(compile_deployment({path.name: path.read_bytes()})), None, None)
    except DiagramError as error:
        return Outcome((), error, None)
    except Exception as error:  # noqa: BLE001 - recorded and reported as the failure it is
        return Outcome((), None, f"{type(error).__name__}: {error}")


def _id(path: Path) -> str:
    return str(path.relative_to(CONFORMANCE))


pytestmark = pytest.mark.skipif(not FILES, reason="shared/conformance is not present")


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_file_compiles_or_is_refused_cleanly(path: Path) -> None:
    result = outcome(path)
    assert result.unexpected is None, result.unexpected
    if result.error is None:
        assert result.processes, "compiled without any process"
        return
    error = result.error
    assert error.filename == path.name
    for text in (error.message_zh, error.message_en, str(error)):
        assert not PYTHON_NAMES.search(text), text
        assert "Traceback" not in text and 'File "' not in text
    assert re.search(r"[\u4e00-\u9fff]", error.message_zh), error.message_zh
    if error.code != "xml.too_large":
        assert error.element_id is not None or error.line is not None, error.message_en
    problem = error.to_problem()
    assert problem["status"] == 400 and problem["filename"] == path.name


def test_supported_camunda_examples_compile() -> None:
    root = CONFORMANCE / "camunda-bpm-examples"
    examples = {str(p.relative_to(root)): outcome(p) for p in FILES if p.is_relative_to(root)}
    compiled = {name for name, result in examples.items() if result.processes}
    assert compiled == CAMUNDA_SUPPORTED
    for name, result in examples.items():
        if name not in CAMUNDA_SUPPORTED:
            assert result.error is not None and result.error.code.startswith("bpmn."), name


def test_camunda_attributes_of_examples_are_honoured() -> None:
    root = CONFORMANCE / "camunda-bpm-examples" / "usertask" / "task-camunda-forms" / "src" / "main" / "resources"
    [process] = outcome(root / "invoiceApproval.bpmn").processes
    task = process.spec.task_specs["UserTask_1"]
    assert task.extensions["assignee"] == "demo"
    assert task.extensions["formKey"] == "camunda-forms:app:task-form.form"


def test_nothing_in_the_whole_suite_crashes() -> None:
    results = [outcome(p) for p in FILES]
    assert not [r.unexpected for r in results if r.unexpected]
    assert sum(1 for r in results if r.processes) >= len(CAMUNDA_SUPPORTED)
