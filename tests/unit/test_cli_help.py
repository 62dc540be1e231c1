"""--help speaks the real shapes: payment ids as the API mints them, arguments as METAVARS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from paycli.cli.app import app

README = Path(__file__).resolve().parents[2] / "README.md"


def _leaves(group: typer.core.TyperGroup, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, typer.core.TyperGroup):
            found += _leaves(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


COMMANDS = _leaves(typer.main.get_group(app))


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "paycli")
def test_help_examples_use_real_payment_ids_and_upper_case_arguments(
    path: tuple[str, ...],
) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for token in re.findall(r"pay_\w+", result.stdout):
        assert re.fullmatch(r"pay_[0-9a-f]{32}", token), token
    usage = result.stdout.splitlines()[0]
    assert not re.search(r"[{\[][a-z_]+[}\]]", usage), usage


def test_readme_examples_use_real_payment_ids() -> None:
    for token in re.findall(r"pay_\w+", README.read_text(encoding="utf-8")):
        assert re.fullmatch(r"pay_[0-9a-f]{32}", token), token


def test_dlq_peek_says_that_looking_counts_as_a_receive() -> None:
    result = CliRunner().invoke(app, ["dlq", "peek", "--help"], terminal_width=200)
    assert "raises the messages' receive count" in result.stdout
