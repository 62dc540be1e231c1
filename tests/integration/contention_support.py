"""A hot account on demand: another writer changes the account just before the next
TransactWriteItems that debits it, as concurrent payments on one account do. Installed on
moto's DynamoDB backend (the emulated AWS), so the product's own code runs unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from moto.dynamodb.models import DynamoDBBackend


@contextmanager
def account_keeps_changing(
    monkeypatch: pytest.MonkeyPatch, ddb: Any, accounts_table: str, account_id: str, times: int
) -> Iterator[list[str]]:
    """Before each of the next `times` transactions that update `account_id`, bump the
    account's version (a competing debit landed first). Yields the list of bumps so far."""
    original = DynamoDBBackend.transact_write_items
    bumps: list[str] = []

    def racing(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        updates = [entry["Update"] for entry in transact_items if "Update" in entry]
        debits = [
            u
            for u in updates
            if u.get("TableName") == accounts_table
            and u.get("Key", {}).get("account_id", {}).get("S") == account_id
        ]
        if debits and len(bumps) < times:
            ddb.update_item(
                TableName=accounts_table,
                Key={"account_id": {"S": account_id}},
                UpdateExpression="SET version = version + :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
            bumps.append(account_id)
        return original(self, transact_items)

    with monkeypatch.context() as patch:
        patch.setattr(DynamoDBBackend, "transact_write_items", racing)
        yield bumps
