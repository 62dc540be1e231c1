"""Ctrl-C in the middle of `dlq redrive --max`'s loop, over moto queues built from the
template: the batch a loop holds is sent and deleted before the command ends, so no message is
left both in the payment queue and hidden in the DLQ, and the one line says what was moved."""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

from paycli.core.dlq import DlqService
from paycli.core.errors import StoppedByUserError


def _park(stack: Any, count: int) -> None:
    for i in range(count):
        stack.sqs.send_message(
            QueueUrl=stack.dlq_url, MessageBody=json.dumps({"payment_id": f"pay_{i:03d}"})
        )


def test_ctrl_c_mid_redrive_finishes_the_batch_in_hand_and_says_what_moved(stack: Any) -> None:
    """SIGINT while the loop holds its first batch (received, not yet sent): the batch is sent
    and deleted, nothing more is received, the DLQ holds the rest, none hidden, and the error
    names the count. Before, the process died with the batch sent but still in the DLQ (moved
    again by the next redrive) and printed nothing."""
    _park(stack, 23)
    signalled: list[bool] = []

    def settled(payment_ids: list[str]) -> set[str]:  # the loop asks before each send
        if not signalled:
            signalled.append(True)
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, while this batch is in hand
            time.sleep(0.3)
        return set()

    dlq = DlqService(
        stack.sqs, stack.queue_url, stack.dlq_url, move_task_supported=False, settled=settled
    )
    caught: BaseException | None = None
    try:
        dlq.redrive(max_messages=23)
    except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt would be the bug
        caught = exc
    assert isinstance(caught, StoppedByUserError), caught
    assert caught.message == (
        "moved 10 of 23 message(s) to the payment queue before Ctrl-C; the rest stay in the"
        " dead-letter queue"
    )
    stats = dlq.stats()
    assert (stats.queue_messages, stats.dlq_messages, stats.dlq_in_flight) == (10, 13, 0)
