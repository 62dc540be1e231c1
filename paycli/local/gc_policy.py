"""The daemon's garbage collector: what its pauses cost, and a policy that keeps them short.

CPython's cyclic collector stops every thread while it runs (it holds the GIL), and a full
(generation 2) collection walks every tracked container in the heap: moto, botocore, the
handlers and their clients (about 340,000 objects after a deploy), and the stored data, which
grows by about 100 tracked objects a payment (DynamoDB items and their attribute values). So
without a policy a full collection's pause grows with the data: measured up to 2.0 s over
2,000 payments on a busy machine.

`GcWatch.settle()` (after each deploy) collects once and freezes the survivors (heap.settle,
`gc.freeze()`: the permanent generation, which the collector never walks). With "full", the
default, the survivors of every later full collection are frozen too, so each one walks only
what was promoted since the one before, however large the stored data has grown. The price:
a reference cycle that was alive at a freeze and dies later is never collected. The
long-lived objects that die are dropped executions (execution_records cuts their cycle, so
reference counting frees them), replaced DynamoDB attribute values and deleted messages (no
cycles); what leaks is request plumbing that was in flight at a freeze. Measured over 2,000
payments: frozen objects grew by about 100 a payment, the stored data's own growth, and RSS
per payment was the same as with "start" (25.1 vs 25.2 KB).

`GcWatch` records each collection's pause per generation (`gc.callbacks`); the daemon's
health has them under "gc", and benchmarks/cores.py prints them after a run.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from paycli.local import heap

#: A pause at least this long is counted on its own: it shows in accept->terminal latency.
LONG_PAUSE_S: Final = 0.05


@dataclass
class _Generation:
    collections: int = 0
    total_s: float = 0.0
    max_s: float = 0.0
    long_pauses: int = 0
    collected: int = 0


@dataclass
class GcWatch:
    """Counts, total and longest pause of the collector's runs, per generation."""

    generations: list[_Generation] = field(default_factory=lambda: [_Generation() for _ in "012"])
    #: Freeze the survivors of every full collection (see `FREEZE_ENV`).
    refreeze: bool = False
    refreezes: int = 0
    _started: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def install(self) -> None:
        """Start recording (idempotent), with $PAYCLI_LOCAL_GC_THRESHOLD's thresholds if set."""
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)
        chosen = threshold()
        if chosen is not None:
            gc.set_threshold(*chosen)

    def settle(self) -> int:
        """After start-up or a deploy: freeze as $PAYCLI_LOCAL_GC_FREEZE says (heap.settle,
        and from then on after every full collection when "full"); the counts start again. The
        number of objects frozen."""
        mode = freeze_mode()
        if mode != "off":
            heap.settle()
        self.refreeze = mode == "full"
        with self._lock:  # the figures describe serving from here on, not start-up
            self.generations = [_Generation() for _ in "012"]
        return gc.get_freeze_count()

    def uninstall(self) -> None:
        """Stop recording."""
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        # The collector is not re-entrant and runs with the GIL held: one start at a time.
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        with self._lock:
            record = self.generations[info["generation"]]
            record.collections += 1
            record.total_s += pause
            record.max_s = max(record.max_s, pause)
            record.long_pauses += pause >= LONG_PAUSE_S
            record.collected += info.get("collected", 0)
        if self.refreeze and info["generation"] == 2:
            # The collection just ended (the collector's lists are consistent) and it merged
            # every younger generation into the oldest: what survived is frozen, so the next
            # full collection walks only what was promoted since.
            gc.freeze()
            self.refreezes += 1

    def to_json(self) -> dict[str, Any]:
        """Per generation: collections, total and max pause (ms), pauses >= 50 ms; the
        thresholds and how many objects are frozen."""
        with self._lock:
            generations = {
                str(index): {
                    "collections": g.collections,
                    "total_ms": round(g.total_s * 1000, 1),
                    "max_ms": round(g.max_s * 1000, 1),
                    "long_pauses": g.long_pauses,
                    "collected": g.collected,
                }
                for index, g in enumerate(self.generations)
            }
        return {
            "generations": generations,
            "threshold": list(gc.get_threshold()),
            "frozen": gc.get_freeze_count(),
            "refreezes": self.refreezes,
        }


#: When the daemon freezes: "full" (default) after a deploy and after every full collection,
#: "start" after a deploy only, "off" never (what benchmarks/cores.py compares against).
FREEZE_ENV: Final = "PAYCLI_LOCAL_GC_FREEZE"
FREEZE_MODES: Final = ("full", "start", "off")
#: "G0,G1,G2": the collector's thresholds (gc.set_threshold); unset keeps Python's.
THRESHOLD_ENV: Final = "PAYCLI_LOCAL_GC_THRESHOLD"


def freeze_mode(environ: Mapping[str, str] | None = None) -> str:
    """$PAYCLI_LOCAL_GC_FREEZE, one of FREEZE_MODES ("full" when unset)."""
    value = (os.environ if environ is None else environ).get(FREEZE_ENV, "").strip() or "full"
    if value not in FREEZE_MODES:
        msg = f"{FREEZE_ENV} must be one of {', '.join(FREEZE_MODES)}, not {value!r}"
        raise ValueError(msg)
    return value


def threshold(environ: Mapping[str, str] | None = None) -> tuple[int, int, int] | None:
    """$PAYCLI_LOCAL_GC_THRESHOLD as three whole numbers, None when unset."""
    value = (os.environ if environ is None else environ).get(THRESHOLD_ENV, "").strip()
    if not value:
        return None
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != len(FREEZE_MODES) or not all(p.isdigit() for p in parts):
        msg = f"{THRESHOLD_ENV} must be three whole numbers G0,G1,G2, not {value!r}"
        raise ValueError(msg)
    return int(parts[0]), int(parts[1]), int(parts[2])
