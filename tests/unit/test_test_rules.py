"""The test tiers' rules hold and stay so (CONVENTIONS 9; tests/support/tiers.py):

- a unit test cannot open a socket or start moto (tests/unit/conftest.py makes both fail), and
  no unit test file imports moto or a local stack, so the refusal is never bypassed by a late
  import;
- tests wait in one place, tests/support/waiting.py: no other test file calls time.sleep
  (handler source held in strings, which sleeps because time is its subject, is text).
"""

from __future__ import annotations

import ast
import socket
from pathlib import Path

import pytest
from tiers import MOVE, refuse_network_and_moto

TESTS = Path(__file__).resolve().parents[1]
WAITING = TESTS / "support" / "waiting.py"
#: What starts an emulator: moto's mock and server, and the local stack built on them.
EMULATOR_NAMES = {"mock_aws", "ThreadedMotoServer", "LocalStack"}


def test_a_unit_test_cannot_connect_or_bind() -> None:
    """The autouse fixture is in force here: both ways onto a network fail naming the rule."""
    with socket.socket() as sock, pytest.raises(AssertionError, match="tests/integration/"):
        sock.connect(("127.0.0.1", 9))
    with socket.socket() as sock, pytest.raises(AssertionError, match="tests/integration/"):
        sock.bind(("127.0.0.1", 0))


def test_a_unit_test_cannot_start_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once moto is loaded (a product module that uses it loads it), starting a mock fails.
    (This file is the one unit test that imports moto: to show the refusal.)"""
    pytest.importorskip("moto.core.models")
    refuse_network_and_moto(monkeypatch)  # as the fixture does once moto is loaded
    from moto import mock_aws  # noqa: PLC0415

    with pytest.raises(AssertionError, match="start no moto"):
        mock_aws().start()


def _emulator_uses(tree: ast.AST) -> list[int]:
    """Lines importing moto, or importing or naming what starts an emulator."""
    lines = []
    for node in ast.walk(tree):
        modules: list[str] = []
        names: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules, names = [node.module or ""], [alias.name for alias in node.names]
        elif isinstance(node, ast.Name | ast.Attribute):
            names = [node.id if isinstance(node, ast.Name) else node.attr]
        if any(m == "moto" or m.startswith("moto.") for m in modules) or (
            EMULATOR_NAMES & set(names)
        ):
            lines.append(getattr(node, "lineno", 0))
    return sorted(set(lines))


def _sleeps(tree: ast.AST) -> list[int]:
    """Lines calling time.sleep (however `sleep` was imported from time), or sleeping in
    disguise: a statement `x.wait(<seconds>)` that ignores whether what it waited for came."""
    aliases = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "time"
        for alias in node.names
        if alias.name == "sleep"
    }
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        by_module = (
            isinstance(func, ast.Attribute)
            and func.attr == "sleep"
            and isinstance(func.value, ast.Name)
            and func.value.id == "time"
        )
        if by_module or (isinstance(func, ast.Name) and func.id in aliases):
            lines.append(node.lineno)
    for node in ast.walk(tree):
        call = node.value if isinstance(node, ast.Expr) else None
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "wait"
            and call.args
            and isinstance(call.args[0], ast.Constant)
            and isinstance(call.args[0].value, int | float)
        ):
            lines.append(call.lineno)
    return sorted(lines)


def _offenders(paths: list[Path], find: object) -> list[str]:
    found = []
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found += [f"{path.relative_to(TESTS)}:{line}" for line in find(tree)]  # type: ignore[operator]
    return found


def test_the_scanners_find_what_they_look_for() -> None:
    """Each rule's scanner catches the forms it bans (so an empty answer means something)."""
    sleeps = (
        "import time\ntime.sleep(1)\nfrom time import sleep as nap\nnap(2)\nx.sleep(3)\n"
        "stop.wait(0.3)\nassert done.wait(timeout=5)\nthread.join(1)\nproc.wait(timeout=9)\n"
        "env.wait(arn)\n"
    )
    assert _sleeps(ast.parse(sleeps)) == [2, 4, 6]
    emulators = (
        "import moto\nfrom moto.sqs import models\nfrom moto import mock_aws\n"
        "from paycli.local.stack import Scheduler\nstack.LocalStack()\n"
    )
    assert _emulator_uses(ast.parse(emulators)) == [1, 2, 3, 5]


def test_no_unit_test_file_imports_moto_or_starts_a_local_stack() -> None:
    paths = sorted(p for p in (TESTS / "unit").rglob("*.py") if p != Path(__file__).resolve())
    assert _offenders(paths, _emulator_uses) == [], MOVE


def test_tests_wait_only_in_waiting_py() -> None:
    """A fixed sleep is too short on a busy machine or too long everywhere; tests synchronise
    on events, or on a deadline through waiting.wait_until."""
    paths = sorted(p for p in TESTS.rglob("*.py") if p != WAITING)
    assert _offenders(paths, _sleeps) == [], "wait with waiting.wait_until or on an event"
