"""The one load driver: `paycli load`, `paycli soak` and the benchmarks send payments through it.

A run opens the accounts it needs (or uses given ones), sends `count` payments from
`concurrency` threads, either as fast as they go (closed loop) or with payment i due at
start + i / rate (open loop: a slow answer delays its own thread, never the schedule), and
then waits until every accepted payment is terminal. Latency is accept -> terminal: the
payment's `updated_at` (written when it settles, declines or fails) minus the wall-clock time
its 202 arrived, so it needs no hook inside the stack and works on both targets. The driver
reads outstanding payments in batches (BatchGetItem, consistent), so watching costs about one
read per payment however long the run.

What a plan can ask for, beyond count and pace: a method mix (card/bank/wallet weights), a card
mix (test card numbers by weight: succeeding, declined, failing), a share of payments sent a
second time with the same Idempotency-Key (the API must answer with the same payment), and a
share of payments debiting one hot account. Everything random is drawn from `seed`, so a plan
is the same list of requests every time. Callers follow a run through `on_progress` (counts,
called from the watcher about every `poll_interval`) and `on_outcome` (each payment once, when
it is terminal), and may end sending early with `stop`.
"""

from __future__ import annotations

import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from paystack.domain.dynamo import from_item
from paystack.domain.money import format_decimal

from paycli.core.errors import PaycliError, UsageError
from paycli.core.payments import (
    DEFAULT_CARD,
    METHODS,
    TERMINAL,
    Payment,
    PayRequest,
    PayResult,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from paycli.core.accounts import AccountsService

DEFAULT_MIX: Final = {"card": 80, "bank": 15, "wallet": 5}
#: BatchGetItem's limit on keys per request.
BATCH_KEYS: Final = 100
#: Opening balance of each account a run opens: no run can exhaust it (1e10 USD).
OPENING_BALANCE: Final = "10000000000.00"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def parse_weights(text: str, what: str, allowed: Iterable[str] | None = None) -> dict[str, int]:
    """`card=80,bank=15,wallet=5` as {name: weight}; a clear UsageError for anything else."""
    allowed_set = set(allowed) if allowed is not None else None
    weights: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        name, sep, raw = part.partition("=")
        name = name.strip()
        if not sep or not name or not raw.strip().isdigit():
            raise UsageError(
                f"bad {what} entry {part!r}", hint=f"write NAME=WEIGHT pairs, e.g. {_example(what)}"
            )
        if allowed_set is not None and name not in allowed_set:
            raise UsageError(
                f"unknown {what} entry {name!r}", hint=f"use {', '.join(sorted(allowed_set))}"
            )
        if name in weights:
            raise UsageError(f"{what} names {name!r} twice")
        weights[name] = int(raw)
    if not any(weights.values()):
        raise UsageError(f"the {what} has no positive weight")
    return weights


def _example(what: str) -> str:
    return "card=80,bank=15,wallet=5" if what == "mix" else f"{DEFAULT_CARD}=90,4000000000000002=10"


@dataclass(frozen=True)
class LoadPlan:
    """What to send. `rate` 0 is closed loop (as fast as `concurrency` threads go)."""

    count: int
    concurrency: int = 8
    rate: float = 0.0
    accounts: int = 10
    account_ids: tuple[str, ...] = ()
    mix: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_MIX))
    cards: Mapping[str, int] = field(default_factory=lambda: {DEFAULT_CARD: 1})
    same_key_share: float = 0.0
    hot_share: float = 0.0
    amount_minor: tuple[int, int] = (100, 999)
    currency: str = "USD"
    timeout: float = 300.0
    poll_interval: float = 0.5
    seed: int = 0
    run_id: str = ""

    def check(self) -> None:
        """Every impossible setting as one UsageError, before anything is sent."""
        problems = too_many(count=self.count, concurrency=self.concurrency)
        if not self.account_ids:
            problems += too_many(accounts=self.accounts)
        if self.count < 1:
            problems.append("--count must be at least 1")
        if self.concurrency < 1:
            problems.append("--concurrency must be at least 1")
        if not (math.isfinite(self.rate) and self.rate >= 0):  # nan passes `< 0`
            problems.append("--rate must be 0 (flat out) or positive")
        if not self.account_ids and self.accounts < 1:
            problems.append("--accounts must be at least 1")
        for name, share in (("same-key share", self.same_key_share), ("hot share", self.hot_share)):
            if not 0 <= share <= 1:
                problems.append(f"the {name} must be between 0 and 1")
        unknown = set(self.mix) - set(METHODS)
        if unknown or not any(self.mix.values()):
            problems.append(f"the mix needs positive weights for {', '.join(METHODS)} only")
        if not any(self.cards.values()) or any(not c.isdigit() for c in self.cards):
            problems.append("the card mix needs card numbers with positive weights")
        low, high = self.amount_minor
        if not 0 < low <= high:
            problems.append("the amount range must be positive and low <= high")
        if not all(math.isfinite(s) and s > 0 for s in (self.timeout, self.poll_interval)):
            problems.append("the timeout and poll interval must be positive")
        if problems:
            raise UsageError("; ".join(problems))


