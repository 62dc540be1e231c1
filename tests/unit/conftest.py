"""The unit tier's rule (CONVENTIONS 9): no network and no emulator. A unit test that opens a
socket or starts moto fails here with a pointer to tests/integration/."""

from __future__ import annotations

import socket
import sys
from typing import Any

import pytest

MOVE = "unit tests open no sockets and start no moto: move this test to tests/integration/"


def _refuse(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError(MOVE)


@pytest.fixture(autouse=True)
def no_network_no_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connecting, binding or starting a moto mock raises (the test fails, naming the rule)."""
    for name in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, name, _refuse)
    models = sys.modules.get("moto.core.models")
    if models is not None:
        monkeypatch.setattr(models.MockAWS, "start", _refuse)
