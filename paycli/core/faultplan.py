"""Fault plans: which faults the local stack injects, how often, from which seed.

A plan is a YAML or JSON file (or a built-in name: `all`, `none`)::

    seed: 42                      # optional, default 0: the same seed, the same draws
    faults:                       # each kind at most once; omitted kinds never fire
      handler_error: {rate: 0.05, functions: [ValidatePaymentFunction]}
      handler_slow: {rate: 0.05, delay_seconds: 0.2}
      handler_timeout: {rate: 0.02}
      lambda_throttle: {rate: 0.05}
      dynamodb_lost_response: {rate: 0.02}
      ingress_send_failure: {rate: 0.05}
      sqs_duplicate_delivery: {rate: 0.05}
      pipe_stop_before_delete: {rate: 0.02, redeliver_after_seconds: 1}
      pipe_paused: {rate: 0.02, pause_seconds: 0.5}

`rate` (0..1) is the chance that one opportunity fires: one invocation for the Lambda kinds
(`functions`, optional, limits them to these logical ids or function names), one committed
DynamoDB write of a handler, one SendMessage of a handler to the payment queue, one started
batch or one receive of the pipe. Every kind draws from its own generator seeded with
`seed` and the kind, so a run with the same plan makes the same sequence of decisions per
kind; which request meets which decision still depends on thread timing.

This module is pure data and validation: the CLI and the soak read plans with it on any
target; `paycli.local.faults` injects them into the local stack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from paycli.core.errors import UsageError

#: Each kind, with the parameters it takes beside `rate` and what it does (README, `--help`).
KINDS: Final[dict[str, tuple[dict[str, type], str]]] = {
    "handler_error": (
        {"functions": list},
        "the handler raises InjectedFault instead of running (Lambda's Unhandled error)",
    ),
    "handler_slow": (
        {"functions": list, "delay_seconds": float},
        "the handler starts delay_seconds late (default 0.2)",
    ),
    "handler_timeout": (
        {"functions": list},
        "the handler runs to the end, then its caller gets Lambda's timeout error: the work may"
        " be done while the caller believes it failed",
    ),
    "lambda_throttle": (
        {"functions": list},
        "the invocation is refused with TooManyRequestsException (429; in Step Functions"
        " Lambda.TooManyRequestsException) and the handler does not run",
    ),
    "dynamodb_lost_response": (
        {},
        "a handler's DynamoDB write commits, then its response is lost: the caller gets a 500"
        " InternalServerError and its SDK retries the write",
    ),
    "ingress_send_failure": (
        {},
        "a handler's SendMessage to the payment queue fails for good (not retryable) after the"
        " payment was recorded: ingress answers 502; the client's retry or the reconciler"
        " sends it again",
    ),
    "sqs_duplicate_delivery": (
        {},
        "the pipe starts a second execution for a message it already started: a duplicate delivery",
    ),
    "pipe_stop_before_delete": (
        {"redeliver_after_seconds": float},
        "the pipe starts the execution and stops before deleting the message; SQS delivers it"
        " again after redeliver_after_seconds (the queue's visibility timeout, compressed;"
        " default 1)",
    ),
    "pipe_paused": (
        {"pause_seconds": float},
        "the pipe stops receiving for pause_seconds (default 0.5); messages wait in the queue",
    ),
}
DEFAULTS: Final[dict[str, float]] = {
    "delay_seconds": 0.2,
    "redeliver_after_seconds": 1.0,
    "pause_seconds": 0.5,
}
LAMBDA_KINDS: Final = ("lambda_throttle", "handler_error", "handler_timeout", "handler_slow")
MAX_SECONDS: Final = 60.0
#: The built-in `all`: every kind at a moderate rate.
ALL_RATES: Final[dict[str, float]] = {
    "handler_error": 0.03,
    "handler_slow": 0.05,
    "handler_timeout": 0.02,
    "lambda_throttle": 0.05,
    "dynamodb_lost_response": 0.02,
    "ingress_send_failure": 0.03,
    "sqs_duplicate_delivery": 0.05,
    "pipe_stop_before_delete": 0.03,
    "pipe_paused": 0.02,
}


@dataclass(frozen=True)
class FaultSpec:
    """One kind's settings."""

    kind: str
    rate: float
    functions: tuple[str, ...] = ()
    seconds: float = 0.0  # delay_seconds, redeliver_after_seconds or pause_seconds

    def applies_to(self, *names: str) -> bool:
        """Whether this (Lambda) fault covers a function known by any of `names`."""
        return not self.functions or any(name in self.functions for name in names)

    def to_json(self) -> dict[str, Any]:
        """The plan file's form of this kind."""
        data: dict[str, Any] = {"rate": self.rate}
        if self.functions:
            data["functions"] = list(self.functions)
        for param, kind_type in KINDS[self.kind][0].items():
            if kind_type is float:
                data[param] = self.seconds
        return data


