"""The session's real local stack for end-to-end tests (helpers in e2e_support.py).

`local_stack` starts the daemon the way `paycli local up` does, on free ports with PAYCLI_HOME
in a temporary directory and a small time scale, deploys stack/template.yaml, yields a
`LocalStackHandle` (outputs, endpoint, credentials, boto3 clients, signed `request()`), and at
the end stops it and checks that no process is left behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from e2e_support import LocalStackHandle, start_local_stack, stop_local_stack


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackHandle]:
    """The session's local stack (deployed stack/template.yaml); stopped at the end."""
    home = tmp_path_factory.mktemp("paycli-home")
    previous = os.environ.get("PAYCLI_HOME")
    os.environ["PAYCLI_HOME"] = str(home)
    handle = start_local_stack(home)
    try:
        yield handle
    finally:
        try:
            stop_local_stack(handle)
        finally:
            if previous is None:
                os.environ.pop("PAYCLI_HOME", None)
            else:
                os.environ["PAYCLI_HOME"] = previous
