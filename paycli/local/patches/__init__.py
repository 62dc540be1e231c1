"""Targeted changes to moto (and two botocore/typer internals) that the local stack needs.

Each is a `Patch` record in the module named after its purpose (correctness, seams, memory,
speed_*): what it fixes or speeds up with the figure measured, the private symbols it touches,
and their fingerprints as verified. `paycli local doctor` (paycli/local/doctor.py) compares
those with what is installed and names each patch whose target changed; docs/moto.md has the
moto behaviour the records cite.

`apply()` installs them in this process (call it in every process that runs a local stack;
moto's backends are per process) and `restore()` takes them off again: a test that builds a
local stack leaves stock moto behind it. Applies nest (reference-counted) when they ask for
the same set.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version

from paycli.local.patches import (
    correctness,
    memory,
    seams,
    speed_dynamodb,
    speed_requests,
    speed_sfn,
)
from paycli.local.patches._base import Patch, Patcher, Purpose, changed_targets, fingerprint
from paycli.local.patches.correctness import BACKEND_LOCK
from paycli.local.patches.seams import LambdaInvoker, set_lambda_invoker, set_time_scale
from paycli.local.patches.speed_dynamodb import _is_json_native

__all__ = [
    "BACKEND_LOCK",
    "PATCHES",
    "TYPER_COERCION",
    "VERIFIED_WITH",
    "LambdaInvoker",
    "Patch",
    "PatchConflictError",
    "PatchMismatchError",
    "Purpose",
    "_is_json_native",
    "active",
    "applied",
    "apply",
    "changed_targets",
    "describe",
    "fingerprint",
    "mismatches",
    "moto_version",
    "restore",
    "set_lambda_invoker",
    "set_time_scale",
    "verify",
]

#: The versions every fingerprint below was taken from. moto is pinned exactly in pyproject.toml
#: (tests/unit/test_moto_pin.py); botocore and typer float, so doctor checks their symbols.
VERIFIED_WITH = {"moto": "5.2.5", "botocore": "1.44.8", "typer": "0.29.2"}
MOTO_VERSION = VERIFIED_WITH["moto"]

#: Applied by paycli/cli/_common.py (the CLI's start-up time), not by apply(); checked the same.
TYPER_COERCION = Patch(
    name="typer_plain_coercion",
    purpose=Purpose.SPEED,
    fixes="typer 0.29 builds a pydantic-backed coercer for every parameter it processes "
    "(pydantic's import is about 200 ms of a start-up); a root string option or an unset "
    "group flag gets typer's pass-through coercion instead (tests/unit/test_cli_app.py checks "
    "pydantic stays unloaded). If the symbols change, the CLI still works and only pays the "
    "import again.",
    targets={
        "typer._coercion:PassThroughRuntimeParam": "e863563138b2ae17",
        "typer.core:_TyperParameter.get_runtime_param": "1f3ae22c878d01c1",
    },
    install=None,
    applied_by="paycli.cli._common.PlainGroup",
)

#: Every patch, in the order apply() installs them (correctness first: the lock wraps what the
#: speed patches then change underneath it).
PATCHES: tuple[Patch, ...] = (
    *correctness.PATCHES,
    *seams.PATCHES,
    *memory.PATCHES,
    *speed_sfn.PATCHES,
    *speed_dynamodb.PATCHES,
    *speed_requests.PATCHES,
    TYPER_COERCION,
)


class PatchConflictError(RuntimeError):
    """apply() asked for another set of patches than the one installed in this process."""


class PatchMismatchError(RuntimeError):
    """A symbol a patch touches is not what the patch was verified against."""


@functools.cache
def mismatches() -> tuple[tuple[Patch, dict[str, str]], ...]:
    """Every patch with a target whose fingerprint changed, and those targets (computed once
    per process: the installed code does not change under a running process)."""
    found = ((patch, changed_targets(patch)) for patch in PATCHES)
    return tuple((patch, changed) for patch, changed in found if changed)


def describe(patch: Patch, changed: Mapping[str, str]) -> str:
    """One line naming the patch and what changed under it."""
    libraries = sorted({target.partition(".")[0].partition(":")[0] for target in changed})
    installed = ", ".join(f"{name} {_installed(name)}" for name in libraries)
    targets = ", ".join(
        f"{target} ({'gone' if now == 'missing' else 'changed'})"
        for target, now in sorted(changed.items())
    )
    return f"patch {patch.name} does not match the installed {installed}: {targets}"


def _installed(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "(version unknown)"


def verify(patches: Collection[Patch]) -> None:
    """Raise PatchMismatchError (one line per patch) if any of `patches` no longer matches."""
    names = {patch.name for patch in patches}
    lines = [describe(patch, changed) for patch, changed in mismatches() if patch.name in names]
    if lines:
        raise PatchMismatchError("; ".join(lines))


class _State:
    lock = threading.Lock()
    patcher: Patcher | None = None
    names: frozenset[str] = frozenset()
    depth = 0


def moto_version() -> str:
    """The installed moto version (the patches were verified against MOTO_VERSION)."""
    return version("moto")


def selected(*, speed: bool = True, minimal: bool = False) -> tuple[Patch, ...]:
    """The patches apply() installs: all; without SPEED ones; or only the `required` ones
    (`minimal`: the benchmarks' "stock moto" that the local stack can still run on)."""
    chosen = [patch for patch in PATCHES if patch.install is not None]
    if minimal:
        return tuple(patch for patch in chosen if patch.required)
    if not speed:
        return tuple(patch for patch in chosen if patch.purpose is not Purpose.SPEED)
    return tuple(chosen)


def apply(*, speed: bool = True, minimal: bool = False, exclude: Collection[str] = ()) -> None:
    """Install the selected patches (less any named in `exclude`: benchmarks/moto_calls.py
    measures each speed patch so) in this process; pair every call with restore().

    A second apply() for the same set only counts; for another set it raises
    PatchConflictError (two local stacks in one process share moto's backends, so they must
    agree on how moto behaves)."""
    unknown = set(exclude) - {patch.name for patch in PATCHES}
    if unknown:
        msg = f"no such patch: {', '.join(sorted(unknown))}"
        raise ValueError(msg)
    patches = tuple(p for p in selected(speed=speed, minimal=minimal) if p.name not in exclude)
    names = frozenset(patch.name for patch in patches)
    with _State.lock:
        if _State.depth:
            if names != _State.names:
                msg = (
                    f"moto is already patched with another set here ({len(_State.names)} "
                    f"patches, asked for {len(names)}): stop the other local stack first"
                )
                raise PatchConflictError(msg)
            _State.depth += 1
            return
        verify(patches)
        patcher = Patcher()
        try:
            for patch in patches:
                assert patch.install is not None  # selected() keeps installable ones only
                patch.install(patcher)
        except BaseException:
            patcher.undo()
            raise
        _State.patcher, _State.names, _State.depth = patcher, names, 1


def restore() -> None:
    """Undo one apply(); the last one puts moto, botocore back as they were."""
    with _State.lock:
        if _State.depth == 0:
            return
        _State.depth -= 1
        if _State.depth == 0 and _State.patcher is not None:
            _State.patcher.undo()
            _State.patcher, _State.names = None, frozenset()


def active() -> frozenset[str]:
    """The names of the patches installed in this process now (empty: stock moto)."""
    return _State.names


@contextmanager
def applied(*, speed: bool = True, minimal: bool = False) -> Iterator[None]:
    """apply() for the duration of a block (tests that want patched moto without a stack)."""
    apply(speed=speed, minimal=minimal)
    try:
        yield
    finally:
        restore()
