"""`paycli cost`: what the stack costs on AWS per month, per component, from the template's shape.

Counted from the template and the ASL, not typed in: the state transitions of each outcome's
path through `payment.asl.json` (retries included for failures), the Lambda tasks on each path
(their functions' MemorySize and Architectures from the template), the SQS sends on a path, the
payments table's global secondary indexes. Per payment, by outcome share:

- API Gateway: one REST request (the POST); Lambda: the ingress plus the tasks on the path,
  GB-seconds at the measured durations (data file: `measured`);
- SQS: the ingress send, the pipe's receive and delete, a DLQ send for a failure; Pipes: one
  event; Step Functions: transitions (Standard) or a request plus GB-seconds (Express);
- DynamoDB on demand: each handler's requests as `DYNAMODB_WRITES` lists them, transactional
  items at 2 units, plus one unit per GSI an item write touches (two when it moves the key);
- CloudWatch Logs: each invocation's platform lines and its structured lines; X-Ray: the
  template traces the API, the functions and the state machine (`Tracing`), sampled by the
  default rule (1 a second, then 5%).

Prices and quotas live in one dated data file (paycli/data/aws_prices_us_east_1.json) with their
sources. Free tiers are left out. The capacity model (`capacity`) says, for an offered rate,
what binds first: the template's own API throttle, Step Functions' StartExecution and state
transition quotas, Lambda concurrency, the per-partition write limit of one hot account, and
the payments table's on-demand limit, each with its design answer.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

from paycli.core.errors import ConfigError, UsageError

Profile = Literal["standard", "express"]
PRICES_FILE: Final = Path(__file__).resolve().parent.parent / "data" / "aws_prices_us_east_1.json"
SECONDS_PER_MONTH: Final = 30 * 24 * 3600

#: What share of payments ends how (a card business: most succeed, a few decline, fewer fail).
DEFAULT_OUTCOMES: Final = {"SUCCEEDED": 0.95, "DECLINED": 0.04, "FAILED": 0.01}
#: The terminal state of each outcome in payment.asl.json (the design's contract).
TERMINALS: Final = {
    "SUCCEEDED": "PaymentSucceeded",
    "DECLINED": "PaymentDeclined",
    "FAILED": "PaymentFailed",
}
#: X-Ray's default sampling rule: the first request each second, then 5 % of the rest.
XRAY_RESERVOIR_PER_S: Final = 1.0
XRAY_FIXED_RATE: Final = 0.05
#: Trace roots per payment: the API request (which carries on into the ingress Lambda) and the
#: execution the pipe starts (Step Functions tracing; Pipes starts a new trace).
XRAY_ROOTS_PER_PAYMENT: Final = 2
#: Lambda's START, END and REPORT lines (REPORT with the X-Ray segment ids), bytes.
LAMBDA_PLATFORM_LOG_BYTES: Final = 420
#: The Lambda context keys Powertools' Logger adds to every structured line, bytes.
POWERTOOLS_CONTEXT_BYTES: Final = 330
#: A Standard execution's ERROR-level log events for a failure (Level ERROR logs failures only).
SFN_ERROR_LOG_BYTES: Final = 1500
#: Step Functions' own latency per Task state on top of the Lambda's duration (Express duration).
SFN_TASK_OVERHEAD_S: Final = 0.02


@dataclass(frozen=True)
class DynamoWrite:
    """One DynamoDB request a payment makes: on which table, by which step, how many item
    writes (transactional or not), whether the payments item's GSI key (status) moves."""

    step: str
    table: str
    items: int
    transactional: bool = False
    payments_item: bool = False
    moves_index_key: bool = False
    reads: int = 0


def write_units(write: DynamoWrite, payments_gsis: int) -> float:
    """Write units of one request: 2 per transactional item, plus one per GSI a payments-item
    write touches and one more when it moves the status (an index key: delete + put)."""
    units = write.items * (2.0 if write.transactional else 1.0)
    if write.payments_item and payments_gsis:
        units += payments_gsis + (1 if write.moves_index_key else 0)
    return units


def dynamodb_requests(outcomes: Mapping[str, float]) -> Iterator[tuple[float, DynamoWrite]]:
    """(share of payments, request) for every DynamoDB request a payment makes."""
    for write in DYNAMODB_WRITES["accepted"]:
        yield 1.0, write
    for outcome, share in outcomes.items():
        for write in DYNAMODB_WRITES[outcome]:
            yield share, write


