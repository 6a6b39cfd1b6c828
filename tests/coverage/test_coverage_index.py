"""The coverage page stays true: every diagram runs in a test, every cited test and refusal exists."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import COVERAGE_DIR, ROOT

HERE = Path(__file__).resolve().parent
PAGE = (ROOT / "README.md").read_text(encoding="utf-8")  # the coverage table lives in the README
SOURCES = {path.stem.removeprefix("test_"): path.read_text(encoding="utf-8") for path in HERE.glob("test_*.py")}
UNIT = (ROOT / "tests" / "unit" / "test_parsing.py").read_text(encoding="utf-8")


def test_every_coverage_diagram_runs_in_a_coverage_test() -> None:
    code = "".join(SOURCES.values())
    unused = [path.stem for path in sorted(COVERAGE_DIR.glob("*.bpmn")) if f'"{path.stem}"' not in code]
    assert unused == []


def test_every_test_the_coverage_page_cites_exists() -> None:
    cited = re.findall(r"`(\w+)::(test_\w+)`", PAGE)
    assert len(cited) > 40
    missing = [f"{module}::{name}" for module, name in cited
               if f"def {name}(" not in SOURCES.get(module, "")]
    unit = re.findall(r"`tests/unit/test_parsing\.py::(test_\w+)`", PAGE)
    missing += [name for name in unit if f"def {name}(" not in UNIT]
    assert missing == []


def test_every_refusal_the_coverage_page_cites_has_its_diagram() -> None:
    cited = set(re.findall(r"`(refused_\w+)`", PAGE))
    on_disk = {path.stem for path in (ROOT / "tests" / "bpmn" / "parsing").glob("refused_*.bpmn")}
    assert cited and cited <= on_disk
