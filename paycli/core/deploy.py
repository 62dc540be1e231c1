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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from paycli.core.errors import ConfigError, PaycliError, UsageError
from paycli.core.settings import Settings

SAM_MISSING_HINT: Final = "install it with `pip install 'paycli[aws]'` (aws-sam-cli)"
#: CloudFormation stack tags: key and value lengths; keys starting with aws: are reserved.
MAX_TAG_KEY: Final = 128
MAX_TAG_VALUE: Final = 256


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


@dataclass(frozen=True)
class DeployOptions:
    """What the user passes through to `sam deploy`: `Key=Value` parameter overrides and tags."""

    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


def parse_pairs(values: Sequence[str], what: str) -> dict[str, str]:
    """`Key=Value` strings (repeatable options) as a mapping; a malformed one is a UsageError."""
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"{what} {value!r} is not Key=Value", hint=f"e.g. {what} MaxAmountMinor=500000"
            )
        pairs[key.strip()] = rest
    return pairs


def deploy_options(
    template: Mapping[str, Any], overrides: Sequence[str], tags: Sequence[str]
) -> DeployOptions:
    """Checked options: every override names a template parameter; tags within AWS's rules."""
    parameters = parse_pairs(overrides, "--parameter-overrides")
    known = sorted((template.get("Parameters") or {}).keys())
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise UsageError(
            f"the template has no parameter {', '.join(unknown)}",
            hint=f"its parameters: {', '.join(known) or 'none'}",
        )
    tag_pairs = parse_pairs(tags, "--tags")
    for key, value in tag_pairs.items():
        if key.lower().startswith("aws:") or len(key) > MAX_TAG_KEY or len(value) > MAX_TAG_VALUE:
            raise UsageError(
                f"tag {key!r} is not allowed",
                hint=f"keys up to {MAX_TAG_KEY} characters, not starting with aws:; "
                f"values up to {MAX_TAG_VALUE}",
            )
    return DeployOptions(parameters, tag_pairs)


def _pair_args(pairs: Mapping[str, str]) -> list[str]:
    """One argv item per pair (sam's options take several); a value with spaces is quoted."""
    return [f'{k}="{v}"' if any(c.isspace() for c in v) else f"{k}={v}" for k, v in pairs.items()]


def sam_deploy_command(
    sam: str,
    template: Path,
    settings: Settings,
    region: str,
    *,
    confirm: bool,
    options: DeployOptions | None = None,
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
    if options and options.parameter_overrides:
        command += ["--parameter-overrides", *_pair_args(options.parameter_overrides)]
    if options and options.tags:
        command += ["--tags", *_pair_args(options.tags)]
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


def retained_tables_note(tables: Sequence[str]) -> str:
    """What `destroy` leaves on AWS: the tables (RetainExceptOnCreate), their cost, and how to
    delete them (deletion protection must be turned off first)."""
    named = ", ".join(tables) if tables else "the stack's four DynamoDB tables"
    example = tables[0] if tables else "TABLE"
    return (
        f"deleted. {named} remain (DeletionPolicy RetainExceptOnCreate): they keep their data "
        "and keep costing (storage and point-in-time recovery) until you delete them. Each has "
        "deletion protection on: turn it off first, e.g. `aws dynamodb update-table "
        f"--table-name {example} --no-deletion-protection-enabled`, then `aws dynamodb "
        f"delete-table --table-name {example}`."
    )


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
