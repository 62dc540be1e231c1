"""`paycli status`: what is deployed where, and how the pipeline is doing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paycli.core.dlq import DlqStats


@dataclass(frozen=True)
class StatusReport:
    """The stack's outputs, queue/DLQ depths and execution counts."""

    target: str
    where: str
    outputs: dict[str, str]
    dlq: DlqStats
    executions_running: int
    executions_failed: int
    counts_capped: bool  # True when a count stopped at the cap (there are at least that many)

    def view(self) -> dict[str, Any]:
        """Stable JSON fields."""
        return {
            "target": self.target,
            "where": self.where,
            "outputs": self.outputs,
            **self.dlq.view(),
            "executions_running": self.executions_running,
            "executions_failed": self.executions_failed,
            "counts_capped": self.counts_capped,
        }