#: Upper bounds of a run's sizes: the plan is built in memory, each sender is a thread and each
#: account a transaction, so `--accounts 99999999999999999999` would run until killed.
MAX_SIZES: Final = {"count": 10_000_000, "concurrency": 1_024, "accounts": 100_000}


def too_many(**sizes: int) -> list[str]:
    """A problem line for each size above its bound (`count=` for --count, and so on)."""
    return [
        f"--{name} must be at most {MAX_SIZES[name]:,}, not {value:,}"
        for name, value in sizes.items()
        if value > MAX_SIZES[name]
    ]


@dataclass(frozen=True)
class PlannedPayment:
    """One request of a plan; `resend`: sent a second time with the same Idempotency-Key."""

    index: int
    request: PayRequest
    amount_minor: int
    resend: bool


def plan_payments(plan: LoadPlan, account_ids: Sequence[str]) -> list[PlannedPayment]:
    """The plan's requests, the same for the same seed (keys differ by `run_id`, so a second
    run is new payments, not replays). The hot account is the first one."""
    rng = random.Random(plan.seed)  # noqa: S311 - a load mix, not a secret
    methods, method_weights = zip(*plan.mix.items(), strict=True)
    cards, card_weights = zip(*plan.cards.items(), strict=True)
    planned = []
    for index in range(plan.count):
        method = rng.choices(methods, method_weights)[0]
        card = rng.choices(cards, card_weights)[0]
        hot = rng.random() < plan.hot_share
        account = account_ids[0] if hot else account_ids[rng.randrange(len(account_ids))]
        amount = rng.randint(*plan.amount_minor)
        resend = rng.random() < plan.same_key_share
        request = PayRequest(
            method=method,
            amount=format_decimal(amount, plan.currency),
            currency=plan.currency,
            account_id=account,
            card_number=card,
            idempotency_key=f"load-{plan.run_id}-{index}",
        )
        planned.append(PlannedPayment(index, request, amount, resend))
    return planned


@dataclass(frozen=True)
class LoadProgress:
    """Counts so far: `sent` requests answered (accepted or refused), `terminal` settled."""

    total: int
    sent: int
    accepted: int
    terminal: int
    errors: int
    elapsed_s: float


@dataclass(frozen=True)
class PaymentOutcome:
    """One accepted payment at its end (or as last seen, when the run timed out)."""

    payment_id: str
    idempotency_key: str
    method: str
    account_id: str
    amount_minor: int
    status: str
    reason: str | None
    accepted_at: float
    settled_at: float | None

    @property
    def latency_s(self) -> float | None:
        """Accept -> terminal (0 when it settled before the 202 reached the client)."""
        if self.settled_at is None:
            return None
        return max(0.0, self.settled_at - self.accepted_at)


