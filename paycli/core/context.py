"""The per-invocation context the root command puts in `ctx.obj` (convention 3).

Holds the resolved Settings and builds the target's services on first use, so `--help` and
usage errors never import boto3. Tests inject an AppContext whose target has preset outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from paycli.core.settings import Settings

if TYPE_CHECKING:
    from paycli.core.aws import AwsTarget
    from paycli.core.services import Services


@dataclass(frozen=True)
class AppContext:
    """Settings plus the target (AWS session/clients/outputs): injected, or built on first use.
    Frozen: a command reads it, never changes it."""

    settings: Settings
    target: AwsTarget | None = None

    @cached_property
    def resolved_target(self) -> AwsTarget:
        """The injected target, else one for the settings (built once per invocation)."""
        from paycli.core.aws import AwsTarget  # noqa: PLC0415 - boto3 loads only when needed

        return self.target if self.target is not None else AwsTarget(self.settings)

    def services(self) -> Services:
        """The service factory for the settings' target."""
        from paycli.core.services import Services  # noqa: PLC0415

        return Services(self.resolved_target)
