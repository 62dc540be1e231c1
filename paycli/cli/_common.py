"""What every command module shares: the --json option, the context, the renderer.

No boto3, moto or rich here: those load inside the commands that need them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from paycli.core.context import AppContext
from paycli.core.settings import Settings, resolve_settings

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
    merged = {k: v or getattr(base.settings, k) for k, v in flags.items()}
    settings: Settings = resolve_settings(
        flags=merged, app_dir=base.settings.config_path.parent, debug=base.settings.debug
    )
    settings = replace(settings, config_path=base.settings.config_path)
    same_target = base.target is not None and settings == base.settings
    return AppContext(settings, base.target if same_target else None)


def services(ctx: typer.Context) -> Services:
    """The service factory for this invocation's target."""
    return app_context(ctx).services()


def renderer(ctx: typer.Context | AppContext, json_output: bool = False) -> Renderer:
    """The renderer, naming the target in human output."""
    from paycli.render import Renderer  # noqa: PLC0415 - rich loads only when printing

    app = ctx if isinstance(ctx, AppContext) else app_context(ctx)
    return Renderer(json_output=json_output, where=app.settings.describe())
