"""Suite-wide settings: hypothesis runs the same examples every time, botocore reads each of its
JSON data files once per test process, and `-n N` (pytest-xdist) runs files as units, longest
first, each worker with its own session local stack for the e2e tests.

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
import signal
import threading
import zlib
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
    """`-n N` (pytest-xdist) without `--dist` distributes by the units of `_WeightedUnits`
    below. The README's command stays serial until two whole-suite `-n 2` runs are green: the
    last one failed only tests that look independent of the workers (a rule check, a benchmark
    figure, a CLI's stderr and a Ctrl-C exit code), not yet checked serially. Ctrl-C tests fail
    in a run started in the background by a shell without job control (SIGINT is ignored
    there, and the workers inherit it). (A wrapper, so this runs before xdist reads the
    options.)"""
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
#: Files run as two units (two workers can share them): long files of many independent tests
#: whose module fixtures are cheap next to the tests.
SPLIT_FILES = frozenset({"tests/e2e/test_cli_reference_offline_terminal.py"})
#: Seconds a unit takes beyond its tests' count (measured: `--durations=0`, serial, 2 cores):
#: units start longest first, so the last one to start is a short one. A wrong or missing
#: figure costs wall time, never a result.
LONG_UNITS = {
    "tests/integration/test_stateful_pipeline.py": 120.0,
    "tests/e2e/test_cli_reference_offline_terminal.py": 65.0,
    "tests/unit/test_lint_rules.py": 60.0,
    "tests/e2e/test_benchmark_scripts.py": 60.0,
    "tests/e2e/test_cli_operator.py": 55.0,
    "tests/e2e/test_soak.py": 50.0,
    "tests/e2e/test_redrive_suite.py": 50.0,
    "tests/e2e/test_local_lifecycle.py": 45.0,
    "tests/integration/test_deploy_aws.py": 40.0,
    "tests/e2e/test_fuzz_api.py": 35.0,
    "tests/e2e/test_local_workers.py": 35.0,
}
#: Seconds a test takes by tier, for the units not in LONG_UNITS.
TIER_SECONDS = {"e2e": 1.5, "integration": 0.5, "unit": 0.15}


def unit_of(nodeid: str) -> str:
    """The unit of work a test belongs to: its file, or a half of a SPLIT_FILES file (by a
    stable hash of the test's id, so a run splits the same way every time)."""
    path = nodeid.split("::", 1)[0]
    if path in SPLIT_FILES:
        half = zlib.crc32(nodeid.encode()) % 2
        return f"{path}::half{half}"
    return path


def unit_weight(unit: str, tests: int) -> float:
    """The seconds a unit is expected to take (only its order depends on this)."""
    path = unit.split("::", 1)[0]
    tier = path.split("/")[1] if path.count("/") >= 2 else "unit"
    per_test = TIER_SECONDS.get(tier, TIER_SECONDS["integration"]) * tests
    share = 2 if path in SPLIT_FILES else 1
    return LONG_UNITS.get(path, 0.0) / share + per_test


class _WeightedUnits:
    """The xdist hook (a plugin registered only when xdist is there: its hooks are xdist's)."""

    @staticmethod
    def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
        """Under `--dist loadfile` a unit is a test file (its module fixtures start once) or a
        half of a SPLIT_FILES file, and units start longest first (`unit_weight`). Each worker
        that runs e2e tests starts its own session stack (`local_stack`): the e2e tests make
        their own accounts and payments, so no test reads another's data."""
        if config.option.dist != "loadfile":
            return None
        from xdist.scheduler import LoadFileScheduling  # noqa: PLC0415 - only with xdist

        class WeightedScheduling(LoadFileScheduling):  # type: ignore[misc]
            def _split_scope(self, nodeid: str) -> str:
                return unit_of(nodeid)

            def schedule(self) -> None:
                """LoadScopeScheduling.schedule with the work queue ordered by weight."""
                if self.collection is not None or not self.collection_is_completed:
                    super().schedule()
                    return
                if not self._check_nodes_have_same_collection():
                    self.log("**Different tests collected, aborting run**")
                    return
                self.collection = list(next(iter(self.registered_collections.values())))
                if not self.collection:
                    return
                units: dict[str, dict[str, bool]] = {}
                for nodeid in self.collection:
                    units.setdefault(self._split_scope(nodeid), {})[nodeid] = False
                for unit, nodeids in sorted(
                    units.items(), key=lambda item: -unit_weight(item[0], len(item[1]))
                ):
                    self.workqueue[unit] = nodeids
                for _ in range(len(self.nodes) - len(self.workqueue)):
                    self.assigned_work.popitem()[0].shutdown()
                for node in self.nodes:
                    self._assign_work_unit(node)
                for node in self.nodes:
                    self._reschedule(node)
                if not self.workqueue:
                    for node in self.nodes:
                        node.shutdown()

        return WeightedScheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    # A background job of a shell without job control (`cmd &` in a script, nohup) starts
    # with SIGINT ignored, and every process it starts inherits that: the Ctrl-C tests, which
    # press it on purpose (in this process or in a `paycli` child), would see nothing happen.
    # A handler here is reset to the default in each child at exec, as in a terminal.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if config.pluginmanager.has_plugin("xdist"):
        config.pluginmanager.register(_WeightedUnits(), "paycli-weighted-units")
