"""Where paycli acts: the resolved target, AWS profile/region and stack name.

Resolved once per invocation by the root command, in this order: command-line flag > environment
variable > config file > default. The config file is written by `paycli deploy --target aws` so
that later commands find the stack they deployed. Plain stdlib: no typer, no boto3.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Literal, cast

from paycli.core.errors import ConfigError, UsageError

Target = Literal["local", "aws"]
TARGETS: Final = ("local", "aws")
DEFAULT_STACK_NAME: Final = "paycli"
CONFIG_FILE_NAME: Final = "config.toml"

# Environment variable -> setting name. AWS_* are the SDK's own names, so a shell already set up
# for the AWS CLI works unchanged.
ENV_VARS: Final[Mapping[str, str]] = {
    "PAYCLI_TARGET": "target",
    "AWS_PROFILE": "profile",
    "AWS_REGION": "region",
    "AWS_DEFAULT_REGION": "region",
    "PAYCLI_STACK_NAME": "stack_name",
    "PAYCLI_TIME_ZONE": "time_zone",
}
_DEPLOY_KEYS: Final = ("target", "profile", "region", "stack_name")  # what deploy remembers
_CONFIG_KEYS: Final = (*_DEPLOY_KEYS, "time_zone")  # time_zone: the user writes it
TIME_ZONES: Final = ("utc", "local")


@dataclass(frozen=True)
class Settings:
    """The resolved, immutable settings of one paycli invocation (commands read, never write)."""

    target: Target = "local"
    profile: str | None = None
    region: str | None = None
    stack_name: str = DEFAULT_STACK_NAME
    debug: bool = False
    time_zone: Literal["utc", "local"] = "utc"  # of table times; JSON is always UTC
    config_path: Path = field(default_factory=lambda: config_dir() / CONFIG_FILE_NAME)

    def describe(self) -> str:
        """One human phrase naming the target, for the header of every human output."""
        if self.target == "local":
            return "local stack"
        where = self.region or "default region"
        profile = f", profile {self.profile}" if self.profile else ""
        return f"AWS stack {self.stack_name} ({where}{profile})"


def config_dir(env: Mapping[str, str] | None = None, app_dir: Path | None = None) -> Path:
    """$PAYCLI_HOME when set (tests, CI, several installs side by side), else the app dir.

    `app_dir` is the platform's per-user config directory (the CLI passes `typer.get_app_dir`);
    without it, the XDG default is used so that core code never needs Typer.
    """
    env = os.environ if env is None else env
    if home := env.get("PAYCLI_HOME"):
        return Path(home)
    if app_dir is not None:
        return app_dir
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "paycli"


def read_config(path: Path) -> dict[str, str]:
    """The config file's known keys; a missing file is an empty config, a broken one an error."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:  # binary, or not TOML
        raise ConfigError(
            f"cannot read config file {path}: {exc}", hint="fix or delete the file"
        ) from exc
    return {key: str(data[key]) for key in _CONFIG_KEYS if data.get(key) not in (None, "")}


def write_config(settings: Settings) -> Path:
    """Remember target, profile, region and stack name (what `deploy --target aws` used)."""
    lines = ["# Written by `paycli deploy`; flags and environment variables override it."]
    kept = {k: v for k, v in read_config(settings.config_path).items() if k not in _DEPLOY_KEYS}
    for key, value in kept.items():  # the user's own settings (time_zone) survive a deploy
        lines.append(f"{key} = {json.dumps(value)}")
    for key in _DEPLOY_KEYS:
        value = getattr(settings, key)
        if value:
            # A JSON string is a valid TOML basic string (same escapes for what names contain).
            lines.append(f"{key} = {json.dumps(str(value))}")
    settings.config_path.parent.mkdir(parents=True, exist_ok=True)
    settings.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return settings.config_path


def resolve_settings(
    *,
    flags: Mapping[str, str | None],
    env: Mapping[str, str] | None = None,
    app_dir: Path | None = None,
    debug: bool = False,
) -> Settings:
    """Flag > environment > config file > default, for every setting."""
    env = os.environ if env is None else env
    path = config_dir(env, app_dir) / CONFIG_FILE_NAME
    values: dict[str, str] = dict(read_config(path))
    for var, key in ENV_VARS.items():
        if env.get(var) and not (var == "AWS_DEFAULT_REGION" and env.get("AWS_REGION")):
            values[key] = env[var]
    values.update({key: value for key, value in flags.items() if value})
    target = values.get("target", "local").lower()
    if target not in TARGETS:
        raise UsageError(f"unknown target {target!r}", hint="use --target local or --target aws")
    zone = values.get("time_zone", "utc").lower()
    if zone not in TIME_ZONES:
        raise UsageError(f"unknown time zone setting {zone!r}", hint="use utc or local")
    return Settings(
        target=cast(Target, target),
        profile=values.get("profile"),
        region=values.get("region"),
        stack_name=values.get("stack_name", DEFAULT_STACK_NAME),
        debug=debug,
        time_zone=cast(Literal["utc", "local"], zone),
        config_path=path,
    )


def with_target(settings: Settings, target: Target) -> Settings:
    """The same settings aimed at another target (`deploy --target`, `demo` on local)."""
    return replace(settings, target=target)
