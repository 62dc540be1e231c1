"""README.md's command reference lists exactly the real commands, and each example parses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from paycli.cli.app import app

REFERENCE = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `paycli ([a-z -]+)` \| `(paycli [^`]+)` \|$", re.MULTILINE)


def _real_commands(group: typer.core.TyperGroup, prefix: str = "") -> set[str]:
    found: set[str] = set()
    for name, command in group.commands.items():
        if isinstance(command, typer.core.TyperGroup):
            found |= _real_commands(command, f"{prefix}{name} ")
        else:
            found.add(f"{prefix}{name}")
    return found


ROWS = ROW.findall(REFERENCE.read_text(encoding="utf-8"))


def test_reference_lists_every_command_once_and_nothing_else() -> None:
    documented = [command for command, _example in ROWS]
    assert len(documented) == len(set(documented))
    assert set(documented) == _real_commands(typer.main.get_group(app))


@pytest.mark.parametrize(("command", "example"), ROWS, ids=[c for c, _ in ROWS])
def test_each_example_calls_its_command_with_real_options(command: str, example: str) -> None:
    """The example parses: its options exist (click rejects unknown ones before --help)."""
    args = shlex.split(example.split(" \\|", maxsplit=1)[0])[1:]
    assert " ".join(args).startswith(command)
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
