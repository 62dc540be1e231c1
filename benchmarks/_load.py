"""The open-loop load both throughput scripts offer: payment i is due at start + i / rate."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


def open_loop(n: int, rate: float, clients: int, send: Callable[[int], None]) -> None:
    """Call `send(i)` for i in 0..n-1 from `clients` threads, each call no earlier than its
    slot at `rate` per second (0: as fast as the clients go); returns when all are done.
    Open loop: a slow answer delays only its own client, not the schedule."""
    indexes = iter(range(n))
    lock = threading.Lock()
    started = time.monotonic()

    def client() -> None:
        while True:
            with lock:
                index = next(indexes, None)
            if index is None:
                return
            if rate > 0:
                delay = started + index / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            send(index)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def make_accounts(ddb: Any, outputs: dict[str, str], count: int, prefix: str) -> list[str]:
    """`count` USD accounts with a balance no run can exhaust, via the domain's own function
    (the opening ledger entry included); their ids."""
    from paystack.domain.accounts import create_account  # noqa: PLC0415 - imported when used, as in the scripts
    from paystack.domain.dynamo import TableNames  # noqa: PLC0415

    tables = TableNames(
        payments=outputs["PaymentsTableName"],
        accounts=outputs["AccountsTableName"],
        ledger=outputs["LedgerTableName"],
        idempotency=outputs["IdempotencyTableName"],
    )
    ids = [f"{prefix}{i:03d}" for i in range(count)]
    for account_id in ids:
        create_account(ddb, tables, account_id, 10**12, "USD")
    return ids
