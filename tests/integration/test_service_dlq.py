"""DlqService against moto queues built from the template: counts, peek, redrive, purge.

These exercise the receive -> send -> delete loop (`--max`, and any target without message move
tasks) on stock moto; the move-task path is covered over the local stack's move tasks in
tests/integration/test_local_move_tasks.py and with botocore's Stubber in
tests/integration/test_aws_calls.py.
"""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from paycli.core import dlq as dlq_module
from paycli.core.dlq import DlqService


@pytest.fixture
def dlq(stack: Any) -> DlqService:
    return DlqService(stack.sqs, stack.queue_url, stack.dlq_url, move_task_supported=False)


def _park(stack: Any, count: int) -> list[str]:
    """Messages as the state machine's SendToDeadLetterQueue writes them."""
    ids = [f"pay_{i:03d}" for i in range(count)]
    for payment_id in ids:
        stack.sqs.send_message(
            QueueUrl=stack.dlq_url,
            MessageBody=json.dumps({"payment_id": payment_id}),
            MessageAttributes={
                "error": {"DataType": "String", "StringValue": "IssuerUnavailableError"},
                "execution_arn": {"DataType": "String", "StringValue": f"arn:exec:{payment_id}"},
            },
        )
    return ids


def _bodies(stack: Any, url: str) -> list[str]:
    """Drain a queue (receive + delete); the payment ids in it."""
    return [json.loads(body)["payment_id"] for body in stack.drain(url)]


def test_stats_counts_both_queues(dlq: DlqService, stack: Any) -> None:
    _park(stack, 3)
    stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody="{}")
    assert dlq.stats().view() == {
        "queue_messages": 1, "queue_in_flight": 0, "dlq_messages": 3, "dlq_in_flight": 0,
    }  # fmt: skip


def test_peek_shows_messages_and_leaves_them_visible(dlq: DlqService, stack: Any) -> None:
    """`dlq peek` does not consume: same count after, nothing in flight, all still receivable."""
    ids = _park(stack, 13)
    seen = dlq.peek(limit=12)
    assert len(seen) == 12
    assert len({m.message_id for m in seen}) == 12  # two batches, no message twice
    assert {m.payment_id for m in seen} <= set(ids)
    assert {m.error for m in seen} == {"IssuerUnavailableError"}
    assert all(m.execution_arn == f"arn:exec:{m.payment_id}" for m in seen)
    stats = dlq.stats()
    assert (stats.dlq_messages, stats.dlq_in_flight) == (13, 0)
    assert sorted(_bodies(stack, stack.dlq_url)) == ids


def test_redrive_moves_every_message_once(dlq: DlqService, stack: Any) -> None:
    """More than one batch: all back in the payment queue, none lost, none duplicated."""
    ids = _park(stack, 23)
    progress: list[tuple[int, int]] = []
    report = dlq.redrive(progress=lambda done, total: progress.append((done, total)))
    assert (report.moved, report.failed, report.candidates) == (23, 0, 23)
    assert report.method == "receive-send-delete"
    assert sorted(report.payment_ids) == ids
    assert progress[-1] == (23, 23)
    assert dlq.stats().dlq_messages == 0
    moved = stack.sqs.receive_message(
        QueueUrl=stack.queue_url,
        MaxNumberOfMessages=1,
        MessageAttributeNames=["All"],
        VisibilityTimeout=0,
    )["Messages"][0]
    assert moved["MessageAttributes"]["error"]["StringValue"] == "IssuerUnavailableError"
    assert sorted(_bodies(stack, stack.queue_url)) == ids


def test_redrive_max_and_dry_run(dlq: DlqService, stack: Any) -> None:
    """--dry-run moves nothing; --max moves exactly that many and leaves the rest."""
    _park(stack, 5)
    dry = dlq.redrive(dry_run=True)
    assert (dry.candidates, dry.moved) == (5, 0)
    assert dlq.stats().dlq_messages == 5
    report = dlq.redrive(max_messages=2)
    assert report.moved == 2
    stats = dlq.stats()
    assert (stats.dlq_messages, stats.queue_messages) == (3, 2)


def test_a_failed_send_never_deletes_from_the_dlq(dlq: DlqService, stack: Any) -> None:
    """If SendMessageBatch fails for an entry, that message stays in the DLQ, visible again."""
    ids = _park(stack, 4)

    def fail_second_half(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        entries = json.loads(params["body"])["Entries"]  # the serialised (JSON protocol) request
        ok = entries[: len(entries) // 2]
        for entry in ok:
            stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=entry["MessageBody"])
        failed = [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "boom"}
            for e in entries[len(entries) // 2 :]
        ]
        successful = [{"Id": e["Id"], "MessageId": "m", "MD5OfMessageBody": "x"} for e in ok]
        return AWSResponse("", 200, {}, None), {"Successful": successful, "Failed": failed}

    stack.sqs.meta.events.register_first("before-call.sqs.SendMessageBatch", fail_second_half)
    report = dlq.redrive()
    assert (report.moved, report.failed) == (2, 2)
    stats = dlq.stats()
    assert (stats.dlq_messages, stats.dlq_in_flight) == (2, 0)
    assert sorted(_bodies(stack, stack.dlq_url) + _bodies(stack, stack.queue_url)) == ids


def test_purge_empties_the_dlq_only(dlq: DlqService, stack: Any) -> None:
    _park(stack, 3)
    stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody="{}")
    assert dlq.purge() == 3
    stats = dlq.stats()
    assert (stats.dlq_messages, stats.queue_messages) == (0, 1)


# ------------------------------------------------------------ reruns, crashes, concurrency


