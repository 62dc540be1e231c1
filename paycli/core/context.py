"""The per-invocation context the root command puts in `ctx.obj` (convention 3).

Holds the resolved Settings and builds the target's services on first use, so `--help` and
usage errors never import boto3. Tests inject an AppContext whose target has preset outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from paycli.core.settings import Settings

if TYPE_CHECKING:
    from paycli.core.aws import AwsTarget
    from paycli.core.services import Services


@dataclass
class AppContext:
    """Settings plus the lazily built target (AWS session/clients/outputs)."""

    settings: Settings
    target: AwsTarget | None = None

    def services(self) -> Services:
        """The service factory for the settings' target (built once per invocation)."""
        from paycli.core.aws import AwsTarget  # noqa: PLC0415 - boto3 loads only when needed
        from paycli.core.services import Services  # noqa: PLC0415

        if self.target is None:
            self.target = AwsTarget(self.settings)
        return Services(self.target)
