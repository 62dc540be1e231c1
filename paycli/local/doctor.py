"""`paycli local doctor`: can a local stack run here, on these versions of what it patches?

Checks every patch's fingerprints against the installed moto, botocore and typer (naming each
patch whose target changed), the versions the patches were verified with, that ports can be
bound on 127.0.0.1 (the requested one, or any free one), and that the state directory is
writable. Each check is a plain record; `ok` is False when any check fails.
"""

from __future__ import annotations

import socket
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from paycli.local import patches
from paycli.local import state as st
from paycli.local.state import EXIT_PATCH_MISMATCH

__all__ = ["EXIT_PATCH_MISMATCH", "Check", "Report", "refusal", "run"]


@dataclass(frozen=True)
class Check:
    """One thing doctor looked at: `name` (e.g. `patch backend_lock`), ok, what it found."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Report:
    """Every check, and whether all passed (the command's exit status)."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[Check]:
        """The checks that failed."""
        return [check for check in self.checks if not check.ok]


def patch_checks() -> list[Check]:
    """One check per patch: its fingerprints against the installed code."""
    changed = {patch.name: targets for patch, targets in patches.mismatches()}
    checks = []
    for patch in patches.PATCHES:
        if patch.name in changed:
            detail = patches.describe(patch, changed[patch.name])
        else:
            detail = f"{patch.purpose}: {len(patch.targets)} symbol(s) as verified"
        checks.append(Check(f"patch {patch.name}", patch.name not in changed, detail))
    return checks


def version_checks() -> list[Check]:
    """The installed moto must be the pinned one; botocore and typer are reported, and only
    their fingerprints (above) decide."""
    checks = []
    for name, verified in patches.VERIFIED_WITH.items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            checks.append(Check(f"version {name}", False, "not installed"))
            continue
        exact = name == "moto"
        ok = installed == verified or not exact
        note = "pinned" if exact else "floats; its patched symbols are checked above"
        detail = f"{installed} (verified with {verified}; {note})"
        checks.append(Check(f"version {name}", ok, detail))
    return checks


def port_check(port: int | None) -> Check:
    """The requested port (or a free one, when none is asked for) can be bound on 127.0.0.1."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port or 0))
        except OSError as exc:
            return Check("port", False, f"127.0.0.1:{port} is not available ({exc.strerror})")
        bound = probe.getsockname()[1]
    what = f"127.0.0.1:{port} is free" if port else f"free ports on 127.0.0.1 (e.g. {bound})"
    return Check("port", True, what)


def state_dir_check(home: Path | None = None) -> Check:
    """The state directory (PAYCLI_HOME or the app dir) exists or can be made, and is writable."""
    path = (home or st.home_dir()) / "local"
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check("state dir", False, f"{path} is not writable ({exc.strerror})")
    return Check("state dir", True, f"{path} is writable")


def run(*, port: int | None = None, home: Path | None = None) -> Report:
    """Every check, patches first."""
    checks = [*patch_checks(), *version_checks(), port_check(port), state_dir_check(home)]
    return Report(checks)


def refusal() -> str | None:
    """The one line `paycli local up` refuses with, or None when every patch still matches."""
    found = patches.mismatches()
    if not found:
        return None
    names = ", ".join(patch.name for patch, _ in found)
    return (
        f"refusing to start: the code under moto patch(es) {names} changed since they were "
        f"verified (moto {patches.VERIFIED_WITH['moto']}); run `paycli local doctor`"
    )
