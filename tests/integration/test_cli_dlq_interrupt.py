"""Ctrl-C in the middle of `dlq redrive`: `--max`'s loop (over moto queues built from the
template) sends and deletes the batch it holds before the command ends, so no message is left
both in the payment queue and hidden in the DLQ; a followed move task goes on in SQS. Either
way one line says what was moved."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
from types import FrameType
from typing import Any

import boto3
from moto import mock_aws
from queues import queue_depth
from waiting import wait_until

from paycli.core.dlq import DlqService
from paycli.core.errors import StoppedByUserError
from paycli.local import patches


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
    handled = threading.Event()

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        handled.set()  # the main thread runs this, then gives up the run before it next waits
        signal.default_int_handler(signum, frame)

    def settled(payment_ids: list[str]) -> set[str]:  # the loop asks before each send
        if not signalled:
            signalled.append(True)
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, while this batch is in hand
            # This runs in the loop's thread: without waiting for the main thread to take the
            # Ctrl-C, the loop could receive a second batch first (20 moved, not 10, in CI).
            assert handled.wait(10), "the main thread never took the Ctrl-C"
        return set()

    dlq = DlqService(
        stack.sqs, stack.queue_url, stack.dlq_url, move_task_supported=False, settled=settled
    )
    caught: BaseException | None = None
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        dlq.redrive(max_messages=23)
    except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt would be the bug
        caught = exc
    finally:
        signal.signal(signal.SIGINT, previous)
    assert isinstance(caught, StoppedByUserError), caught
    assert caught.message == (
        "moved 10 of 23 message(s) to the payment queue before Ctrl-C; the rest stay in the"
        " dead-letter queue"
    )
    stats = dlq.stats()
    assert (stats.queue_messages, stats.dlq_messages, stats.dlq_in_flight) == (10, 13, 0)


def test_ctrl_c_while_following_a_move_task_says_sqs_goes_on(aws_env: None) -> None:
    """Ctrl-C while `dlq redrive` follows its move task (on the local stack's move tasks): the
    line says how many had moved and that SQS moves the rest, and it does: every message
    reaches the payment queue. Before, the command ended without a word."""
    with patches.applied(), mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq_url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
        policy = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": 1}
        queue_url = sqs.create_queue(
            QueueName="payments", Attributes={"RedrivePolicy": json.dumps(policy)}
        )["QueueUrl"]
        for i in range(25):
            sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps({"payment_id": f"p{i}"}))

        def ctrl_c(_seconds: float) -> None:  # Ctrl-C during the wait between two looks
            raise KeyboardInterrupt

        dlq = DlqService(sqs, queue_url, dlq_url, move_task_supported=True, sleep=ctrl_c)
        caught: BaseException | None = None
        try:
            dlq.redrive()
        except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt would be the bug
            caught = exc
        assert isinstance(caught, StoppedByUserError), caught
        moved = re.fullmatch(
            r"stopped following the move task at (\d+) of 25 message\(s\) moved; SQS (.*)",
            caught.message,
        )
        assert moved is not None, caught.message
        # "the rest" only when there is a rest: the task may have moved all 25 by the first look
        rest = "goes on moving the rest" if int(moved[1]) < 25 else "ends it"
        assert moved[2] == rest
        assert wait_until(
            lambda: queue_depth(sqs, queue_url) == 25, timeout=30, what="the task's messages"
        )
