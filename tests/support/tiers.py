"""The test tiers' rules (CONVENTIONS 9) as code: what a unit test may not do, and how a test
may wait. tests/unit/conftest.py applies `refuse_network_and_moto` to every unit test;
tests/unit/test_test_rules.py checks the rules hold over the tree."""

from __future__ import annotations

import socket
import sys
from typing import Any

import pytest

MOVE = "unit tests open no sockets and start no moto: move this test to tests/integration/"


def _refuse(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError(MOVE)


def refuse_network_and_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connecting or binding a socket, or starting a moto mock (moto's server binds too), raises
    an AssertionError naming the rule, so the test fails with a pointer to where it belongs.
    The moto part applies once moto is loaded; test_test_rules.py keeps unit test files from
    importing moto at all."""
    for name in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, name, _refuse)
    models = sys.modules.get("moto.core.models")
    if models is not None:
        monkeypatch.setattr(models.MockAWS, "start", _refuse)
