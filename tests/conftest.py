"""Suite-wide settings: hypothesis runs the same examples every time, and botocore reads each of
its JSON data files once per test process.

Hypothesis: every property test is derandomized (its examples derive from the test itself, so a
run that passed passes again, in CI and on a laptop) and keeps no example database between runs.
A test's own `@settings` still sets its example counts; the big runs stay behind their
environment variables (PAYCLI_FUZZ_EXAMPLES, ...). `HYPOTHESIS_PROFILE=random` gives fresh
randomness for a bug hunt.

botocore: every `mock_aws()` (one per integration test) starts a new boto3 session, and every
new session parsed each service model, endpoint and retry file again: about 50 JSON files per
test, a third of the integration tier's CPU. Those files are read-only package data, so a
parsed file is kept for the process. Sessions already share one parsed file between all their
clients; this shares it between sessions too. Nothing of paycli or moto is replaced.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.loaders import JSONFileLoader
from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("random", derandomize=False, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


_parsed: dict[str, Any] = {}
_parsed_lock = threading.Lock()
_load_file = JSONFileLoader.load_file


def _load_file_once(self: JSONFileLoader, file_path: str) -> Any:
    """botocore's JSONFileLoader.load_file, parsed once per path for the whole process."""
    with _parsed_lock:
        if file_path not in _parsed:
            _parsed[file_path] = _load_file(self, file_path)
        return _parsed[file_path]


JSONFileLoader.load_file = _load_file_once  # type: ignore[method-assign]


# ------------------------------------------------------------------------------ parallel runs


def _whole_suite(config: pytest.Config) -> bool:
    """The README's command: no paths given, so pytest collects testpaths."""
    return config.args_source is pytest.Config.ArgsSource.TESTPATHS


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Iterator[object]:
    """`python -m pytest` (the whole suite) runs on one pytest-xdist worker per core. A run of
    chosen files stays in one process (starting workers costs more than it saves there).
    `-n N` chooses, `-n0` or `-p no:xdist` runs serially, `--pdb` too. (A wrapper, so this
    runs before xdist reads the options.)"""
    if config.pluginmanager.has_plugin("xdist") and not hasattr(config, "workerinput"):
        if config.option.numprocesses is None and not config.option.usepdb and _whole_suite(config):
            config.option.numprocesses = "auto"
        if config.option.numprocesses and config.option.dist == "no":
            config.option.dist = "loadfile"  # with -n and no --dist: the units below
    return (yield)


#: e2e modules that start local stacks of their own (and need the session's none).
OWN_STACKS = frozenset(
    f"tests/e2e/{name}.py" for name in ("test_pan_suite", "test_soak", "test_redrive_suite")
)
SESSION_STACK_UNIT = "tests/e2e (the session's local stack)"


class _SessionStackUnits:
    """The xdist hook (a plugin registered only when xdist is there: its hooks are xdist's)."""

    @staticmethod
    def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
        """Under `--dist loadfile` a test file is one unit (its module fixtures start once),
        and the e2e files (bar OWN_STACKS) are one unit together: one worker runs them in
        collection order on one session stack, exactly as a serial run does."""
        if config.option.dist != "loadfile":
            return None
        from xdist.scheduler import LoadFileScheduling  # noqa: PLC0415 - only with xdist

        class SessionStackScheduling(LoadFileScheduling):  # type: ignore[misc]
            def _split_scope(self, nodeid: str) -> str:
                path = nodeid.split("::", 1)[0]
                if path.startswith("tests/e2e/") and path not in OWN_STACKS:
                    return SESSION_STACK_UNIT
                return path

        return SessionStackScheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.has_plugin("xdist"):
        config.pluginmanager.register(_SessionStackUnits(), "paycli-session-stack-units")
