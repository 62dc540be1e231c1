"""The `paycli local ...` commands that need no daemon, through Typer's CliRunner with an
injected, frozen AppContext on the local target and a PAYCLI_HOME of their own (nothing runs in
it): status and down say nothing runs, doctor passes or names what fails, the fault commands and
the stack's readers refuse with one line and exit 5, export-fis writes the FIS template. Each
test asserts the exit code and the JSON on stdout, or the one error line on stderr."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from paycli.cli.app import app
from paycli.core.context import AppContext
from paycli.core.settings import Settings

NOT_RUNNING = "Error: the local stack is not running"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty PAYCLI_HOME: no state.json, so no local stack runs for these commands."""
    home = tmp_path / "home"
    monkeypatch.setenv("PAYCLI_HOME", str(home))
    return home


def run(*args: str) -> Result:
    """`paycli ARGS` with a frozen context on the local target (what the root would build)."""
    context = AppContext(Settings(target="local"))
    return CliRunner().invoke(app, list(args), obj=context)


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield int(listener.getsockname()[1])


def test_local_status_says_nothing_runs(home: Path) -> None:
    result = run("local", "status", "--json")
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert view["running"] is False
    assert view["deployed"] is False
    assert view["pid"] is None


def test_local_down_with_nothing_running_stops_nothing(home: Path) -> None:
    result = run("local", "down", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"stopped": False}


def test_local_doctor_passes_with_a_free_state_dir(home: Path) -> None:
    """Every check passes here (the installed moto, botocore and typer are the verified ones)."""
    result = run("local", "doctor", "--json")
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert view["ok"] is True
    names = [check["name"] for check in view["checks"]]
    assert any(name.startswith("patch ") for name in names)
    assert all(check["ok"] for check in view["checks"])


def test_local_doctor_names_a_taken_port_and_exits_1(home: Path, taken_port: int) -> None:
    result = run("local", "doctor", "--port", str(taken_port), "--json")
    assert result.exit_code == 1, result.output
    view = json.loads(result.stdout)
    failed = [check for check in view["checks"] if not check["ok"]]
    assert len(failed) == 1
    assert str(taken_port) in failed[0]["name"] + failed[0]["detail"]
    assert view["ok"] is False


@pytest.mark.parametrize(
    "args",
    [
        ("local", "faults", "show", "--json"),
        ("local", "faults", "clear", "--json"),
        ("local", "faults", "set", "all", "--json"),
        ("logs", "--json"),
        ("status", "--json"),
    ],
)
def test_commands_that_need_the_stack_refuse_in_one_line(home: Path, args: tuple[str, ...]) -> None:
    """No traceback and no data: exit 5 (environment), one error line, a hint that names
    what starts it."""
    result = run(*args)
    assert result.exit_code == 5, result.output
    assert result.stdout == ""
    assert error_lines(result) == [NOT_RUNNING]
    assert "`paycli deploy`" in result.stderr  # the hint: what starts it
    assert "Traceback" not in result.output


def test_a_bad_fault_plan_is_refused_before_the_stack_is_asked(home: Path) -> None:
    """The plan is read first: a missing file is a usage error (exit 2), not 'not running'."""
    result = run("local", "faults", "set", str(home / "no-such-plan.yaml"))
    assert result.exit_code == 2, result.output
    (line,) = error_lines(result)
    assert "no-such-plan.yaml" in line


