"""What every command module shares: the --json option, the context, the renderer.

No boto3, moto or rich here: those load inside the commands that need them.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from paycli.core.context import AppContext
from paycli.core.settings import DEFAULT_STACK_NAME, Settings, resolve_settings

if TYPE_CHECKING:
    from paycli.core.services import Services
    from paycli.render import Renderer

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print JSON on stdout (stable field names) for scripts.")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
TargetOpt = Annotated[
    str | None,
    typer.Option("--target", "-t", help="local (embedded stack) or aws. Env: PAYCLI_TARGET."),
]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="AWS profile (aws target). Env: AWS_PROFILE.")
]
RegionOpt = Annotated[
    str | None, typer.Option("--region", help="AWS region (aws target). Env: AWS_REGION.")
]
StackNameOpt = Annotated[
    str | None,
    typer.Option("--stack-name", help="CloudFormation stack name. Env: PAYCLI_STACK_NAME."),
]
#: `paycli load` and `paycli soak`: how many requests the load driver keeps in flight.
ConcurrencyOpt = Annotated[
    int, typer.Option("--concurrency", "-c", help="Requests in flight at most.")
]


TimeZoneOpt = Annotated[
    str | None,
    typer.Option(
        "--time-zone",
        metavar="utc|local",
        help="Zone of the times in tables (JSON is always UTC). Env: PAYCLI_TIME_ZONE.",
    ),
]

#: The root's string options: plain strings, no validation to do.
GLOBAL_STRING_OPTIONS = frozenset({"target", "profile", "region", "stack_name", "time_zone"})


class PlainGroup(TyperGroup):
    """A group whose flags and global string options skip typer's pydantic coercion.

    typer 0.29 coerces option values through a pydantic TypeAdapter (importing pydantic, ~60 ms
    of a ~200 ms start-up) unless the value is already a bool, so an unset flag of a group on
    the way to a sub-command (--help, --install-completion) or a root string option costs the
    import before anything runs, `paycli <group> --help` included. Those values need no
    validation: they get typer's pass-through coercion. Best effort on a typer internal: if it
    changes, everything still works and only costs the import again (test_cli_app checks that
    pydantic stays unloaded).
    """

    def get_params(self, ctx: Any) -> list[Any]:
        """The group's parameters (help and completion options included), coerced plainly."""
        params: list[Any] = super().get_params(ctx)
        _plain_coercion(params)
        return params


def _plain_coercion(params: list[Any]) -> None:
    try:
        from typer._coercion import PassThroughRuntimeParam  # noqa: PLC0415
    except ImportError:  # pragma: no cover - another typer version
        return
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", 0) is not None:
            continue
        if descriptor.annotation is bool:
            plain: type = bool
        elif param.name in GLOBAL_STRING_OPTIONS:
            plain = str
        else:
            continue
        info = descriptor.parameter_info
        param._runtime_param = PassThroughRuntimeParam(parameter_info=info, annotation=plain)


T = TypeVar("T")


def stoppable(work: Callable[[threading.Event], T], on_stop: Callable[[], None]) -> tuple[T, bool]:
    """Run `work(stop)` in a thread and return its result and whether Ctrl-C stopped it.

    The first Ctrl-C sets `stop` (work sends nothing new, finishes what it holds) and calls
    `on_stop` to say so; the work's result is still returned. A second Ctrl-C raises
    KeyboardInterrupt at once, for a caller to say what was done so far.
    """
    stop, done = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = work(stop)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread below
            outcome["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=run, name="paycli-work", daemon=True)
    started = False
    while not done.is_set():
        try:  # a plain sleep: Ctrl-C inside Thread.join can leave the thread looking ended
            if not started:
                started = True
                thread.start()
            time.sleep(0.1)
        except KeyboardInterrupt:
            if stop.is_set():
                raise
            stop.set()
            on_stop()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"], stop.is_set()


def confirm(question: str) -> None:
    """Ask `question` (y/N) on stderr; no answer aborts (exit 1). With no terminal on stdin
    there is nobody to ask: refuse at once (exit 2) and say how to confirm instead."""
    can_ask(question)
    typer.confirm(question, abort=True, err=True)


def can_ask(what: str) -> None:
    """Refuse (exit 2, with the --yes hint) when a prompt would have no terminal to ask on:
    call it before any lookup, so a script without --yes fails at once."""
    if not sys.stdin.isatty():
        from paycli.core.errors import UsageError  # noqa: PLC0415

        raise UsageError(
            f"not confirmed: {what} (no terminal on stdin to ask)",
            hint="pass --yes to confirm without a prompt",
        )


def app_context(ctx: typer.Context) -> AppContext:
    """The AppContext the root callback stored (or a test injected)."""
    obj = ctx.find_root().obj
    if not isinstance(obj, AppContext):  # a sub-app invoked on its own, e.g. in a test
        obj = AppContext(resolve_settings(flags={}, app_dir=app_dir()))
        ctx.find_root().obj = obj
    return obj


def app_dir() -> Path:
    """The platform's per-user config directory for paycli ($PAYCLI_HOME overrides it)."""
    return Path(typer.get_app_dir("paycli"))


def override_target(
    ctx: typer.Context,
    target: str | None = None,
    profile: str | None = None,
    region: str | None = None,
    stack_name: str | None = None,
) -> AppContext:
    """Per-command --target/--profile/--region/--stack-name (deploy, destroy, status).

    Options given after the command win over the root's; without any, the root context is used.
    """
    base = app_context(ctx)
    flags = {"target": target, "profile": profile, "region": region, "stack_name": stack_name}
    if not any(flags.values()):
        return base
    refuse_stack_name_on_local(target or base.settings.target, stack_name)
    merged = {k: v or getattr(base.settings, k) for k, v in flags.items()}
    merged["time_zone"] = base.settings.time_zone
    settings: Settings = resolve_settings(
        flags=merged, app_dir=base.settings.config_path.parent, debug=base.settings.debug
    )
    settings = replace(settings, config_path=base.settings.config_path)
    same_target = base.target is not None and settings == base.settings
    return AppContext(settings, base.target if same_target else None)


def refuse_stack_name_on_local(target: str, stack_name: str | None) -> None:
    """An explicit --stack-name other than the local stack's own name is refused on the local
    target (exit 2): the embedded stack holds one stack, named `paycli`, so honouring another
    name would read and write that same stack under a name the operator did not ask for (it
    used to be ignored silently). PAYCLI_STACK_NAME and the config file, which an AWS setup
    writes, stay ignored on local so that `--target local` works in that shell."""
    if stack_name and target.lower() == "local" and stack_name != DEFAULT_STACK_NAME:
        from paycli.core.errors import UsageError  # noqa: PLC0415

        raise UsageError(
            f"--stack-name {stack_name!r} does not apply to the local target: the embedded"
            f" local stack holds one stack ({DEFAULT_STACK_NAME!r})",
            hint="drop --stack-name, or add --target aws",
        )


def services(ctx: typer.Context) -> Services:
    """The service factory for this invocation's target."""
    return app_context(ctx).services()


def renderer(ctx: typer.Context | AppContext, json_output: bool = False) -> Renderer:
    """The renderer, naming the target in human output."""
    from paycli.render import Renderer  # noqa: PLC0415 - rich loads only when printing

    app = ctx if isinstance(ctx, AppContext) else app_context(ctx)
    settings = app.settings
    local_time = settings.time_zone == "local"
    return Renderer(json_output=json_output, where=settings.describe(), local_time=local_time)
