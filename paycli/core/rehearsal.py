"""What `paycli deploy --target aws` checks before it calls anything, and `--dry-run`.

The checks run in the order a deploy needs them and make no network call: the region (from
cfn-lint's per-region schemas and the template's Powertools layer mapping), `sam` on PATH, the
pass-through options, every local path `sam deploy` will package (exists, exact case), then
`paycli validate`'s own entry point for the chosen region (translation, cfn-lint on both forms
with every rule validate applies, the state machine, the handlers). A dry run reports them all
and the exact `sam deploy` command it would run; a real deploy stops at the first failed one.
Credentials cannot be checked without calling STS, so a dry run says it did not.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paycli.core.deploy import (
    SAM_MISSING_HINT,
    DeployOptions,
    deploy_options,
    sam_deploy_command,
)
from paycli.core.errors import ConfigError, PaycliError
from paycli.core.regions import RegionSupport, check_region
from paycli.core.settings import Settings

TEMPLATE_NAME = "template.yaml"


@dataclass(frozen=True)
class Step:
    """One check of the rehearsal."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Rehearsal:
    """Every check, and the command a deploy would run."""

    region: str
    steps: tuple[Step, ...]
    command: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    def as_dict(self) -> dict[str, Any]:
        """The `--json` shape: ok, region, steps [{name, ok, detail}], command (argv list)."""
        return {
            "ok": self.ok,
            "region": self.region,
            "steps": [{"name": s.name, "ok": s.ok, "detail": s.detail} for s in self.steps],
            "command": list(self.command),
            "command_line": shlex.join(self.command),
        }


@dataclass(frozen=True)
class LoadedStack:
    """The SAM template as written and as `sam deploy` would submit it (offline translation)."""

    directory: Path
    template: dict[str, Any]
    translated: dict[str, Any]

    @property
    def template_path(self) -> Path:
        return self.directory / TEMPLATE_NAME


def load_stack(directory: Path, region: str) -> LoadedStack:
    """Parse and translate the template; a template that does not translate is a ConfigError."""
    from paycli.lint.cfn import (  # noqa: PLC0415 - heavy
        load_template,
        translate_template,
    )

    path = directory / TEMPLATE_NAME
    template, findings = load_template(path.read_text(encoding="utf-8"))
    translated, more = translate_template(template, region=region) if template else (None, [])
    if template is None or translated is None:
        first = (findings + more)[0].message if findings + more else "unreadable"
        raise ConfigError(
            f"{path} does not translate: {first}", hint="run `paycli validate` for every finding"
        )
    return LoadedStack(directory, template, translated)


def require_region(stack: LoadedStack, region: str) -> RegionSupport:
    """The region check a deploy runs first: a ConfigError naming everything that is missing."""
    support = check_region(region, stack.template, stack.translated)
    if not support.ok:
        raise ConfigError(
            f"cannot deploy to {region}: " + "; ".join(support.problems),
            hint="choose another region with --region (e.g. us-east-1, eu-west-1)",
        )
    return support


#: AWS keeps at least this much of an account's Lambda concurrency unreserved.
MIN_UNRESERVED_CONCURRENCY = 100
LOGGING_ROLE_HINT = (
    "create a role that apigateway.amazonaws.com may assume, with the managed policy "
    "AmazonAPIGatewayPushToCloudWatchLogs, then `aws apigateway update-account "
    "--patch-operations op=replace,path=/cloudwatchRoleArn,value=ROLE_ARN` (once per region)"
)
ACCOUNT_NOT_CHECKED = (
    "not checked: a dry run calls no AWS API (credentials, API Gateway's CloudWatch Logs role, "
    "Lambda concurrency)"
)


def reserved_concurrency(template: Mapping[str, Any], overrides: Mapping[str, str]) -> int:
    """The Lambda concurrency the stack reserves (ReservedConcurrentExecutions, parameters
    resolved from the overrides or their defaults)."""
    parameters = template.get("Parameters") or {}
    total = 0
    for resource in (template.get("Resources") or {}).values():
        value: Any = (resource.get("Properties") or {}).get("ReservedConcurrentExecutions")
        if isinstance(value, dict) and "Ref" in value:
            name = str(value["Ref"])
            value = overrides.get(name, parameters.get(name, {}).get("Default", 0))
        total += int(value or 0)
    return total


