"""Ctrl-C in a long command: `stoppable` turns the first SIGINT into a stop request the work
sees (it winds down and its result still comes back), a second one into KeyboardInterrupt for
the caller to say what was done; and the root's error boundary prints one line, exit 130."""

from __future__ import annotations

import os
import signal
import threading

import pytest
import typer
from typer.testing import CliRunner

from paycli.cli._common import stoppable
from paycli.cli.app import PaycliGroup, report_error
from paycli.core.errors import ExitCode, StoppedByUserError


def _ctrl_c() -> None:
    """SIGINT to this process: Python raises KeyboardInterrupt in the main thread (which
    `stoppable` has been waiting in since before the work began)."""
    os.kill(os.getpid(), signal.SIGINT)


def test_the_first_ctrl_c_asks_the_work_to_stop_and_still_returns_its_result() -> None:
    """The work runs on; it sees `stop` set, returns what it did, and the caller learns that
    Ctrl-C stopped it (it used to be a silent exit 130 with nothing printed)."""
    notes: list[str] = []

    def work(stop: threading.Event) -> int:
        _ctrl_c()
        assert stop.wait(10), "the first Ctrl-C did not set stop"
        return 7

    assert stoppable(work, lambda: notes.append("stopping")) == (7, True)
    assert notes == ["stopping"]


def test_a_second_ctrl_c_raises_for_the_caller() -> None:
    """Work that does not end on `stop`: the second Ctrl-C is the caller's, at once."""
    release = threading.Event()

    def work(stop: threading.Event) -> int:
        _ctrl_c()
        assert stop.wait(10), "the first Ctrl-C did not set stop"
        _ctrl_c()
        assert release.wait(10), "the test never released the work"
        return 0

    caught: BaseException | None = None
    try:
        stoppable(work, lambda: None)
    except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt is what is expected
        caught = exc
    finally:
        release.set()
    assert isinstance(caught, KeyboardInterrupt)


def test_without_ctrl_c_the_result_and_errors_come_back_as_they_are() -> None:
    assert stoppable(lambda _stop: "done", lambda: None) == ("done", False)

    def boom(_stop: threading.Event) -> None:
        raise StoppedByUserError("never")

    with pytest.raises(StoppedByUserError):
        stoppable(boom, lambda: None)


def test_an_interruption_is_one_line_that_is_not_called_an_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report_error(StoppedByUserError("sent 3 of 9 payments"))
    assert capsys.readouterr().err == "Interrupted: sent 3 of 9 payments\n"
    assert StoppedByUserError.exit_code == ExitCode.INTERRUPTED == 130


def test_ctrl_c_in_any_command_is_one_line_and_exit_130() -> None:
    """The root group's boundary (PaycliGroup) around a command that has nothing of its own
    to say: one line on stderr, exit 130 (typer alone exited 130 without a word)."""
    app = typer.Typer(cls=PaycliGroup)

    @app.command()
    def slow() -> None:
        raise KeyboardInterrupt

    @app.command()
    def other() -> None:  # two commands: a group, as paycli's root is
        """Unused."""

    result = CliRunner().invoke(app, ["slow"])
    assert result.exit_code == 130
    assert result.stderr == "Interrupted: stopped by Ctrl-C before it finished\n"
    assert result.stdout == ""
