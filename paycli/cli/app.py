"""The root command: global options, sub-command groups, and the one error boundary.

Nothing here (or in any cli module at import time) imports boto3, moto or the local stack:
`paycli --help` must stay fast. Commands import what they need inside their bodies.
"""

import sys
from typing import Annotated, Any

import typer

import paycli
from paycli.cli import (
    accounts,
    audit,
    cost,
    demo,
    deploy,
    dlq,
    executions,
    iam,
    load,
    local,
    logs,
    pay,
    payments,
    soak,
    validate,
)
from paycli.cli._common import (
    PlainGroup,
    ProfileOpt,
    RegionOpt,
    StackNameOpt,
    TargetOpt,
    TimeZoneOpt,
    app_dir,
    refuse_stack_name_on_local,
)
from paycli.core.context import AppContext
from paycli.core.errors import PaycliError, StoppedByUserError, to_paycli_error
from paycli.core.settings import resolve_settings


def _click_flow() -> tuple[type[BaseException], ...]:
    """click's and typer's own control flow (usage errors, --help, Exit, Abort): they print
    and exit. typer 0.29 vendors click (its exceptions are TyperExceptions); older typers run on
    click itself, which they have imported by now. Importing click here when typer does not use
    it cost a fifth of `paycli --help` (benchmarks/cli_startup.py)."""
    flow: list[type[BaseException]] = [typer.Exit, typer.Abort, typer.exceptions.TyperException]
    click = sys.modules.get("click")
    if click is not None:
        exceptions = click.exceptions
        flow += [exceptions.ClickException, exceptions.Exit, exceptions.Abort]
    return tuple(flow)


_CLICK_FLOW = _click_flow()
_CLICKS = [m for m in (getattr(typer, "_click", None), sys.modules.get("click")) if m is not None]
_USAGE_ERRORS = tuple(m.exceptions.UsageError for m in _CLICKS)
# A group run with no sub-command shows its help (exit 2): that one keeps click's own form.
_HELP_SHOWN = tuple(
    cls for m in _CLICKS if (cls := getattr(m.exceptions, "NoArgsIsHelpError", None)) is not None
)


def _one_line(exc: Any) -> Any:
    """click prints a usage error as four lines (usage, "Try ... for help.", a blank line, the
    error) and typer 0.29 words its checks as pydantic does ("Value error, ..."). An operator
    gets one line, `Error: <what> (see '<command> -h')`, and exit 2, like every other error.
    A plain UsageError with no context prints just that line."""
    message = exc.format_message().replace("Value error, ", "")
    ctx = exc.ctx
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        message = f"{message} (see '{ctx.command_path} {ctx.help_option_names[0]}')"
    usage_error = next(cls for cls in _USAGE_ERRORS if isinstance(exc, cls))
    return usage_error(message, ctx=None)


#: What Ctrl-C prints for a command that has nothing of its own to say (a long command says
#: what it sent or moved: see StoppedByUserError's uses).
STOPPED = "stopped by Ctrl-C before it finished"


def report_error(error: PaycliError) -> None:
    """The one place that prints an error: `Error: ...` and an optional `Hint: ...`, stderr.
    Ctrl-C is no error: `Interrupted: ...` says what was done before it."""
    label = "Interrupted" if isinstance(error, StoppedByUserError) else "Error"
    typer.echo(f"{label}: {error.message}", err=True)
    if error.hint:
        typer.echo(f"Hint: {error.hint}", err=True)


class PaycliGroup(PlainGroup):
    """The root group: turns every failure into one line and an exit code (core.errors' map).

    Doing it here, around every sub-command, makes CliRunner tests see the same exit codes and
    messages as a user's shell. `--debug` re-raises with the traceback instead.
    """

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        """Parse the root's options: a usage error is one line (`_one_line`)."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except _HELP_SHOWN:
            raise
        except _USAGE_ERRORS as exc:
            raise _one_line(exc) from None

    def invoke(self, ctx: Any) -> Any:
        """Run the chosen command; map every failure but click's own flow."""
        try:
            return super().invoke(ctx)
        except _HELP_SHOWN:
            raise
        except _USAGE_ERRORS as exc:
            raise _one_line(exc) from None
        except _CLICK_FLOW:
            raise
        except KeyboardInterrupt:  # typer would exit 130 without a word
            obj = ctx.obj
            if isinstance(obj, AppContext) and obj.settings.debug:
                raise
            report_error(StoppedByUserError(STOPPED))
            raise typer.Exit(int(StoppedByUserError.exit_code)) from None
        except Exception as exc:
            obj = ctx.obj
            debug = isinstance(obj, AppContext) and obj.settings.debug
            if debug:
                raise
            error = to_paycli_error(exc)
            report_error(error)
            raise typer.Exit(int(error.exit_code)) from None


app = typer.Typer(
    name="paycli",
    cls=PaycliGroup,
    help="Deploy and operate the paycli payment pipeline, on AWS or on the embedded local stack.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # no tracebacks with locals: they would leak secrets
    rich_markup_mode=None,  # plain help: rich would add ~100 ms to every --help
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"paycli {paycli.__version__}")
        raise typer.Exit


@app.callback()
def root(
    ctx: typer.Context,
    *,
    target: TargetOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    stack_name: StackNameOpt = None,
    time_zone: TimeZoneOpt = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """paycli: payments in, settled balances out.

    Settings resolve flag > environment > config file (written by `deploy --target aws`) >
    default. Example: paycli --target aws --region eu-west-1 status
    """
    if isinstance(ctx.obj, AppContext):  # injected by a test: keep it
        refuse_stack_name_on_local(target or ctx.obj.settings.target, stack_name)
        return
    flags = {"target": target, "profile": profile, "region": region, "stack_name": stack_name}
    flags["time_zone"] = time_zone
    ctx.obj = AppContext(resolve_settings(flags=flags, app_dir=app_dir(), debug=debug))
    refuse_stack_name_on_local(ctx.obj.settings.target, stack_name)


app.add_typer(deploy.app)  # deploy, destroy, status at the top level
app.add_typer(pay.app)  # pay at the top level
app.add_typer(logs.app)  # logs at the top level
app.add_typer(demo.app)  # demo at the top level
app.add_typer(validate.app)  # validate at the top level
app.add_typer(audit.app)  # audit at the top level
app.add_typer(load.app)  # load at the top level
app.add_typer(soak.app)  # soak at the top level
app.add_typer(cost.app)  # cost at the top level
app.add_typer(accounts.app, name="accounts")
app.add_typer(payments.app, name="payments")
app.add_typer(executions.app, name="executions")
app.add_typer(dlq.app, name="dlq")
app.add_typer(local.app, name="local")
app.add_typer(iam.app, name="iam")


def main() -> None:
    """Console entry point. Errors raised before a command runs (settings) are mapped here."""
    debug = "--debug" in sys.argv
    try:
        app()
    except Exception as exc:
        if debug:
            raise
        error = to_paycli_error(exc)
        report_error(error)
        sys.exit(int(error.exit_code))
