"""`python -m orchestrator check`: an analyst compiles a folder of diagrams without deploying them."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from tests.conftest import COVERAGE_DIR


def test_check_reports_each_file_and_a_tally(app: Flask, tmp_path: Path) -> None:
    (tmp_path / "good.bpmn").write_bytes((COVERAGE_DIR / "boundary_error.bpmn").read_bytes())
    (tmp_path / "broken.bpmn").write_text("<definitions><process", encoding="utf-8")
    (tmp_path / "notes.xml").write_text("<notes/>", encoding="utf-8")
    (tmp_path / "readme.txt").write_text("not a diagram", encoding="utf-8")

    result = app.test_cli_runner().invoke(args=["lianban", "check", str(tmp_path)])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("可部署 (deployable)") and "good.bpmn" in line for line in lines)
    assert any("broken.bpmn" in line and "[xml.malformed]" in line for line in lines)
    assert any("notes.xml" in line and "[bpmn.not_bpmn]" in line for line in lines)
    assert not any("readme.txt" in line for line in lines)
    assert "3 files: 1 deployable, 2 refused, 0 crashed" in result.output


def test_check_quiet_prints_only_the_tally(app: Flask, tmp_path: Path) -> None:
    (tmp_path / "broken.bpmn").write_text("<definitions", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["lianban", "check", "--quiet", str(tmp_path)])
    assert result.exit_code == 0
    assert result.output.splitlines()[0].startswith("共 1 个文件")
    assert "xml.malformed" in result.output