@dataclass(frozen=True)
class LoadReport:
    """A finished run's figures (`view()` is the `--json` shape)."""

    count: int
    concurrency: int
    rate: float
    accepted: int
    completed: int
    accepted_per_s: float
    completed_per_s: float
    latency_s: dict[str, float | None]
    outcomes: dict[str, int]
    errors: dict[str, int]
    same_key_resends: int
    same_key_mismatches: int
    unfinished: int
    elapsed_s: float
    accounts: tuple[str, ...]
    payments: tuple[PaymentOutcome, ...] = field(repr=False, default=())

    @property
    def ok(self) -> bool:
        """Every payment accepted and terminal, every same-key resend answered in kind."""
        return not self.errors and not self.unfinished and not self.same_key_mismatches

    def view(self) -> dict[str, Any]:
        """Stable JSON fields (README: Output)."""
        return {
            "count": self.count,
            "concurrency": self.concurrency,
            "rate": self.rate or None,
            "accepted": self.accepted,
            "completed": self.completed,
            "accepted_per_s": self.accepted_per_s,
            "completed_per_s": self.completed_per_s,
            "latency_s": self.latency_s,
            "outcomes": self.outcomes,
            "errors": self.errors,
            "same_key_resends": self.same_key_resends,
            "same_key_mismatches": self.same_key_mismatches,
            "unfinished": self.unfinished,
            "elapsed_s": self.elapsed_s,
            "accounts": list(self.accounts),
            "ok": self.ok,
        }


def open_loop(
    n: int,
    rate: float,
    workers: int,
    send: Callable[[int], None],
    *,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Call `send(i)` for i in 0..n-1 from `workers` threads, each call no earlier than its
    slot at `rate` per second (0: as fast as the workers go); returns when all are done or
    `stop` is set. Open loop: a slow answer delays only its own thread, not the schedule."""
    indexes = iter(range(n))
    lock = threading.Lock()
    started = clock()

    def worker() -> None:
        while stop is None or not stop.is_set():
            with lock:
                index = next(indexes, None)
            if index is None:
                return
            if rate > 0:
                delay = started + index / rate - clock()
                if delay > 0 and (stop.wait(delay) if stop is not None else _sleep(delay)):
                    return
            send(index)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def parse_stamp(value: str) -> float:
    """An ISO 8601 UTC stamp ("...T12:00:00.123Z") as epoch seconds."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def read_payments(
    dynamodb: DynamoDBClient, table: str, payment_ids: Iterable[str]
) -> Iterator[Payment]:
    """The payments with these ids (consistent reads, 100 per BatchGetItem, unprocessed keys
    asked for again); ids with no item are skipped."""
    ids = list(dict.fromkeys(payment_ids))
    for start in range(0, len(ids), BATCH_KEYS):
        keys: list[Any] = [{"payment_id": {"S": i}} for i in ids[start : start + BATCH_KEYS]]
        delay = 0.05
        while keys:
            reply = dynamodb.batch_get_item(
                RequestItems={table: {"Keys": keys, "ConsistentRead": True}}
            )
            for item in reply.get("Responses", {}).get(table, []):
                yield Payment.from_item(from_item(item))
            unprocessed = reply.get("UnprocessedKeys") or {}
            keys = list(unprocessed[table]["Keys"]) if table in unprocessed else []
            if keys:
                time.sleep(delay)
                delay = min(delay * 2, 1.0)


@dataclass
class _Tally:
    """What the senders and the watcher share (under `lock`)."""

    started: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: int = 0
    accepted: dict[str, tuple[PlannedPayment, float]] = field(default_factory=dict)
    accept_times: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    resends: int = 0
    mismatches: int = 0
    done: dict[str, PaymentOutcome] = field(default_factory=dict)
    terminal: int = 0
    #: what ended the watcher early (the stack went away): the run raises it
    failure: Exception | None = None

    def progress(self, total: int, now: float) -> LoadProgress:
        with self.lock:
            errors = sum(self.errors.values())
            return LoadProgress(
                total, self.sent, len(self.accepted), self.terminal, errors, now - self.started
            )