#: Each handler's DynamoDB requests per outcome, as paystack.domain makes them (the intake and
#: settlement transactions, the status updates). Reads are strongly consistent (1 RRU each).
DYNAMODB_WRITES: Final[Mapping[str, tuple[DynamoWrite, ...]]] = {
    "accepted": (
        # intake: idempotency record Put, payment Put, account ConditionCheck, one transaction
        DynamoWrite("ingress", "IdempotencyTable", 1, transactional=True),
        DynamoWrite("ingress", "PaymentsTable", 1, transactional=True, payments_item=True),
        DynamoWrite("ingress", "AccountsTable", 1, transactional=True),
        # validate: GetItem of the payment, UpdateItem PENDING -> PROCESSING
        DynamoWrite("validate", "PaymentsTable", 1, payments_item=True, moves_index_key=True,
                    reads=1),
    ),
    "SUCCEEDED": (
        # settlement: BatchGetItem payment + account, then one transaction: account Update,
        # payment Update (-> SUCCEEDED), ledger Put
        DynamoWrite("deduct", "AccountsTable", 1, transactional=True, reads=1),
        DynamoWrite("deduct", "PaymentsTable", 1, transactional=True, payments_item=True,
                    moves_index_key=True, reads=1),
        DynamoWrite("deduct", "LedgerTable", 1, transactional=True),
    ),
    "DECLINED": (DynamoWrite("validate", "PaymentsTable", 1, payments_item=True,
                             moves_index_key=True),),
    "FAILED": (DynamoWrite("MarkFailed", "PaymentsTable", 1, payments_item=True,
                           moves_index_key=True),),
}  # fmt: skip


# ------------------------------------------------------------------------------ data


@cache
def price_data(path: Path = PRICES_FILE) -> dict[str, Any]:
    """The dated prices/quotas file."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the price file {path}: {exc}") from exc
    return data


def price(name: str) -> float:
    """One price in USD per unit."""
    return float(price_data()["prices"][name]["usd"])


def quota(name: str) -> float:
    """One quota's default value."""
    return float(price_data()["quotas"][name]["value"])


def lambda_seconds(function: str) -> float:
    """A function's billed duration on AWS: the measured handler time plus the assumed latency
    of each AWS request it makes (the local stack answers those in process)."""
    measured = price_data()["measured"]
    local = float(measured["lambda_duration_ms"][function])
    requests = float(measured["aws_requests_per_invocation"][function])
    return (local + requests * float(measured["aws_request_latency_ms"])) / 1000


# ------------------------------------------------------------------------------ the ASL


@dataclass(frozen=True)
class PathCost:
    """One outcome's path through the state machine."""

    outcome: str
    states: tuple[str, ...]
    transitions: int
    lambda_tasks: Counter[str]
    sqs_sends: int
    dynamodb_updates: int


