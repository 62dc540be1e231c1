"""What every patch is: a record (purpose, what it fixes with its figure, the private symbols it
touches and their fingerprints as verified) and an installer that sets attributes through a
`Patcher`, which remembers each original so the patch can be taken off again.

A fingerprint is a short hash of a symbol's signature and source (or, for a symbol that has no
source, such as a module-level list, of its type). It is computed from the original even while
a patch is installed, so `paycli local doctor` answers the same in any process.
"""

from __future__ import annotations

import enum
import hashlib
import importlib
import inspect
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Purpose(enum.StrEnum):
    """Why a patch exists; the package's modules are named after these."""

    CORRECTNESS = "correctness"  # moto differs from AWS, or breaks under concurrency
    SEAM = "seam"  # where the local stack plugs in (Lambda runner, time scale)
    MEMORY = "memory"  # moto keeps what nothing reads, forever
    SPEED = "speed"  # same answers, less CPU; each saves >= ~5% in benchmarks/moto_calls.py


_MISSING = object()


class Patcher:
    """Sets attributes and remembers what was there, so `undo()` puts every one back."""

    def __init__(self) -> None:
        self._log: list[tuple[Any, str, Any]] = []

    def set(self, holder: Any, name: str, value: Any) -> None:
        """`setattr(holder, name, value)`, remembering the holder's own previous value."""
        previous = vars(holder).get(name, _MISSING)
        self._log.append((holder, name, previous))
        _ORIGINALS.setdefault((id(holder), name), previous)
        setattr(holder, name, value)

    def repoint(
        self, name: str, original: Any, replacement: Any, importers: Iterable[str] = ()
    ) -> None:
        """Re-point every loaded moto.stepfunctions module that imported `original` by name
        (`from x import name`), after importing `importers`, the modules known to, so that
        none loaded later keeps the original."""
        for module_name in importers:
            importlib.import_module(module_name)
        for module_name, module in list(sys.modules.items()):
            if module_name.startswith("moto.stepfunctions") and vars(module).get(name) is original:
                self.set(module, name, replacement)

    def undo(self) -> None:
        """Put back every attribute this patcher set, newest first."""
        while self._log:
            holder, name, previous = self._log.pop()
            if previous is _MISSING:
                delattr(holder, name)
            else:
                setattr(holder, name, previous)
            if not any(h is holder and n == name for h, n, _ in self._log):
                _ORIGINALS.pop((id(holder), name), None)


# (id(holder), attribute) -> the value before any patch: what fingerprints are computed from.
_ORIGINALS: dict[tuple[int, str], Any] = {}


@dataclass(frozen=True)
class Saving:
    """What `benchmarks/moto_calls.py --each --calls N --rounds R` measured for a speed patch:
    CPU ms per call of its `operation` (the benchmark's name for it) without the patch and
    with it, every other patch on."""

    operation: str
    without_ms: float
    with_ms: float
    calls: int = 400
    rounds: int = 2

    @property
    def percent(self) -> int:
        """The share of the operation's CPU the patch saves, in whole percent."""
        return round(100 * (self.without_ms - self.with_ms) / self.without_ms)

    def __str__(self) -> str:
        return (
            f"{self.operation}: {self.without_ms} -> {self.with_ms} ms CPU per call "
            f"({self.percent}% saved), moto_calls.py --each --calls {self.calls} "
            f"--rounds {self.rounds}"
        )


@dataclass(frozen=True)
class Patch:
    """One change to a dependency's internals, with its receipt (CONVENTIONS 13).

    `targets` maps each private symbol the patch replaces or relies on ("module:Qual.name") to
    its fingerprint as verified; `fixes` says what breaks or costs without it, with the figure
    measured; `saves` (speed patches) is the `Saving` that `benchmarks/moto_calls.py --each`
    measured on the patch's operation; `required`
    patches stay on in the benchmarks' "stock" mode (the local stack cannot run without them);
    `install` is None for a patch applied elsewhere (named in `applied_by`), which doctor still
    checks."""

    name: str
    purpose: Purpose
    fixes: str
    targets: Mapping[str, str]
    install: Callable[[Patcher], None] | None
    required: bool = False
    applied_by: str = "paycli.local.patches.apply"
    saves: Saving | None = None
    doc: str = field(default="", compare=False)


def resolve(target: str) -> Any:
    """The object a "module:Qual.name" target names, as it was before any patch."""
    module_name, _, qualname = target.partition(":")
    holder: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        key = (id(holder), part)
        if key in _ORIGINALS:
            value = _ORIGINALS[key]
        else:
            value = vars(holder).get(part, _MISSING) if _has_dict(holder) else _MISSING
        if value is _MISSING and isinstance(holder, type):
            value = _inherited(holder, part)
        if value is _MISSING:
            value = getattr(holder, part)  # raises AttributeError when it is gone
        holder = value
    return holder


def _inherited(cls: type, name: str) -> Any:
    for base in cls.__mro__[1:]:
        key = (id(base), name)
        value = _ORIGINALS[key] if key in _ORIGINALS else vars(base).get(name, _MISSING)
        if value is not _MISSING:
            return value
    return _MISSING


def _has_dict(obj: Any) -> bool:
    try:
        vars(obj)
    except TypeError:
        return False
    return True


def fingerprint(target: str) -> str:
    """`sha256(signature + source)[:16]` of the target, or "missing" when it is gone."""
    try:
        obj = resolve(target)
    except (ImportError, AttributeError):
        return "missing"
    if isinstance(obj, staticmethod | classmethod):
        obj = obj.__func__
    if isinstance(obj, property):
        obj = obj.fget
    if inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismethod(obj):
        try:
            signature = str(inspect.signature(obj))
        except (TypeError, ValueError):
            signature = "?"
        text = f"{signature}\n{inspect.getsource(obj)}"
    else:
        text = f"<{type(obj).__module__}.{type(obj).__qualname__}>"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def changed_targets(patch: Patch) -> dict[str, str]:
    """Each target whose fingerprint differs from the recorded one: target -> what it is now."""
    now = {target: fingerprint(target) for target in patch.targets}
    return {target: value for target, value in now.items() if value != patch.targets[target]}
