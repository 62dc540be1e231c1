"""The local stack's life cycle through `paycli local ...` and `paycli.local.control`: start,
idempotent start, status, stop with no process left behind, clear start-up errors, and a
template change reaching the handlers on redeploy."""

from __future__ import annotations

import json
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import REPO, TEST_CARDS, start_local_stack, stop_local_stack
from typer.testing import CliRunner
from waiting import wait_until

from paycli.cli.app import app
from paycli.core.errors import ConfigError, PaycliError
from paycli.local import control
from paycli.local.state import STATE_FILE, DaemonState, pid_alive, write_state

pytestmark = pytest.mark.e2e


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private PAYCLI_HOME; whatever a test started there is stopped afterwards."""
    monkeypatch.setenv("PAYCLI_HOME", str(tmp_path))
    yield tmp_path
    control.down()


def _processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains `text` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline and pid_alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def test_local_up_status_down_leave_no_process_behind(home: Path) -> None:
    """`local up` starts one daemon (a second `up` reuses it), `status` reports it, `down`
    stops it: its pid is gone, no process mentions the state dir, state.json is removed."""
    runner = CliRunner()
    first = runner.invoke(app, ["local", "up", "--json"])
    assert first.exit_code == 0, first.output
    started = json.loads(first.stdout)
    assert started["running"] is True
    assert started["endpoint"].startswith("http://127.0.0.1:")
    assert _processes_mentioning(str(home)) == [started["pid"]]

    again = json.loads(runner.invoke(app, ["local", "up", "--json"]).stdout)
    assert again["pid"] == started["pid"]
    status = json.loads(runner.invoke(app, ["local", "status", "--json"]).stdout)
    assert status == {**started, "deployed": False}

    down = runner.invoke(app, ["local", "down", "--json"])
    assert down.exit_code == 0
    assert json.loads(down.stdout) == {"stopped": True}
    assert not pid_alive(started["pid"])
    assert _processes_mentioning(str(home)) == []
    assert not (home / "local" / STATE_FILE).exists()
    assert json.loads(runner.invoke(app, ["local", "down", "--json"]).stdout) == {"stopped": False}
    assert json.loads(runner.invoke(app, ["local", "status", "--json"]).stdout)["running"] is False


def test_stale_state_of_a_dead_daemon_is_ignored_and_removed(home: Path) -> None:
    """A state.json left by a killed daemon does not make the stack look alive."""
    dead_pid = 2**22 + 12345  # above the default pid_max: never a live process
    write_state(
        DaemonState(
            pid=dead_pid,
            port=1,
            endpoint="http://127.0.0.1:1",
            api_port=2,
            api_url="http://127.0.0.1:2",
            token="t",
            started_at="then",
            log_file="x",
        )
    )
    assert control.status().running is False
    assert not (home / "local" / STATE_FILE).exists()
    assert control.down() is False
    with pytest.raises(ConfigError, match="not running"):
        control.logs()


def test_a_pid_reused_by_another_program_is_never_signalled(home: Path) -> None:
    """state.json naming a live process that is not paycli (a reused pid): the stack is not
    running, and `down` does not send that process SIGTERM."""
    import subprocess  # noqa: PLC0415

    with subprocess.Popen(["sleep", "30"]) as other:
        try:
            write_state(
                DaemonState(
                    pid=other.pid,
                    port=1,
                    endpoint="http://127.0.0.1:1",
                    api_port=2,
                    api_url="http://127.0.0.1:2",
                    token="t",
                    started_at="then",
                    log_file="x",
                )
            )
            assert control.status().running is False
            assert control.down() is False
            assert other.poll() is None
        finally:
            other.kill()


def test_start_up_failure_is_a_clear_error_with_the_log(home: Path) -> None:
    """A port already taken: `up` fails at once with one line naming the port (no log tail:
    earlier runs' dumps buried the cause), and the log path in the hint."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError) as caught:
            control.up(port=port)
    assert f"port {port} on 127.0.0.1 is not available" in caught.value.message
    assert "\n" not in caught.value.message
    assert caught.value.hint is not None
    assert str(home / "local" / "daemon.log") in caught.value.hint
    assert control.status().running is False


def _template_copy(tmp: Path, ingress_extra_env: str | None) -> Path:
    """stack/ copied to `tmp`; IngressFunction's MAX_AMOUNT_MINOR removed from the template, or
    replaced by `ingress_extra_env` (YAML lines) when given."""
    stack = tmp / "stack"
    if not stack.exists():
        shutil.copytree(REPO / "stack", stack, ignore=shutil.ignore_patterns("__pycache__"))
    text = (REPO / "stack" / "template.yaml").read_text(encoding="utf-8")
    line = "          MAX_AMOUNT_MINOR: !Ref MaxAmountMinor\n"
    ingress = text.index("  IngressFunction:")
    at = text.index(line, ingress)
    assert at < text.index("  ValidatePaymentFunction:")
    text = text[:at] + (ingress_extra_env or "") + text[at + len(line) :]
    (stack / "template.yaml").write_text(text, encoding="utf-8")
    return stack / "template.yaml"


def test_template_change_reaches_the_handler_on_redeploy(home: Path, tmp_path: Path) -> None:
    """Nothing about the functions is repeated in Python: an environment variable removed from
    the template is gone for the handler, and one added is seen, after `deploy` alone."""
    template = _template_copy(tmp_path, None)
    stack = start_local_stack(home, template)
    try:
        account = stack.create_account(50_000)
        without = stack.pay_card(account, 1250, TEST_CARDS["approved"])
        assert without.status >= 500  # the ingress handler cannot read MAX_AMOUNT_MINOR

        _template_copy(tmp_path, "          MAX_AMOUNT_MINOR: 1000\n")
        assert control.deploy(template)["ApiUrl"] == stack.api_url
        over = stack.pay_card(account, 1250, TEST_CARDS["approved"])
        assert over.status == 400
        assert "1000" in json.dumps(over.json())
        under = stack.pay_card(account, 900, TEST_CARDS["approved"], key=f"k-{uuid.uuid4().hex}")
        assert under.status == 202

        # A resource the local stack cannot emulate is an error naming it, never a skip; the
        # running deployment keeps serving.
        text = template.read_text(encoding="utf-8")
        extra = "  ExtraTopic:\n    Type: AWS::SNS::Topic\n\nOutputs:"
        template.write_text(text.replace("\nOutputs:", "\n" + extra, 1), encoding="utf-8")
        with pytest.raises(PaycliError, match="AWS::SNS::Topic"):
            control.deploy(template)
        assert stack.pay_card(account, 800, TEST_CARDS["approved"]).status == 202
    finally:
        stop_local_stack(stack)
    assert not (home / "local" / STATE_FILE).exists()


def test_foreground_runs_attached_and_stops_cleanly_on_ctrl_c(home: Path) -> None:
    """`paycli local up --foreground` serves until Ctrl-C (SIGINT), then exits 0 with its state
    removed; meanwhile other processes find it through state.json like a detached one."""
    import signal  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    process = subprocess.Popen(
        [sys.executable, "-m", "paycli", "local", "up", "--foreground"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
    try:

        def ready() -> bool:
            assert process.poll() is None, process.communicate()
            return control.status().running

        wait_until(ready, timeout=30, interval=0.1, what="the foreground stack to be ready")
        assert control.status().pid == process.pid
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert b"local stack stopped" in stderr
    assert not (home / "local" / STATE_FILE).exists()
