"""The moto patches as records: each says what it fixes and what it touches, its fingerprints
match the installed code, a changed target is named (by doctor, by `local up`), and patching is
scoped: apply() and restore() leave stock moto behind (CONVENTIONS 13)."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from paycli.cli.app import app
from paycli.core import errors
from paycli.local import control, daemon, doctor, patches
from paycli.local.patches import Patch, Purpose, fingerprint
from paycli.local.stack import LocalStack
from paycli.local.state import EXIT_PATCH_MISMATCH


def test_every_patch_says_what_it_fixes_and_what_it_touches() -> None:
    names = [patch.name for patch in patches.PATCHES]
    assert len(names) == len(set(names))
    for patch in patches.PATCHES:
        assert len(patch.fixes) > 60, patch.name
        assert patch.targets, patch.name
        assert all(":" in target for target in patch.targets), patch.name
    assert {patch.purpose for patch in patches.PATCHES} == set(Purpose)


def test_every_speed_patch_carries_its_measured_saving() -> None:
    """A speed patch stays only with a figure from benchmarks/moto_calls.py --each (>= ~5%)."""
    for patch in patches.selected():
        if patch.purpose is Purpose.SPEED:
            assert patch.saves is not None, patch.name
            assert patch.saves.percent >= 5, str(patch.saves)


def test_recorded_fingerprints_match_the_installed_moto_botocore_and_typer() -> None:
    """What `paycli local doctor` checks in CI; fails the day a patched symbol changes."""
    assert [patch.name for patch, _ in patches.mismatches()] == []
    assert doctor.refusal() is None


@pytest.fixture
def changed_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A module `fakedep` with one function, importable; the test may rewrite and reload it."""
    source = tmp_path / "fakedep.py"
    source.write_text("def target(a, b):\n    return a + b\n", "utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield source
    sys.modules.pop("fakedep", None)


def _stale(changed_module: Path) -> Patch:
    recorded = fingerprint("fakedep:target")
    changed_module.write_text("def target(a, b, c=0):\n    return a + b + c\n", "utf-8")
    importlib.reload(importlib.import_module("fakedep"))
    return Patch(
        name="fake_patch",
        purpose=Purpose.CORRECTNESS,
        fixes="a stand-in for a patch whose target changed under it",
        targets={"fakedep:target": recorded},
        install=None,
    )


@pytest.fixture
def stale_patch(changed_module: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Patch]:
    """patches.PATCHES with one more record, whose target's source changed since verified."""
    stale = _stale(changed_module)
    monkeypatch.setattr(patches, "PATCHES", (*patches.PATCHES, stale))
    patches.mismatches.cache_clear()
    yield stale
    patches.mismatches.cache_clear()


def test_a_changed_signature_or_source_changes_the_fingerprint(changed_module: Path) -> None:
    stale = _stale(changed_module)
    assert patches.changed_targets(stale) == {"fakedep:target": fingerprint("fakedep:target")}
    assert fingerprint("fakedep:gone") == "missing"


def test_doctor_names_the_patch_whose_target_changed_and_exits_1(stale_patch: Patch) -> None:
    result = CliRunner().invoke(app, ["local", "doctor", "--json"])

    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    view = json.loads(result.stdout)
    failed = [check for check in view["checks"] if not check["ok"]]
    assert [check["name"] for check in failed] == ["patch fake_patch"]
    assert "fakedep:target (changed)" in failed[0]["detail"]
    assert view["ok"] is False


def test_doctor_passes_here_and_checks_ports_and_state_dir(tmp_path: Path) -> None:
    report = doctor.run(home=tmp_path)
    assert report.ok, report.failed
    names = {check.name for check in report.checks}
    assert {"port", "state dir", "version moto", "version botocore", "version typer"} <= names


def test_doctor_reports_a_taken_port_and_an_unwritable_state_dir(tmp_path: Path) -> None:
    import socket  # noqa: PLC0415

    blocker = tmp_path / "file"
    blocker.write_text("not a directory", "utf-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert not doctor.port_check(port).ok
    assert not doctor.state_dir_check(blocker).ok


def test_local_up_refuses_with_one_line_naming_the_patch(
    stale_patch: Patch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYCLI_HOME", str(tmp_path))
    with pytest.raises(errors.ConfigError) as raised:
        control.up(foreground=True)
    message = raised.value.args[0]
    assert "\n" not in message
    assert "fake_patch" in message
    # The detached daemon refuses the same way, before it binds a port or patches anything.
    assert daemon.run(daemon.Daemon(home=tmp_path)) == EXIT_PATCH_MISMATCH
    assert patches.active() == frozenset()


def test_apply_refuses_to_patch_changed_code(stale_patch: Patch) -> None:
    with pytest.raises(patches.PatchMismatchError, match="fake_patch"):
        patches.verify([stale_patch])


def _raw(target: str) -> Any:
    module_name, _, qualname = target.partition(":")
    holder: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        holder = getattr(holder, part)
    return holder


def test_restore_puts_every_patched_symbol_back() -> None:
    targets = [target for patch in patches.PATCHES for target in patch.targets]
    before = {target: _raw(target) for target in targets}
    with patches.applied():
        assert patches.active() == {p.name for p in patches.selected()}
        changed = [target for target in targets if _raw(target) != before[target]]
        assert len(changed) >= 15
    assert patches.active() == frozenset()
    assert [target for target in targets if _raw(target) != before[target]] == []


def test_speed_false_leaves_every_speed_patch_off() -> None:
    with patches.applied(speed=False):
        assert patches.active()
        speed = {p.name for p in patches.PATCHES if p.purpose is Purpose.SPEED}
        assert not patches.active() & speed


def test_two_stacks_in_one_process_must_agree_on_the_patches() -> None:
    with patches.applied(), pytest.raises(patches.PatchConflictError):
        patches.apply(speed=False)
    assert patches.active() == frozenset()


def test_a_stopped_local_stack_leaves_stock_moto_behind() -> None:
    """Whichever test built a local stack first, a later mock_aws() test sees stock moto."""
    from moto.core.common_models import BaseModel  # noqa: PLC0415

    stock_new = vars(BaseModel)["__new__"]
    with LocalStack(time_scale=0.01):
        assert vars(BaseModel)["__new__"] is not stock_new
    assert vars(BaseModel)["__new__"] is stock_new
    assert patches.active() == frozenset()


def test_the_package_docs_cite_docs_moto_md() -> None:
    """The moto behaviour the patches rely on is explained in the repo, not outside it."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "moto.md"
    text = doc.read_text("utf-8")
    for patch in patches.PATCHES:
        assert f"`{patch.name}`" in text, patch.name
    package = Path(patches.__file__).parent
    assert not [p.name for p in package.glob("*.py") if "MOTO_NOTES" in p.read_text("utf-8")]
