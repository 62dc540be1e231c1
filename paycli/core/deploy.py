"""Deploying the bundled SAM app: to the local stack, or to AWS with the SAM CLI.

No `sam build`: the function code has no third-party dependencies to build (Powertools comes from
the public Lambda layer the template names), so `sam deploy` zips `stack/src` as it is. That also
means no python3.12 is needed on the deploying machine.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from paycli.core.errors import ConfigError, PaycliError
from paycli.core.settings import Settings

SAM_MISSING_HINT: Final = "install it with `pip install 'paycli[aws]'` (aws-sam-cli)"


def stack_dir() -> Path:
    """The SAM app: `paycli/_stack` inside an installed wheel, else `<repo>/stack`."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_stack", package.parent / "stack"):
        if (candidate / "template.yaml").is_file():
            return candidate
    raise ConfigError(
        "cannot find the bundled stack (template.yaml)",
        hint="reinstall paycli: the wheel ships it under paycli/_stack",
    )


def template_path() -> Path:
    """The bundled template.yaml."""
    return stack_dir() / "template.yaml"


@dataclass(frozen=True)
class AwsPrerequisites:
    """What `deploy --target aws` checked before running anything."""

    sam: str
    account: str
    region: str


def sam_deploy_command(
    sam: str, template: Path, settings: Settings, region: str, *, confirm: bool
) -> list[str]:
    """The `sam deploy` command line, as a list (never a shell string).

    --resolve-s3 lets SAM create/reuse its managed artifacts bucket; CAPABILITY_IAM because the
    template creates roles (without names, so not CAPABILITY_NAMED_IAM).
    """
    command = [
        sam,
        "deploy",
        "--template-file",
        str(template),
        "--stack-name",
        settings.stack_name,
        "--region",
        region,
        "--resolve-s3",
        "--capabilities",
        "CAPABILITY_IAM",
        "--no-fail-on-empty-changeset",
        "--confirm-changeset" if confirm else "--no-confirm-changeset",
    ]
    if settings.profile:
        command += ["--profile", settings.profile]
    return command


def sam_delete_command(sam: str, settings: Settings, region: str) -> list[str]:
    """`sam delete` for the stack (tables are Retain: their data stays)."""
    command = [
        sam,
        "delete",
        "--stack-name",
        settings.stack_name,
        "--region",
        region,
        "--no-prompts",
    ]
    if settings.profile:
        command += ["--profile", settings.profile]
    return command


def find_sam() -> str:
    """The `sam` executable, or a ConfigError naming the extra that installs it."""
    sam = shutil.which("sam")
    if sam is None:
        raise ConfigError("the AWS SAM CLI (`sam`) is not installed", hint=SAM_MISSING_HINT)
    return sam


def run_sam(command: list[str]) -> None:
    """Run SAM with its progress on our stderr (stdout stays for data); fail on non-zero."""
    try:
        sink: int | None = sys.stderr.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):  # stderr is not a real file
        sink = None
    if sink is None:
        captured = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        sys.stderr.write(captured.stdout + captured.stderr)
        returncode = captured.returncode
    else:
        returncode = subprocess.run(command, stdout=sink, check=False).returncode  # noqa: S603
    if returncode != 0:
        raise PaycliError(
            f"`{' '.join(command[:2])}` failed with exit code {returncode}",
            hint="its output above says why; rerun with the same options once fixed",
        )
