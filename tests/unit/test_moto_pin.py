"""paycli/local/patches.py changes moto internals verified against one version: this fails the
day moto changes, so the patches are re-verified before the pin moves."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from paycli.local import patches

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_installed_moto_is_the_version_the_patches_were_verified_against() -> None:
    assert version("moto") == patches.MOTO_VERSION == "5.2.5"
    assert patches.moto_version() == patches.MOTO_VERSION


def test_pyproject_pins_the_same_exact_version() -> None:
    assert f']=={patches.MOTO_VERSION}"' in PYPROJECT.read_text("utf-8")


def test_ci_installs_the_versions_the_patches_were_verified_with() -> None:
    """CI's constraints and VERIFIED_WITH move together: CI tests what the fingerprints cover."""
    constraints = (PYPROJECT.parent / ".ci" / "constraints.txt").read_text("utf-8")
    for name in ("botocore", "typer"):
        assert f"{name}=={patches.VERIFIED_WITH[name]}\n" in constraints
