"""`paycli local faults set|show|clear|export-fis`: seeded fault plans on the local stack.

Thin: plans are read and validated by `paycli.core.faultplan`, set in the running daemon by
`paycli.local.control`, exported by `paycli.core.fis` (all imported in the bodies).
"""

from pathlib import Path
from typing import Annotated, Any

import typer

from paycli.cli._common import JsonOpt

app = typer.Typer(
    help="Seeded fault plans on the local stack: set, show (with counts), clear, export to FIS."
    "\n\nExample: paycli local faults set all --seed 7",
    no_args_is_help=True,
)

PlanArg = Annotated[
    str,
    typer.Argument(metavar="PLAN", help="A YAML/JSON plan file, or a built-in plan: all, none."),
]
SeedOpt = Annotated[
    int | None, typer.Option("--seed", help="Use this seed instead of the plan's own.")
]


def _show(json_output: bool, data: dict[str, Any]) -> None:
    from paycli.render import Renderer  # noqa: PLC0415 - rich loads only when printing

    out = Renderer(json_output=json_output)
    out.emit(data, out.faults_text)


@app.command("set")
def set_(plan: PlanArg, *, seed: SeedOpt = None, json_output: JsonOpt = False) -> None:
    """Inject a fault plan into the running local stack (replaces the current one; the fired
    counts start from zero).

    Example: paycli local faults set all --seed 7
    """
    from paycli.core.faultplan import load_plan  # noqa: PLC0415
    from paycli.local import control  # noqa: PLC0415 - keeps `paycli --help` fast

    _show(json_output, control.set_fault_plan(load_plan(plan, seed=seed).to_json()))


@app.command()
def show(*, json_output: JsonOpt = False) -> None:
    """The plan in force and the faults fired so far, by kind.

    Example: paycli local faults show --json | jq .fired
    """
    from paycli.local import control  # noqa: PLC0415

    _show(json_output, control.faults())


@app.command()
def clear(*, json_output: JsonOpt = False) -> None:
    """Stop injecting faults (the fired counts stay readable until the next `set`).

    Example: paycli local faults clear
    """
    from paycli.local import control  # noqa: PLC0415

    _show(json_output, control.set_fault_plan(None))


@app.command("export-fis")
def export_fis(
    plan: PlanArg,
    *,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Write an AWS FIS experiment template (CloudFormation YAML) for the plan's Lambda faults
    (aws:lambda:invocation-error, aws:lambda:invocation-add-delay). The functions need the FIS
    Lambda extension layer and an S3 configuration location: see the template's Metadata.

    Example: paycli local faults export-fis all --output fis-experiment.yaml
    """
    import yaml  # noqa: PLC0415

    from paycli.core.errors import UsageError  # noqa: PLC0415
    from paycli.core.faultplan import load_plan  # noqa: PLC0415
    from paycli.core.fis import experiment_template  # noqa: PLC0415

    text = yaml.safe_dump(experiment_template(load_plan(plan)), sort_keys=False, width=100)
    if output is None:
        typer.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror}") from None
        typer.echo(f"Wrote {output}", err=True)
