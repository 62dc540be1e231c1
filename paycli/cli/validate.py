"""`paycli validate`: the offline checks of the SAM app, as a command (CI runs it too).

Thin: the checks live in `paycli.lint`, imported inside the command because it loads
cfn-lint, samtranslator and moto's ASL parser (about 2 s), which `paycli --help` must not pay.
It needs no target: it reads files only, so it works without AWS credentials or a local stack.
"""

from pathlib import Path
from typing import Annotated

import typer

from paycli.cli._common import JsonOpt, RegionOpt, StackNameOpt
from paycli.core.context import AppContext
from paycli.core.errors import ExitCode, NotFoundError, UsageError

app = typer.Typer()


@app.command()
def validate(
    ctx: typer.Context,
    *,
    stack_dir: Annotated[
        Path | None,
        typer.Option(
            "--stack-dir",
            help="Directory holding template.yaml. Default: the stack bundled with paycli.",
        ),
    ] = None,
    region: RegionOpt = None,
    stack_name: StackNameOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Check the template, the state machine and the handler code, offline.

    cfn-lint on the SAM template and on its offline translation (which catches broken !Ref and
    !GetAtt the SAM form lets through), the state machine after its substitutions (every
    target a real state, every state reachable, moto's parser), and every CodeUri and Handler
    on disk with exact case. Exits 1 when a check finds an error; warnings do not fail.

    Example: paycli validate --json | jq '.findings[] | select(.severity == "error")'
    """
    from paycli.core.regions import known_regions  # noqa: PLC0415
    from paycli.lint.findings import DEFAULT_REGION, TEMPLATE_NAME  # noqa: PLC0415
    from paycli.lint.validate import (  # noqa: PLC0415 - heavy: cfn-lint, samtranslator, moto
        find_stack_dir,
        validate_stack,
    )
    from paycli.render import Renderer  # noqa: PLC0415 - rich loads only when printing

    directory = stack_dir or find_stack_dir()
    if not (directory / TEMPLATE_NAME).is_file():
        raise NotFoundError(
            f"no {TEMPLATE_NAME} in {directory}",
            hint="pass --stack-dir with the directory of the SAM app",
        )
    app_ctx: AppContext = ctx.obj
    settings = app_ctx.settings
    where = region or settings.region or DEFAULT_REGION
    if where not in known_regions():  # cfn-lint would "crash" with its list of ~40 regions
        raise UsageError(f"{where!r} is not a region cfn-lint knows", hint="e.g. eu-west-1")
    out = Renderer(json_output=json_output)
    with out.spinner(f"Validating {directory} ..."):
        report = validate_stack(
            directory,
            region=where,
            stack_name=stack_name or settings.stack_name,
        )
    out.emit(report.as_dict(), out.findings_table)
    if not report.ok:
        raise typer.Exit(int(ExitCode.FAILURE))
