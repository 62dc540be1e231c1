"""`paycli validate` as users and CI run it: exit codes, JSON on stdout, errors on stderr."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paycli.cli.app import app

STACK = Path(__file__).resolve().parents[2] / "stack"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A runner whose paycli config lives in tmp_path: the user's own config cannot leak in."""
    monkeypatch.setenv("PAYCLI_HOME", str(tmp_path / "home"))
    return CliRunner()


def test_the_bundled_stack_validates_with_exit_0(runner: CliRunner) -> None:
    """Without --stack-dir the command finds the stack paycli ships (here: the repo's)."""
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 0, result.output
    assert "OK: 0 error(s), 0 warning(s)" in result.stdout
    assert str(STACK) in result.stdout


def test_a_broken_stack_exits_1_and_lists_the_findings_as_json(
    runner: CliRunner, tmp_path: Path
) -> None:
    """A wrong-case CodeUri fails validation: stdout is pure JSON naming each function."""
    broken = tmp_path / "stack"
    shutil.copytree(STACK, broken, ignore=shutil.ignore_patterns("__pycache__"))
    template = broken / "template.yaml"
    template.write_text(template.read_text().replace("CodeUri: src/", "CodeUri: SRC/"))

    result = runner.invoke(app, ["validate", "--stack-dir", str(broken), "--json"])

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["stack_dir"] == str(broken)
    assert report["errors"] == 4  # one per function (Globals' CodeUri)
    assert {f["code"] for f in report["findings"]} == {"path-case"}
    assert {f["severity"] for f in report["findings"]} == {"error"}
    assert set(report["findings"][0]) == {"source", "severity", "code", "message", "location"}


def test_a_directory_without_template_is_a_not_found_error(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["validate", "--stack-dir", str(tmp_path)])
    assert result.exit_code == 3
    assert "Error: no template.yaml in" in result.stderr
    assert "--stack-dir" in result.stderr
    assert result.stdout == ""


def test_an_unknown_region_is_one_usage_line_not_a_cfn_lint_crash_finding(
    runner: CliRunner,
) -> None:
    """Before: `validate --region bogus` listed a "cfn-lint-crash" finding quoting cfn-lint's
    InvalidRegionException and its ~40 regions (exit 1)."""
    result = runner.invoke(app, ["validate", "--region", "bogus", "--json"])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[0] == "Error: 'bogus' is not a region cfn-lint knows"
    assert result.stdout == ""


def test_help_shows_an_example(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate", "--help"])
    assert result.exit_code == 0
    assert "Example: paycli validate --json" in result.stdout


def test_importing_the_cli_does_not_load_the_validators() -> None:
    """cfn-lint, samtranslator and moto's parser cost ~2 s: only `paycli validate` loads them."""
    heavy = ("cfnlint", "samtranslator", "moto", "paycli.lint.validate")
    code = (
        "import sys, paycli.cli.app, paycli.cli.validate\n"
        f"print([m for m in sys.modules if m.split('.')[0] in {heavy!r} or m in {heavy!r}])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