def test_export_fis_writes_the_experiment_template(home: Path, tmp_path: Path) -> None:
    """The built-in `all` plan's Lambda faults as an FIS experiment template (no daemon)."""
    target = tmp_path / "fis.yaml"
    result = run("local", "faults", "export-fis", "all", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert f"Wrote {target}" in result.stderr
    template = yaml.safe_load(target.read_text(encoding="utf-8"))
    kinds = {resource["Type"] for resource in template["Resources"].values() if "Type" in resource}
    assert "AWS::FIS::ExperimentTemplate" in kinds
    assert run("local", "faults", "export-fis", "all").stdout == target.read_text("utf-8")


def test_export_fis_to_an_unwritable_place_is_one_error_line(home: Path, tmp_path: Path) -> None:
    result = run("local", "faults", "export-fis", "all", "--output", str(tmp_path / "no" / "f"))
    assert result.exit_code == 2, result.output
    (line,) = error_lines(result)
    assert line.startswith("Error: cannot write ")


def test_local_up_on_a_taken_port_refuses_before_starting(home: Path, taken_port: int) -> None:
    """One line naming the port (exit 5), and no daemon was started: status still says none."""
    result = run("local", "up", "--port", str(taken_port), "--json")
    assert result.exit_code == 5, result.output
    line = error_lines(result)
    assert line == [
        f"Error: port {taken_port} on 127.0.0.1 is not available (Address already in use)"
    ]
    assert result.stdout == ""
    assert json.loads(run("local", "status", "--json").stdout)["running"] is False


def test_local_up_with_a_bad_fault_plan_refuses_before_starting(home: Path) -> None:
    result = run("local", "up", "--faults", str(home / "missing.yaml"), "--json")
    assert result.exit_code == 2, result.output
    (line,) = error_lines(result)
    assert "missing.yaml" in line
    assert json.loads(run("local", "status", "--json").stdout)["running"] is False


@pytest.mark.parametrize("args", [["local", "up"], ["local", "status"], ["payments", "list"]])
def test_an_unusable_paycli_home_is_one_line_not_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """Before: PAYCLI_HOME under a file (or read-only, or on /proc) was "internal error:
    FileNotFoundError ... this is a bug in paycli". Now: the directory, why, and what to set."""
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("PAYCLI_HOME", str(blocker / "home"))
    result = run(*args)
    assert result.exit_code == 5, result.output
    (line,) = error_lines(result)
    assert line.startswith(f"Error: cannot create the local stack's directory {blocker}/home/local")
    assert "internal error" not in result.stderr
    assert "Hint: set PAYCLI_HOME to a directory you can write to" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ("deploy", "--stack-name", "other"),
        ("status", "--stack-name", "other", "--json"),
        ("--stack-name", "other", "payments", "list", "--json"),
    ],
    ids=["deploy", "status", "root"],
)
def test_another_stack_name_on_local_is_refused(home: Path, args: tuple[str, ...]) -> None:
    """`--stack-name other` on the local target used to be ignored: `deploy --stack-name other`
    deployed (and `status` read) the one `paycli-*` stack. It is refused with one line naming
    why, exit 2, before anything starts (no daemon is started in this empty PAYCLI_HOME)."""
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert error_lines(result) == [
        "Error: --stack-name 'other' does not apply to the local target: the embedded local"
        " stack holds one stack ('paycli')"
    ]
    assert not (home / "local" / "state.json").exists()


def test_the_local_stacks_own_name_is_accepted(home: Path) -> None:
    """`--stack-name paycli` names the local stack itself: the command runs as without it."""
    result = run("status", "--stack-name", "paycli")
    assert result.exit_code == 5, result.output
    assert error_lines(result) == [NOT_RUNNING]


def test_a_wedged_local_endpoint_fails_in_seconds_with_one_line(home: Path) -> None:
    """A local endpoint that accepts connections and never answers (what a SIGSTOPped or hung
    daemon looks like: the kernel still completes the handshake) used to hold `paycli status`
    for 30 s x 5 attempts (158 s measured). On the local target the clients give up after
    10 s x 2 attempts with one line naming the endpoint and what to do, exit 5."""
    from paycli.core.aws import LOCAL_CLIENT_CONFIG, AwsTarget, StackOutputs  # noqa: PLC0415

    settings = Settings(target="local")
    names = {name: f"paycli-{name}" for name in StackOutputs.__dataclass_fields__}
    with socket.socket() as wedged:
        wedged.bind(("127.0.0.1", 0))
        wedged.listen(8)  # never accepted, never answered
        endpoint = f"http://127.0.0.1:{wedged.getsockname()[1]}"
        target = AwsTarget(
            settings, outputs=StackOutputs.from_mapping(names, where="test"), endpoint=endpoint
        )
        started = time.monotonic()
        result = CliRunner().invoke(app, ["status", "--json"], obj=AppContext(settings, target))
        elapsed = time.monotonic() - started
    assert result.exit_code == 5, result.output
    assert error_lines(result) == [
        f"Error: no answer from {endpoint}/ (read timed out on every attempt)"
    ]
    assert "paycli local down" in result.stderr
    attempts = LOCAL_CLIENT_CONFIG.retries["total_max_attempts"]
    bound = attempts * (LOCAL_CLIENT_CONFIG.read_timeout + 2)  # waits plus retry backoff
    assert elapsed < bound, f"{elapsed:.1f} s"
