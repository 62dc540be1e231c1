"""Full-jitter exponential backoff for the domain's retry loops (intake, settlement, batch
reads), with its clock and randomness as parameters so tests never sleep and can choose.

Before retry n (1, 2, ...) it waits a uniformly random time in [0, min(cap, base * 2**(n-1))]:
the jitter spreads the retries of requests racing for one hot item (AWS Architecture Blog,
"Exponential Backoff And Jitter").
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """How long to wait before each retry; `sleep` and `uniform` are injectable."""

    base_seconds: float
    cap_seconds: float = math.inf
    sleep: Callable[[float], None] = time.sleep
    uniform: Callable[[float, float], float] = random.uniform

    def ceiling(self, retry: int) -> float:
        """The longest wait before retry `retry` (1-based)."""
        return float(min(self.cap_seconds, self.base_seconds * 2 ** (retry - 1)))

    def pause(self, retry: int) -> None:
        """Wait before retry `retry` (1-based)."""
        self.sleep(self.uniform(0, self.ceiling(retry)))