def _edges(state: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(kind, next state) of every way out of a state."""
    if "Next" in state:
        yield "next", str(state["Next"])
    if "Default" in state:
        yield "default", str(state["Default"])
    for choice in state.get("Choices", []):
        yield "choice", str(choice["Next"])
    for catch in state.get("Catch", []):
        yield "catch", str(catch["Next"])


def all_paths(asl: Mapping[str, Any]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Every path from StartAt to an end (state names, and the kind of each edge taken)."""
    states = asl["States"]
    found: list[tuple[tuple[str, ...], tuple[str, ...]]] = []

    def walk(name: str, path: tuple[str, ...], kinds: tuple[str, ...]) -> None:
        state = states[name]
        path = (*path, name)
        exits = [(k, n) for k, n in _edges(state) if n not in path]
        if state.get("Type") in ("Succeed", "Fail") or state.get("End") or not exits:
            found.append((path, kinds))
            return
        for kind, nxt in exits:
            walk(nxt, path, (*kinds, kind))

    walk(str(asl["StartAt"]), (), ())
    return found


def outcome_paths(asl: Mapping[str, Any], functions: Mapping[str, str]) -> dict[str, PathCost]:
    """Each outcome's path: a first-time success runs every Lambda task (the longest path to
    its terminal; a shorter one is the replay of a settled payment), a decline the shortest
    (declined at validation), a failure the shortest through a Catch, plus the retries of
    the caught task's own error (each retry is a transition and an invocation).

    `functions` maps a `${...}` substitution in a task's FunctionName to the function's
    logical id (the template's DefinitionSubstitutions)."""
    states = asl["States"]
    paths = all_paths(asl)
    result = {}
    for outcome, terminal in TERMINALS.items():
        candidates = [(p, k) for p, k in paths if p[-1] == terminal]
        if outcome == "FAILED":
            candidates = [(p, k) for p, k in candidates if "catch" in k]
        if not candidates:
            raise ConfigError(f"the state machine has no path to {terminal} for {outcome}")
        chooser = max if outcome == "SUCCEEDED" else min
        path, kinds = chooser(candidates, key=lambda pk: len(pk[0]))
        lambdas: Counter[str] = Counter()
        sqs = ddb = 0
        for name in path:
            resource = str(states[name].get("Resource", ""))
            if resource.endswith(":lambda:invoke"):
                target = str(states[name]["Parameters"]["FunctionName"])
                lambdas[functions.get(target, target)] += 1
            elif ":sqs:sendMessage" in resource:
                sqs += 1
            elif ":dynamodb:" in resource:
                ddb += 1
        retries = 0
        if outcome == "FAILED":
            caught = path[kinds.index("catch")]
            retries = _own_error_retries(states[caught])
            target = str(states[caught].get("Parameters", {}).get("FunctionName", ""))
            if target:
                lambdas[functions.get(target, target)] += retries
        result[outcome] = PathCost(outcome, path, len(path) + retries, lambdas, sqs, ddb)
    return result


def _own_error_retries(state: Mapping[str, Any]) -> int:
    """The retries a task makes for its own (non-service) error before it is caught."""
    attempts = [
        int(r.get("MaxAttempts", 3))
        for r in state.get("Retry", [])
        if not any(str(e).startswith(("Lambda.", "States.")) for e in r["ErrorEquals"])
    ]
    return max(attempts, default=0)


# ------------------------------------------------------------------------------ the template


@dataclass(frozen=True)
class StackShape:
    """What the cost depends on, read from the template."""

    paths: dict[str, PathCost]
    memory_mb: dict[str, int]
    architectures: dict[str, str]
    payments_gsis: int
    api_throttle_rps: float | None
    traced: bool


def read_shape(template_file: Path) -> StackShape:
    """The template's functions, the ASL's paths, the payments table's GSIs, the API's stage
    throttle and whether tracing is on."""
    from paycli.local.template import load_template  # noqa: PLC0415 - samtranslator's YAML

    template = load_template(template_file)
    functions = dict(template.resources_of("AWS::Serverless::Function"))
    memory = {k: int(f["Properties"].get("MemorySize", 128)) for k, f in functions.items()}
    arch = {
        k: str(f["Properties"].get("Architectures", ["x86_64"])[0]) for k, f in functions.items()
    }
    ((_, machine),) = template.resources_of("AWS::Serverless::StateMachine")
    props = machine["Properties"]
    asl = json.loads((template.base_dir / props["DefinitionUri"]).read_text(encoding="utf-8"))
    subs = {
        f"${{{name}}}": value["Fn::GetAtt"][0] if isinstance(value, dict) and "Fn::GetAtt" in value
        else str(value)
        for name, value in props.get("DefinitionSubstitutions", {}).items()
    }  # fmt: skip
    table = template.resources["PaymentsTable"]["Properties"]
    throttle = None
    for _, api in template.resources_of("AWS::Serverless::Api"):
        for setting in api["Properties"].get("MethodSettings", []):
            if "ThrottlingRateLimit" in setting:
                throttle = float(setting["ThrottlingRateLimit"])
    traced = any(str(f["Properties"].get("Tracing", "")) == "Active" for f in functions.values())
    return StackShape(
        paths=outcome_paths(asl, subs),
        memory_mb=memory,
        architectures=arch,
        payments_gsis=len(table.get("GlobalSecondaryIndexes", [])),
        api_throttle_rps=throttle,
        traced=traced,
    )


# ------------------------------------------------------------------------------ the model


@dataclass(frozen=True)
class Component:
    """One line of the bill."""

    name: str
    monthly_usd: float
    usage: str

    def view(self, per_million: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "monthly_usd": round(self.monthly_usd, 2),
            "per_million_usd": round(self.monthly_usd * per_million, 2),
            "usage": self.usage,
        }


@dataclass(frozen=True)
class Estimate:
    """A month's bill for one workflow type."""

    profile: Profile
    payments_per_month: int
    components: tuple[Component, ...]

    @property
    def monthly_usd(self) -> float:
        return sum(c.monthly_usd for c in self.components)

    @property
    def per_million_usd(self) -> float:
        return self.monthly_usd * 1e6 / self.payments_per_month

    @property
    def dominant(self) -> str:
        return max(self.components, key=lambda c: c.monthly_usd).name

    def view(self) -> dict[str, Any]:
        scale = 1e6 / self.payments_per_month
        return {
            "profile": self.profile,
            "monthly_usd": round(self.monthly_usd, 2),
            "per_million_usd": round(self.per_million_usd, 2),
            "dominant": self.dominant,
            "components": [c.view(scale) for c in self.components],
        }


@dataclass(frozen=True)
class CostModel:
    """The bill for N payments a month, from a StackShape and the price file."""

    shape: StackShape
    outcomes: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_OUTCOMES))

    def _mix(self) -> Iterator[tuple[str, float, PathCost]]:
        for outcome, share in self.outcomes.items():
            yield outcome, share, self.shape.paths[outcome]

    def lambda_invocations(self) -> dict[str, float]:
        """Invocations per payment, by function (the ingress, then each path's tasks)."""
        calls = {"IngressFunction": 1.0}
        for _outcome, share, path in self._mix():
            for function, count in path.lambda_tasks.items():
                calls[function] = calls.get(function, 0.0) + share * count
        return calls

    def estimate(self, payments: int, profile: Profile) -> Estimate:
        """The month's components for `payments` payments on a Standard or Express workflow."""
        if payments < 1:
            raise UsageError("--payments-per-month must be at least 1")
        parts = [
            self._api(payments),
            self._lambda(payments),
            self._workflow(payments, profile),
            self._sqs(payments),
            self._pipes(payments),
            self._dynamodb(payments),
            self._logs(payments),
        ]
        if self.shape.traced:
            parts.append(self._xray(payments))
        parts.append(Component("Secrets Manager", price("secrets_manager_per_secret_month"),
                               "1 secret (GetSecretValue cached in each Lambda)"))  # fmt: skip
        return Estimate(profile, payments, tuple(parts))

    def _api(self, n: int) -> Component:
        return Component(
            "API Gateway", n * price("api_gateway_rest_per_request"), f"{n:,} REST requests"
        )

    def _lambda(self, n: int) -> Component:
        invocations = gb_s = 0.0
        cost = 0.0
        for function, per_payment in self.lambda_invocations().items():
            count = n * per_payment
            seconds = lambda_seconds(function)
            gbs = count * self.shape.memory_mb[function] / 1024 * seconds
            arch = "arm64" if self.shape.architectures[function] == "arm64" else "x86_64"
            cost += count * price("lambda_per_request") + gbs * price(
                f"lambda_{arch}_per_gb_second"
            )
            invocations += count
            gb_s += gbs
        return Component("Lambda", cost, f"{invocations:,.0f} invocations, {gb_s:,.0f} GB-s")

    def transitions_per_payment(self) -> float:
        return sum(share * path.transitions for _o, share, path in self._mix())

    def _workflow(self, n: int, profile: Profile) -> Component:
        if profile == "standard":
            transitions = n * self.transitions_per_payment()
            return Component(
                "Step Functions (Standard)",
                transitions * price("step_functions_standard_per_transition"),
                f"{transitions:,.0f} state transitions",
            )
        gb_s = 0.0
        for _outcome, share, path in self._mix():
            seconds = sum(lambda_seconds(f) * c for f, c in path.lambda_tasks.items())
            seconds += SFN_TASK_OVERHEAD_S * (sum(path.lambda_tasks.values()) + path.sqs_sends
                                               + path.dynamodb_updates)  # fmt: skip
            billed = math.ceil(seconds * 10) / 10  # rounded up to 100 ms
            gb_s += n * share * billed * 64 / 1024  # the smallest memory chunk: 64 MB
        cost = n * price("step_functions_express_per_request") + gb_s * price(
            "step_functions_express_per_gb_second"
        )
        return Component("Step Functions (Express)", cost, f"{n:,} executions, {gb_s:,.0f} GB-s")

    def _sqs(self, n: int) -> Component:
        dlq = sum(share * path.sqs_sends for _o, share, path in self._mix())
        requests = n * (3 + dlq)  # ingress send, pipe receive + delete, DLQ sends
        return Component(
            "SQS", requests * price("sqs_standard_per_request"), f"{requests:,.0f} requests"
        )

    def _pipes(self, n: int) -> Component:
        return Component("EventBridge Pipes", n * price("pipes_per_request"), f"{n:,} events")

    def dynamodb_units(self) -> tuple[float, float]:
        """(write units, read units) per payment."""
        writes = reads = 0.0
        for share, write in dynamodb_requests(self.outcomes):
            writes += share * write_units(write, self.shape.payments_gsis)
            reads += share * write.reads
        return writes, reads

    def _dynamodb(self, n: int) -> Component:
        wru, rru = self.dynamodb_units()
        cost = n * (
            wru * price("dynamodb_on_demand_per_wru") + rru * price("dynamodb_on_demand_per_rru")
        )
        return Component("DynamoDB", cost, f"{n * wru:,.0f} WRU, {n * rru:,.0f} RRU")

    def _logs(self, n: int) -> Component:
        measured = price_data()["measured"]
        lines = measured["app_log_lines_per_invocation"]
        fields = measured["app_log_field_bytes_per_invocation"]
        total = 0.0
        for function, per_payment in self.lambda_invocations().items():
            per_call = LAMBDA_PLATFORM_LOG_BYTES + float(lines[function]) * (
                POWERTOOLS_CONTEXT_BYTES + float(fields[function])
            )
            total += n * per_payment * per_call
        total += n * self.outcomes.get("FAILED", 0.0) * SFN_ERROR_LOG_BYTES
        gb = total / 1e9
        return Component(
            "CloudWatch Logs", gb * price("cloudwatch_logs_ingest_per_gb"), f"{gb:,.2f} GB"
        )

    def _xray(self, n: int) -> Component:
        per_root = min(n, XRAY_RESERVOIR_PER_S * SECONDS_PER_MONTH)
        per_root += XRAY_FIXED_RATE * max(0.0, n - XRAY_RESERVOIR_PER_S * SECONDS_PER_MONTH)
        traces = per_root * XRAY_ROOTS_PER_PAYMENT
        return Component(
            "X-Ray", traces * price("xray_per_trace_recorded"), f"{traces:,.0f} traces recorded"
        )


