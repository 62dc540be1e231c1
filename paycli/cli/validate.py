"""`paycli validate`: the offline checks of the SAM app, as a command (CI runs it too).

Thin: the checks live in `paycli.core.validate`, imported inside the command because it loads
cfn-lint, samtranslator and moto's ASL parser (about 2 s), which `paycli --help` must not pay.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from paycli.core.errors import ExitCode, NotFoundError

if TYPE_CHECKING:
    from paycli.core.validate import Finding, ValidationReport


def validate(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON on stdout.")
    ] = False,
    stack_dir: Annotated[
        Path | None,
        typer.Option(
            "--stack-dir",
            help="Directory holding template.yaml. Default: the stack bundled with paycli.",
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Check the template, the state machine and the handler code, offline.

    cfn-lint on the SAM template and on its translation, the state machine after its
    substitutions (targets, reachability, moto's parser), and every CodeUri and Handler on disk
    with exact case. Exits 1 when any check finds an error; warnings do not fail.

    Example: paycli validate --json | jq '.findings[] | select(.severity == "error")'
    """
    from paycli.core.validate import (  # noqa: PLC0415 - heavy: cfn-lint, samtranslator, moto
        TEMPLATE_NAME,
        find_stack_dir,
        validate_stack,
    )

    directory = stack_dir or find_stack_dir()
    if not (directory / TEMPLATE_NAME).is_file():
        raise NotFoundError(
            f"no {TEMPLATE_NAME} in {directory}",
            hint="pass --stack-dir with the directory of the SAM app",
        )
    typer.echo(f"Validating {directory} ...", err=True)
    report = validate_stack(directory)
    typer.echo(json.dumps(report.as_dict(), indent=2) if json_output else _human(report))
    if not report.ok:
        raise typer.Exit(int(ExitCode.FAILURE))


def _human(report: ValidationReport) -> str:
    """One line per finding, then a one-line verdict."""
    lines = [_line(finding) for finding in report.findings]
    warnings = len(report.findings) - len(report.errors)
    verdict = "OK" if report.ok else "FAILED"
    lines.append(f"{verdict}: {len(report.errors)} error(s), {warnings} other finding(s)")
    return "\n".join(lines)


def _line(finding: Finding) -> str:
    """`error    E1010 [cfn-lint (translated)] location: message`."""
    return (
        f"{finding.severity!s:<8} {finding.code} [{finding.source}] "
        f"{finding.location}: {finding.message}"
    )
