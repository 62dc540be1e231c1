"""The unit tier's rule (CONVENTIONS 9): no network and no emulator. A unit test that opens a
socket or starts moto fails here with a pointer to tests/integration/ (tests/support/tiers.py)."""

from __future__ import annotations

import pytest
from tiers import refuse_network_and_moto


@pytest.fixture(autouse=True)
def no_network_no_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connecting, binding or starting a moto mock raises (the test fails, naming the rule)."""
    refuse_network_and_moto(monkeypatch)