class LoadDriver:
    """Sends a plan's payments through `pay` and watches them in the PaymentsTable."""

    def __init__(
        self,
        pay: Callable[[PayRequest], PayResult],
        dynamodb: DynamoDBClient,
        payments_table: str,
        accounts: AccountsService | None = None,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """`pay` is PaymentsService.pay on a target (or the in-process ingress in a
        benchmark); `accounts` opens accounts when a plan names none."""
        self._pay = pay
        self._ddb = dynamodb
        self._table = payments_table
        self._accounts = accounts
        self._now = wall_clock

    def open_accounts(self, plan: LoadPlan) -> tuple[str, ...]:
        """The plan's accounts: the given ids, else `plan.accounts` new ones (opened here)."""
        if plan.account_ids:
            return plan.account_ids
        if self._accounts is None:
            raise UsageError("this load driver cannot open accounts: name them")
        return tuple(
            self._accounts.create(OPENING_BALANCE, plan.currency).account_id
            for _ in range(plan.accounts)
        )

    def run(
        self,
        plan: LoadPlan,
        *,
        on_progress: Callable[[LoadProgress], None] | None = None,
        on_outcome: Callable[[PaymentOutcome], None] | None = None,
        stop: threading.Event | None = None,
    ) -> LoadReport:
        """Send the plan, wait until every accepted payment is terminal (or `plan.timeout`
        after the last send), and report."""
        plan.check()
        account_ids = self.open_accounts(plan)
        plan = replace(plan, account_ids=account_ids, run_id=plan.run_id or uuid.uuid4().hex[:12])
        planned = plan_payments(plan, account_ids)
        tally = _Tally(started=self._now())
        sending = threading.Event()
        sending.set()
        stop = stop or threading.Event()  # set by the watcher too, when it cannot read on
        watcher = threading.Thread(
            target=self._watch_or_fail,
            args=(plan, tally, (sending, stop), on_progress, on_outcome),
            daemon=True,
        )
        watcher.start()
        open_loop(
            len(planned),
            plan.rate,
            plan.concurrency,
            lambda i: self._send(planned[i], tally),
            stop=stop,
        )
        sending.clear()
        watcher.join()
        if tally.failure is not None:  # e.g. the local stack stopped: one error, no traceback
            raise tally.failure
        return self._report(plan, tally)

    # ------------------------------------------------------------------ sending
    def _send(self, planned: PlannedPayment, tally: _Tally) -> None:
        try:
            result = self._pay(planned.request)
            accepted_at = self._now()
            mismatch = False
            if planned.resend:
                again = self._pay(planned.request)
                mismatch = again.payment.payment_id != result.payment.payment_id
        except PaycliError as exc:
            with tally.lock:
                tally.sent += 1
                key = f"{type(exc).__name__}: {exc.message}"[:160]
                tally.errors[key] = tally.errors.get(key, 0) + 1
            return
        with tally.lock:
            tally.sent += 1
            tally.accepted[result.payment.payment_id] = (planned, accepted_at)
            tally.accept_times.append(accepted_at)
            tally.resends += planned.resend
            tally.mismatches += mismatch

    # ------------------------------------------------------------------ watching
    def _watch_or_fail(
        self,
        plan: LoadPlan,
        tally: _Tally,
        events: tuple[threading.Event, threading.Event],
        on_progress: Callable[[LoadProgress], None] | None,
        on_outcome: Callable[[PaymentOutcome], None] | None,
    ) -> None:
        """`_watch`; an error there (the stack gone: a refused connection) stops the sending
        and is kept for `run` to raise, instead of a thread's traceback and a report that
        counts accepted payments as neither finished nor unfinished."""
        sending, stop = events
        try:
            self._watch(plan, tally, sending, on_progress, on_outcome)
        except Exception as exc:  # noqa: BLE001 - raised again by run(), in the caller's thread
            tally.failure = exc
            stop.set()

    def _watch(
        self,
        plan: LoadPlan,
        tally: _Tally,
        sending: threading.Event,
        on_progress: Callable[[LoadProgress], None] | None,
        on_outcome: Callable[[PaymentOutcome], None] | None,
    ) -> None:
        deadline: float | None = None
        while True:
            still_sending = sending.is_set()
            with tally.lock:
                waiting = [pid for pid in tally.accepted if pid not in tally.done]
            for payment in read_payments(self._ddb, self._table, waiting):
                if payment.terminal:
                    self._record(tally, payment.payment_id, payment, on_outcome)
            if on_progress is not None:
                on_progress(tally.progress(plan.count, self._now()))
            if not still_sending:
                with tally.lock:
                    finished = len(tally.done) == len(tally.accepted)
                deadline = deadline or time.monotonic() + plan.timeout
                if finished or time.monotonic() > deadline:
                    self._record_unfinished(tally, on_outcome)
                    if on_progress is not None:
                        on_progress(tally.progress(plan.count, self._now()))
                    return
            time.sleep(plan.poll_interval)

    def _record(
        self,
        tally: _Tally,
        payment_id: str,
        payment: Payment | None,
        on_outcome: Callable[[PaymentOutcome], None] | None,
    ) -> None:
        """A payment's outcome, once: terminal, or as last seen when the run ran out of time."""
        with tally.lock:
            planned, accepted_at = tally.accepted[payment_id]
        terminal = payment is not None and payment.terminal
        outcome = PaymentOutcome(
            payment_id=payment_id,
            idempotency_key=planned.request.idempotency_key or "",
            method=planned.request.method,
            account_id=planned.request.account_id,
            amount_minor=planned.amount_minor,
            status=payment.status if payment is not None else "MISSING",
            reason=payment.reason if payment is not None else None,
            accepted_at=accepted_at,
            settled_at=parse_stamp(payment.updated_at)
            if terminal and payment is not None and payment.updated_at
            else None,
        )
        with tally.lock:
            tally.done[payment_id] = outcome
            tally.terminal += terminal
        if on_outcome is not None and terminal:
            on_outcome(outcome)

    def _record_unfinished(
        self, tally: _Tally, on_outcome: Callable[[PaymentOutcome], None] | None
    ) -> None:
        """One last read of the payments still open: terminal ones count, the rest are
        recorded with their last status (or MISSING)."""
        with tally.lock:
            missing = [pid for pid in tally.accepted if pid not in tally.done]
        seen = {p.payment_id: p for p in read_payments(self._ddb, self._table, missing)}
        for payment_id in missing:
            self._record(tally, payment_id, seen.get(payment_id), on_outcome)

    # ------------------------------------------------------------------ report
    def _report(self, plan: LoadPlan, tally: _Tally) -> LoadReport:
        outcomes = list(tally.done.values())
        finished = [o for o in outcomes if o.status in TERMINAL and o.settled_at is not None]
        latencies = [o.latency_s for o in finished if o.latency_s is not None]
        counts: dict[str, int] = {}
        for outcome in outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        last_accept = max(tally.accept_times, default=tally.started)
        last_settle = max((o.settled_at or 0.0 for o in finished), default=tally.started)
        accept_span = last_accept - tally.started
        settle_span = max(last_settle, last_accept) - tally.started
        return LoadReport(
            count=plan.count,
            concurrency=plan.concurrency,
            rate=plan.rate,
            accepted=len(tally.accepted),
            completed=len(finished),
            accepted_per_s=_per_second(len(tally.accepted), accept_span),
            completed_per_s=_per_second(len(finished), settle_span),
            latency_s={
                "p50": _rounded(percentile(latencies, 50)),
                "p95": _rounded(percentile(latencies, 95)),
                "p99": _rounded(percentile(latencies, 99)),
                "max": _rounded(max(latencies, default=float("nan"))),
            },
            outcomes=dict(sorted(counts.items())),
            errors=dict(tally.errors),
            same_key_resends=tally.resends,
            same_key_mismatches=tally.mismatches,
            unfinished=len(outcomes) - len(finished),
            elapsed_s=round(self._now() - tally.started, 3),
            accounts=plan.account_ids,
            payments=tuple(sorted(outcomes, key=lambda o: o.accepted_at)),
        )


def _per_second(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def _rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)  # NaN (no data) -> null
