"""The session's real local stack for end-to-end tests (helpers in e2e_support.py).

`local_stack` starts the daemon the way `paycli local up` does, on free ports with PAYCLI_HOME
in a temporary directory and a small time scale, deploys stack/template.yaml, yields a
`LocalStackHandle` (outputs, endpoint, credentials, boto3 clients, signed `request()`), and at
the end stops it and checks that no process is left behind.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_support import LocalStackHandle, local_stack_at


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackHandle]:
    """The session's local stack (deployed stack/template.yaml); stopped at the end."""
    with local_stack_at(tmp_path_factory.mktemp("paycli-home")) as handle:
        yield handle
