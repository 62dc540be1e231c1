"""Suite-wide settings: hypothesis runs the same examples every time, botocore reads each of its
JSON data files once per test process, and `-n N` (pytest-xdist) keeps the e2e files on one
session stack.

Hypothesis: every property test is derandomized (its examples derive from the test itself, so a
run that passed passes again, in CI and on a laptop) and keeps no example database between runs.
A test's own `@settings` still sets its example counts; the big runs stay behind their
environment variables (PAYCLI_FUZZ_EXAMPLES, ...). `HYPOTHESIS_PROFILE=random` gives fresh
randomness for a bug hunt.

botocore: every `mock_aws()` (one per integration test) starts a new boto3 session, and every
new session's loader parsed each service model, endpoint and retry file again: about 50 JSON
files per test, a third of the integration tier's CPU. botocore's Loader answers each question
once per loader (its own instance cache, shared by all of a session's clients); here once per
process for each loader configuration. Nothing of paycli or moto is replaced.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.loaders import Loader
from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("random", derandomize=False, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


_loaded: dict[tuple[Any, ...], Any] = {}
_loaded_lock = threading.Lock()


def _once_per_process(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """`Loader.method`, answered once per process for each loader configuration (its class,
    search paths and extras: moto's loader merges its own extras into the models it loads, so
    it never shares a model with botocore's), as botocore answers it once per loader."""

    @functools.wraps(method)
    def shared(self: Loader, *args: Any, **kwargs: Any) -> Any:
        key = (
            name,
            type(self),
            tuple(self.search_paths),
            tuple(self.extras_types),
            args,
            tuple(sorted(kwargs.items())),
        )
        with _loaded_lock:
            if key in _loaded:
                return _loaded[key]
        value = method(self, *args, **kwargs)
        with _loaded_lock:
            return _loaded.setdefault(key, value)

    return shared


for _name in (
    "list_available_services",
    "determine_latest_version",
    "list_api_versions",
    "load_service_model",
    "load_data_with_path",
):
    setattr(Loader, _name, _once_per_process(_name, getattr(Loader, _name)))


# ------------------------------------------------------------------------------ parallel runs


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Iterator[object]:
    """`-n N` (pytest-xdist) without `--dist` distributes by the units below. The README's
    command stays serial for now: one whole-suite run on two workers failed
    test_state_machine.py::test_handler_logs_are_captured_per_function_and_payment (the
    ingress line missing from the runner's log store) after other files ran before it in
    that worker, so the suite is not yet independent of order. (A wrapper, so this runs
    before xdist reads the options.)"""
    if (
        config.pluginmanager.has_plugin("xdist")
        and not hasattr(config, "workerinput")
        and config.option.numprocesses
        and config.option.dist == "no"
    ):
        config.option.dist = "loadfile"
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
