"""The CLI's shape and its error boundary, without AWS or the local stack.

Wrong input must be refused before anything is looked up: these tests run with an empty
PAYCLI_HOME (no local stack), so a command that reached for the stack would exit 5, not 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from paycli.cli.app import app
from paycli.core.errors import ExitCode

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No config file, no local stack, no AWS profile from the developer's machine."""
    monkeypatch.setenv("PAYCLI_HOME", str(tmp_path))
    for name in ("PAYCLI_TARGET", "AWS_PROFILE", "AWS_REGION", "PAYCLI_STACK_NAME"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


#: The nouns of this part of the CLI (`local` and `validate` are tested with the local stack).
OPERATOR_NOUNS = {"deploy", "destroy", "status", "pay", "logs", "demo"} | {
    "accounts", "payments", "executions", "dlq"
}  # fmt: skip


def _commands(group: typer.core.TyperGroup, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every group and leaf command under `group`, as argument paths."""
    found: list[tuple[str, ...]] = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        found.append(path)
        if isinstance(command, typer.core.TyperGroup):
            found.extend(_commands(command, path))
    return found


ALL_COMMANDS = [p for p in _commands(typer.main.get_group(app)) if p[0] in OPERATOR_NOUNS]


def test_importing_the_cli_loads_no_aws_sdk_no_moto_no_rich() -> None:
    """`paycli --help` stays fast: boto3, botocore, moto and rich load only inside commands."""
    code = (
        "import sys, paycli.cli.app; "
        "print([m for m in ('boto3', 'botocore', 'moto', 'rich.console') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["dlq", "--help"],
        ["pay", "--help"],
        ["pay", "card", "--help"],
        ["dlq", "redrive", "--help"],
    ],
)
def test_help_loads_neither_boto3_nor_pydantic(args: list[str]) -> None:
    """Help stays fast (benchmarks/cli_startup.py times it against `sam logs --help`): no AWS
    SDK, no moto, no rich, no second click beside the one typer 0.29 vendors (cli/app.py's
    _click_flow), and typer's pydantic coercion is skipped for flags and the global string
    options (see cli._common.PlainGroup)."""
    code = (
        "import sys\n"
        f"sys.argv = ['paycli', *{args!r}]\n"
        "from paycli.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print([m for m in ('boto3', 'botocore', 'moto', 'pydantic', 'rich.console', 'click') "
        "if m in sys.modules], "
        "file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Usage: paycli" in proc.stdout
    assert proc.stderr.strip() == "[]"


def test_global_options_still_reach_the_settings(tmp_path: Path) -> None:
    """--target/--region/--stack-name given at the root land in the context, unvalidated by
    pydantic but checked by paycli (an unknown target is refused)."""
    from paycli.core.context import AppContext  # noqa: PLC0415

    seen: list[AppContext] = []
    probe = typer.Typer()

    @probe.command()
    def show(ctx: typer.Context) -> None:
        seen.append(ctx.find_root().obj)

    app.add_typer(probe, name="probe-settings")
    try:
        args = [
            "--target",
            "aws",
            "--region",
            "eu-west-3",
            "--stack-name",
            "s1",
            "probe-settings",
            "show",
        ]
        result = runner.invoke(app, args)
    finally:
        app.registered_groups.pop()
    assert result.exit_code == 0, result.output
    settings = seen[0].settings
    assert (settings.target, settings.region, settings.stack_name) == ("aws", "eu-west-3", "s1")


def test_the_operator_commands_all_exist() -> None:
    """Issue 4's command list (local/validate belong to the local-stack part)."""
    expected = {
        ("deploy",), ("destroy",), ("status",), ("pay",), ("logs",), ("demo",),
        ("accounts", "create"), ("accounts", "get"), ("accounts", "list"),
        ("payments", "get"), ("payments", "list"),
        ("executions", "list"), ("executions", "show"), ("executions", "watch"),
        ("executions", "redrive"),
        ("dlq", "stats"), ("dlq", "peek"), ("dlq", "redrive"), ("dlq", "purge"),
    }  # fmt: skip
    assert expected <= set(ALL_COMMANDS)


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=" ".join)
def test_every_command_help_has_an_example(path: tuple[str, ...]) -> None:
    """Each --help shows how to call it."""
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.stdout


def test_version() -> None:
    """--version prints the package version and exits 0."""
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("paycli ")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["pay", "card", "--amount", "-5", "--account", "a"], "not a plain decimal"),
        (["pay", "card", "--amount", "1.234", "--account", "a"], "decimal"),
        (["pay", "card", "--amount", "0", "--account", "a"], "positive"),
        (["pay", "card", "--amount", "5", "--currency", "XXX", "--account", "a"], "currency"),
        (["payments", "list", "--since", "yesterday"], "--since"),
        (["--target", "moon", "status"], "moon"),
    ],
)
def test_wrong_input_is_a_usage_error_before_any_lookup(args: list[str], needle: str) -> None:
    """Exit 2 with one `Error:` line on stderr, nothing on stdout, no traceback."""
    result = runner.invoke(app, args)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.startswith("Error: ")
    assert needle in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_unknown_payment_method_is_refused_by_the_parser() -> None:
    """`pay bitcoin` never reaches the service: Typer's choice check, exit 2."""
    result = runner.invoke(app, ["pay", "bitcoin", "--amount", "5", "--account", "a"])
    assert result.exit_code == 2
    assert "bitcoin" in result.output


def test_local_stack_not_running_says_so_with_the_fix() -> None:
    """No daemon in PAYCLI_HOME: exit 5, the reason, and the command that fixes it."""
    result = runner.invoke(app, ["dlq", "stats", "--json"])
    assert result.exit_code == ExitCode.ENVIRONMENT, result.output
    assert "Error: the local stack is not running" in result.stderr
    assert "Hint: run `paycli deploy`" in result.stderr
    assert result.stdout == ""


def test_debug_shows_the_exception_instead_of_one_line() -> None:
    """--debug re-raises: the developer sees where it came from."""
    result = runner.invoke(app, ["--debug", "dlq", "stats"])
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "ConfigError"


def test_json_error_output_keeps_stdout_parseable() -> None:
    """With --json and an error, stdout is empty (never half a document)."""
    result = runner.invoke(app, ["accounts", "list", "--json"])
    assert result.exit_code != 0
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout or "")


def test_main_prints_one_line_and_exits_with_the_code(tmp_path: Path) -> None:
    """The console script itself: `Error:` + `Hint:` on stderr and exit code 5."""
    proc = subprocess.run(
        [sys.executable, "-m", "paycli", "status"],
        capture_output=True,
        text=True,
        env={"PAYCLI_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == ExitCode.ENVIRONMENT
    assert proc.stderr.splitlines()[0] == "Error: the local stack is not running"
    assert proc.stdout == ""