#: What an operator gives up with an Express workflow (AWS: Standard vs Express).
EXPRESS_LOSES: Final = (
    "ListExecutions/DescribeExecution/GetExecutionHistory: `executions list/show/watch` read "
    "executions from CloudWatch Logs only (Logging at ALL, paid per GB)",
    "RedriveExecution: `executions redrive` could only start new executions",
    "exactly-once execution per name: Express is at-least-once, so a duplicate start runs the "
    "steps twice (our steps are idempotent, but each run is billed)",
    "executions longer than 5 minutes (the ASL's TimeoutSeconds is 300: at the edge)",
)


def cost_report(
    payments: int, profile: Profile, template_file: Path, rate: float | None = None
) -> dict[str, Any]:
    """The `paycli cost --json` document (with the capacity model at `rate` payments/s)."""
    from paycli.core.capacity import capacity_report  # noqa: PLC0415 - it imports this module

    if rate is not None and rate <= 0:
        raise UsageError("--rate must be a positive number of payments per second")
    model = CostModel(read_shape(template_file))
    chosen = model.estimate(payments, profile)
    express = model.estimate(payments, "express")
    wru, rru = model.dynamodb_units()
    data = price_data()
    return {
        "payments_per_month": payments,
        **chosen.view(),
        "per_payment": {
            "state_transitions": round(model.transitions_per_payment(), 2),
            "lambda_invocations": {k: round(v, 3) for k, v in model.lambda_invocations().items()},
            "dynamodb_wru": round(wru, 2),
            "dynamodb_rru": round(rru, 2),
        },
        "outcomes": dict(model.outcomes),
        "express": {**express.view(), "operator_loses": list(EXPRESS_LOSES)},
        "capacity": capacity_report(model, rate),
        "prices": {"region": data["region"], "checked": data["checked"], "file": PRICES_FILE.name},
    }