def _park_ids(stack: Any, payment_ids: list[str]) -> None:
    for payment_id in payment_ids:
        stack.sqs.send_message(
            QueueUrl=stack.dlq_url, MessageBody=json.dumps({"payment_id": payment_id})
        )


def _per_payment(stack: Any) -> dlq_module.DlqService:
    """The service as `paycli dlq redrive` builds it: it reads which payments are settled."""
    return DlqService(
        stack.sqs, stack.queue_url, stack.dlq_url, move_task_supported=False,
        settled=lambda ids: dlq_module.settled_payments(stack.ddb, stack.tables.payments, ids),
    )  # fmt: skip


def _store(stack: Any, payment_id: str, status: str) -> None:
    stack.ddb.put_item(
        TableName=stack.tables.payments,
        Item={"payment_id": {"S": payment_id}, "status": {"S": status}},
    )


def test_repeated_messages_of_one_payment_are_sent_once(stack: Any) -> None:
    """Three DLQ messages for one payment (earlier reruns multiplied them): one goes back,
    the other two are deleted; no message of another payment is touched."""
    one, other = f"pay_{uuid.uuid4().hex}", f"pay_{uuid.uuid4().hex}"
    _park_ids(stack, [one, one, other, one])
    report = _per_payment(stack).redrive()
    assert (report.moved, report.dropped_duplicates, report.failed) == (2, 2, 0)
    assert sorted(_bodies(stack, stack.queue_url)) == sorted([one, other])
    assert _bodies(stack, stack.dlq_url) == []


def test_messages_of_settled_payments_are_deleted_not_sent(stack: Any) -> None:
    """A settled payment needs no redrive (a crashed run's copy went through): deleted."""
    done, declined, open_ = (f"pay_{uuid.uuid4().hex}" for _ in range(3))
    _store(stack, done, "SUCCEEDED")
    _store(stack, declined, "DECLINED")
    _store(stack, open_, "FAILED")
    _park_ids(stack, [done, declined, open_])
    report = _per_payment(stack).redrive()
    assert (report.moved, report.dropped_settled) == (1, 2)
    assert _bodies(stack, stack.queue_url) == [open_]
    assert _bodies(stack, stack.dlq_url) == []


def test_a_rerun_after_a_killed_run_waits_for_its_hidden_messages(stack: Any) -> None:
    """A run killed after receiving (its messages hidden, neither sent nor deleted): the rerun
    counts them, waits until they reappear and moves them; nothing is lost."""
    ids = [f"pay_{uuid.uuid4().hex}" for _ in range(15)]
    _park_ids(stack, ids)
    stack.sqs.receive_message(QueueUrl=stack.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=2)
    assert dlq_module.DlqService(stack.sqs, stack.queue_url, stack.dlq_url,
                                 move_task_supported=False).stats().dlq_in_flight == 10  # fmt: skip
    report = _per_payment(stack).redrive()
    assert report.candidates == 15
    assert report.moved == 15
    assert sorted(_bodies(stack, stack.queue_url)) == sorted(ids)
    assert _bodies(stack, stack.dlq_url) == []


@pytest.mark.usefixtures("serialised_moto")
def test_two_redrives_at_once_move_every_message_exactly_once(stack: Any) -> None:
    """Each run takes other messages; the one that runs out first waits for the other's
    in-flight ones; together every message is moved once and the DLQ ends empty."""
    ids = [f"pay_{uuid.uuid4().hex}" for _ in range(40)]
    _park_ids(stack, ids)
    services = [_per_payment(stack), _per_payment(stack)]
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda service: service.redrive(), services))
    assert sum(r.moved for r in reports) == 40
    assert sorted(_bodies(stack, stack.queue_url)) == sorted(ids)
    assert _bodies(stack, stack.dlq_url) == []


class _CountingSqs:
    """The moto client, counting how many ReceiveMessage calls are in progress at once. The
    first receives are held until a second one is in progress (or 5 s pass): loops that can
    overlap then do, without hoping a sleep is long enough for them to meet."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self._cond = threading.Condition()
        self.active = self.most = 0

    def receive_message(self, **kwargs: Any) -> Any:
        with self._cond:
            self.active += 1
            self.most = max(self.most, self.active)
            self._cond.notify_all()
            self._cond.wait_for(lambda: self.most > 1, timeout=5)
        try:
            return self._sqs.receive_message(**kwargs)
        finally:
            with self._cond:
                self.active -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)


@pytest.mark.usefixtures("serialised_moto")
def test_redrive_loops_run_at_once_and_still_move_each_payment_once(stack: Any) -> None:
    """With `workers`, several loops receive at once; repeats of a payment are still sent
    once, settled payments still dropped, and the count fixed at the start still holds."""
    ids = [f"pay_{uuid.uuid4().hex}" for _ in range(60)]
    settled = ids[:5]
    for payment_id in settled:
        _store(stack, payment_id, "SUCCEEDED")
    _park_ids(stack, ids + ids[10:20])  # ten payments parked twice
    sqs = _CountingSqs(stack.sqs)
    service = DlqService(
        sqs, stack.queue_url, stack.dlq_url, move_task_supported=False,  # type: ignore[arg-type]
        settled=lambda p: dlq_module.settled_payments(stack.ddb, stack.tables.payments, p),
        workers=4,
    )  # fmt: skip
    report = service.redrive()
    assert sqs.most > 1
    assert report.candidates == 70
    assert (report.moved, report.dropped_settled, report.dropped_duplicates) == (55, 5, 10)
    assert sorted(_bodies(stack, stack.queue_url)) == sorted(ids[5:])
    assert _bodies(stack, stack.dlq_url) == []