@dataclass(frozen=True)
class FaultPlan:
    """A validated plan: a seed and the kinds that may fire."""

    name: str = "none"
    seed: int = 0
    faults: dict[str, FaultSpec] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """No kind can fire."""
        return not any(spec.rate > 0 for spec in self.faults.values())

    def to_json(self) -> dict[str, Any]:
        """The plan as a file would hold it (plus its name): what the daemon is sent."""
        return {
            "name": self.name,
            "seed": self.seed,
            "faults": {kind: spec.to_json() for kind, spec in sorted(self.faults.items())},
        }


def builtin(name: str, seed: int = 0) -> FaultPlan | None:
    """`all` (every kind at a moderate rate) or `none`; None for any other name."""
    if name == "none":
        return FaultPlan("none", seed)
    if name == "all":
        raw = {"seed": seed, "faults": {kind: {"rate": rate} for kind, rate in ALL_RATES.items()}}
        return parse_plan(raw, name="all")
    return None


def load_plan(source: str, *, seed: int | None = None) -> FaultPlan:
    """A plan from a file path or a built-in name; `seed` overrides the plan's own."""
    plan = builtin(source, seed or 0)
    if plan is None:
        path = Path(source)
        if not path.is_file():
            raise UsageError(
                f"no fault plan file or built-in plan named {source!r}",
                hint="give a YAML/JSON plan file, or `all` or `none` (README: fault plans)",
            )
        plan = parse_plan(_read(path), name=path.name)
    if seed is not None:
        plan = FaultPlan(plan.name, seed, plan.faults)
    return plan


def _read(path: Path) -> Any:
    import yaml  # noqa: PLC0415 - only when a file is read (JSON is YAML too)

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read fault plan {path}: {exc}") from None
    try:
        return yaml.safe_load(text) if path.suffix.lower() != ".json" else json.loads(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise UsageError(
            f"fault plan {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}"
            f"{_where(exc)}"
        ) from None


def _where(exc: Exception) -> str:
    """ " (line L, column C: problem)" on one line (a YAML mark's text spans three)."""
    if isinstance(exc, json.JSONDecodeError):
        return f" (line {exc.lineno}, column {exc.colno}: {exc.msg})"
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return ""
    problem = getattr(exc, "problem", None)
    return f" (line {mark.line + 1}, column {mark.column + 1}{f': {problem}' if problem else ''})"


def parse_plan(raw: Any, *, name: str = "plan") -> FaultPlan:
    """Validate a plan's parsed form; every problem in one UsageError, naming where."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise UsageError(f"fault plan {name}: expected a mapping with `seed` and `faults`")
    unknown = set(raw) - {"seed", "faults", "name", "description"}
    if unknown:
        problems.append(f"unknown top-level key(s) {', '.join(sorted(unknown))}")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        problems.append(f"seed must be an integer, not {seed!r}")
        seed = 0
    faults = raw.get("faults") or {}
    if not isinstance(faults, dict):
        problems.append("faults must be a mapping of kind -> settings")
        faults = {}
    specs = {}
    for kind, settings in faults.items():
        spec = _parse_spec(str(kind), settings, problems)
        if spec is not None:
            specs[str(kind)] = spec
    if problems:
        raise UsageError(
            f"fault plan {name}: " + "; ".join(problems),
            hint=f"kinds: {', '.join(KINDS)}; each `{{rate: 0..1}}` (README: fault plans)",
        )
    return FaultPlan(str(raw.get("name") or name), seed, specs)


def _parse_spec(kind: str, settings: Any, problems: list[str]) -> FaultSpec | None:
    if kind not in KINDS:
        problems.append(f"unknown fault kind {kind!r}")
        return None
    if not isinstance(settings, dict):
        problems.append(f"{kind}: expected a mapping such as {{rate: 0.05}}")
        return None
    params = KINDS[kind][0]
    unknown = set(settings) - {"rate", *params}
    if unknown:
        allowed = ", ".join(["rate", *params])
        problems.append(f"{kind}: unknown setting(s) {', '.join(sorted(unknown))} ({allowed})")
    rate = settings.get("rate")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        problems.append(f"{kind}: rate must be a number from 0 to 1, not {rate!r}")
        rate = 0.0
    functions = settings.get("functions", [])
    if not isinstance(functions, list) or not all(isinstance(f, str) and f for f in functions):
        problems.append(f"{kind}: functions must be a list of function names or logical ids")
        functions = []
    seconds = 0.0
    for param, kind_type in params.items():
        if kind_type is float:
            value = settings.get(param, DEFAULTS[param])
            if isinstance(value, bool) or not isinstance(value, int | float):
                value = -1
            if not 0 < value <= MAX_SECONDS:
                problems.append(
                    f"{kind}: {param} must be a number of seconds in (0, {MAX_SECONDS:g}]"
                )
            seconds = float(value)
    return FaultSpec(kind, float(rate), tuple(functions), seconds)
