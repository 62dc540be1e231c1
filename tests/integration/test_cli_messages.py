"""Messages that point the right way: the real cause, once, before anything is claimed."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws
from typer.testing import CliRunner

from paycli.cli.app import app
from paycli.core.errors import ConfigError, ExitCode
from paycli.local import control
from paycli.local import state as st


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PAYCLI_HOME", str(tmp_path))
    for name in ("AWS_PROFILE", "AWS_REGION", "PAYCLI_TARGET"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_local_up_on_a_taken_port_is_one_line_naming_the_port_and_the_log(
    home: Path, taken_port: int
) -> None:
    """Before: the cause was buried under earlier runs' moto dumps in a 15-line log tail."""
    log = st.local_dir() / st.LOG_FILE
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("2026-01-01 ERROR old run: " + "x" * 4000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        control.up(port=taken_port)
    assert caught.value.message == (
        f"port {taken_port} on 127.0.0.1 is not available (Address already in use)"
    )
    assert "\n" not in caught.value.message
    assert str(log) in (caught.value.hint or "")
    assert st.read_state() is None  # nothing was started


def test_a_failed_start_reports_this_runs_cause_not_the_log_tail(home: Path) -> None:
    log = st.local_dir() / st.LOG_FILE
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("old: " + "x" * 4000 + "\nValueError: an old run's trouble\n", encoding="utf-8")
    start = log.stat().st_size
    with log.open("a", encoding="utf-8") as out:
        out.write("Traceback (most recent call last):\n  File x\nRuntimeError: the real cause\n")
    with pytest.raises(ConfigError) as caught:
        control._fail_start("the local stack exited during start-up (code 1)", log, start)
    assert caught.value.message == (
        "the local stack exited during start-up (code 1): the real cause"
    )


def test_deploy_to_aws_names_what_is_missing_before_saying_it_deploys(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(home / "empty"))  # no `sam`
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        result = CliRunner().invoke(
            app, ["deploy", "--target", "aws", "--region", "eu-west-1", "--yes"]
        )
    assert result.exit_code == ExitCode.ENVIRONMENT, result.output
    assert "Deploying" not in result.output
    assert "sam" in result.stderr


def test_deploy_to_aws_without_yes_and_no_terminal_refuses_at_once(home: Path) -> None:
    result = CliRunner().invoke(app, ["deploy", "--target", "aws", "--region", "eu-west-1"])
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "Hint: pass --yes" in result.stderr


@pytest.mark.parametrize("region", ["eu-west1", "EU-WEST-1", "nowhere"])
def test_a_mistyped_region_is_named_not_blamed_on_the_network(
    home: Path, monkeypatch: pytest.MonkeyPatch, region: str
) -> None:
    """Before: `--region eu-west1` tried https://cloudformation.eu-west1.amazonaws.com/ and said
    "cannot reach ...; for AWS check the network" (exit 5). Now: one usage line (exit 2), no
    call made (botocore's partitions know every region's shape, new regions included)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        result = CliRunner().invoke(app, ["--target", "aws", "--region", region, "status"])
        good = CliRunner().invoke(app, ["--target", "aws", "--region", "ap-southeast-7", "status"])
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.splitlines()[0] == f"Error: {region!r} is not an AWS region"
    assert result.stdout == ""
    assert good.exit_code == ExitCode.ENVIRONMENT, good.output  # a real region: no stack there
    assert "is not an AWS region" not in good.stderr