def account_problems(
    *, logging_role: str | None, concurrency_limit: int, reserved: int, region: str
) -> list[ConfigError]:
    """What the account lacks for this stack: API access logging needs the account's API
    Gateway CloudWatch Logs role ("CloudWatch Logs role ARN must be set in account settings to
    enable logging"); reservations must leave 100 of the concurrency limit unreserved."""
    problems = []
    if not logging_role:
        problems.append(
            ConfigError(
                f"API Gateway in {region} has no CloudWatch Logs role, which the API's access "
                "logging needs (the stage would fail to create)",
                hint=LOGGING_ROLE_HINT,
            )
        )
    if concurrency_limit - reserved < MIN_UNRESERVED_CONCURRENCY:
        problems.append(
            ConfigError(
                f"the account's Lambda concurrency limit in {region} is {concurrency_limit}: this "
                f"stack reserves {reserved} and AWS keeps {MIN_UNRESERVED_CONCURRENCY} unreserved",
                hint="lower --parameter-overrides DeductAmountConcurrency=N, or ask for a higher "
                "Lambda concurrency quota",
            )
        )
    return problems


def packaged_paths(template: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(who, local path) for every CodeUri/DefinitionUri `sam deploy` zips and uploads."""
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    found: list[tuple[str, str]] = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        kind, props = resource.get("Type"), resource.get("Properties") or {}
        if kind == "AWS::Serverless::Function":
            uri = props.get("CodeUri", globals_fn.get("CodeUri"))
            key = "CodeUri"
        elif kind == "AWS::Serverless::StateMachine":
            uri, key = props.get("DefinitionUri"), "DefinitionUri"
        else:
            continue
        if isinstance(uri, str) and not uri.startswith("s3://"):
            found.append((f"{logical_id}.{key}", uri))
    return found


def _package_step(stack: LoadedStack) -> Step:
    from paycli.lint.code import resolve_exact  # noqa: PLC0415

    problems: list[str] = []
    paths = packaged_paths(stack.template)
    for who, uri in paths:
        resolved, issues = resolve_exact(stack.directory, uri)
        problems += [f"{who} {uri!r}: {text}" for _code, text in issues]
        if resolved is None and not issues:
            problems.append(f"{who} {uri!r} does not exist")
    unique = sorted({uri for _who, uri in paths})
    detail = "; ".join(problems) or f"{len(paths)} artifact(s) from {', '.join(unique)}"
    return Step("package", not problems, detail)


def _validate_step(stack: LoadedStack, region: str, stack_name: str) -> Step:
    """`paycli validate`'s entry point, for the deploy's region and stack name (its deploy
    rules come in with it: names are checked under the stack name the deploy uses)."""
    from paycli.lint.validate import validate_stack  # noqa: PLC0415

    report = validate_stack(stack.directory, region=region, stack_name=stack_name)
    errors = [f"{f.code} {f.location}: {f.message}" for f in report.errors]
    warnings = len(report.findings) - len(report.errors)
    summary = f"{len(errors)} error(s), {warnings} other finding(s) (cfn-lint for {region})"
    return Step("validate", report.ok, "; ".join([summary, *errors[:5]]))


def _options_step(
    stack: LoadedStack, overrides: Sequence[str], tags: Sequence[str]
) -> tuple[Step, DeployOptions]:
    try:
        options = deploy_options(stack.template, overrides, tags)
    except PaycliError as exc:
        return Step("options", False, exc.message), DeployOptions()
    shown = [f"{k}={v}" for k, v in {**options.parameter_overrides, **options.tags}.items()]
    return Step("options", True, ", ".join(shown) or "none"), options


def rehearse(
    directory: Path,
    settings: Settings,
    region: str,
    *,
    overrides: Sequence[str] = (),
    tags: Sequence[str] = (),
    confirm: bool = True,
) -> Rehearsal:
    """Every check a deploy runs before CloudFormation, offline, and the command it would run."""
    stack = load_stack(directory, region)
    support = check_region(region, stack.template, stack.translated)
    steps = [
        Step("region", support.ok, "; ".join(support.problems) or f"{region} has every resource")
    ]
    sam = shutil.which("sam")
    steps.append(Step("sam", sam is not None, sam or f"`sam` not on PATH: {SAM_MISSING_HINT}"))
    steps.append(Step("credentials", True, ACCOUNT_NOT_CHECKED))
    options_step, options = _options_step(stack, overrides, tags)
    steps += [options_step, _package_step(stack)]
    if support.ok:
        steps.append(_validate_step(stack, region, settings.stack_name))
    command = sam_deploy_command(
        sam or "sam", stack.template_path, settings, region, confirm=confirm, options=options
    )
    return Rehearsal(region, tuple(steps), tuple(command))
