"""`AWS::Pipes::Pipe` from an SQS queue to a Step Functions state machine, run locally.

moto stores pipes but never runs them, so this does what EventBridge Pipes does for the pipe in
the template: a few threads long-poll the source queue (up to ten messages a receive, as Pipes
reads SQS in bulk), split what they get into batches of BatchSize, hand each batch to
StartExecution as a JSON *array* of SQS records in Pipes' shape (even for BatchSize 1), with
FIRE_AND_FORGET, and delete the messages of the started batches, in one DeleteMessageBatch. A
batch whose StartExecution fails is left alone: its messages reappear after the queue's
visibility timeout and, after `maxReceiveCount` receives, SQS's redrive policy moves them to the
DLQ, as on AWS.

The two steps with side effects, `start_execution` and `delete_messages`, are methods so fault
tests can override them; `PipeFaults` is the same seam driven from outside the process (the
daemon's `/_paycli/faults` control call), and carries the fault plan's injector
(paycli.local.faults) for the pipe's three kinds: duplicate deliveries, a stop between
StartExecution and DeleteMessage, pauses.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from paycli.core.errors import PaycliError
from paycli.local.faults import FaultInjector
from paycli.local.model import PipeSpec

# Not under "paycli": the handlers' Powertools Logger() is named after the service
# ("paycli") and would capture and reformat these records as if a handler wrote them.
log = logging.getLogger("paycli-local.pipe")

#: Pipes' default long-poll is 20 s; a short one keeps stop() quick. A message that arrives
#: during the wait wakes the poller at once, so this costs nothing in latency.
DEFAULT_WAIT_SECONDS = 1
DEFAULT_POLLERS = 2
#: SQS's most per ReceiveMessage and per DeleteMessageBatch. Receiving ten at a time costs one
#: receive and one delete per ten messages under load instead of one each (measured: about 2 of
#: the 12 emulator requests a payment made), and a lone message is still picked up at once.
RECEIVE_LIMIT = 10


class UnsupportedPipeError(PaycliError):
    """The template's pipe uses something this poller cannot emulate faithfully."""


class PipeStartError(Exception):
    """StartExecution did not happen (raised by an injected fault)."""


@dataclass
class PipeFaults:
    """Faults to inject into running pipes, matched by a substring of a message body.

    `fail_start_matching`: StartExecution "fails" for such batches, so their messages stay in the
    queue (and reach the DLQ after maxReceiveCount). `skip_delete_matching`: the execution starts
    but such a message is not deleted, so it is delivered again: a duplicate delivery.
    `paused`: the pollers stop receiving (a pipe that is down); messages wait in the queue and
    are picked up once it is cleared. `injector`: the fault plan's draws (shared with the
    daemon's other seams).
    """

    fail_start_matching: str | None = None
    skip_delete_matching: str | None = None
    paused: bool = False
    injector: FaultInjector = field(default_factory=FaultInjector)

    def matches(self, pattern: str | None, records: list[dict[str, Any]]) -> bool:
        """Whether a fault pattern applies to this batch."""
        if not pattern:
            return False
        return any(pattern in str(r["body"]) for r in records)

    def to_json(self) -> dict[str, Any]:
        """The current faults, for the control call's answer."""
        return {
            "fail_start_matching": self.fail_start_matching,
            "skip_delete_matching": self.skip_delete_matching,
            "paused": self.paused,
            **self.injector.to_json(),
        }


def _attribute_value(value: dict[str, Any]) -> dict[str, Any]:
    """boto3's MessageAttributeValue in the camelCase shape Pipes and Lambda events use."""
    binary = value.get("BinaryValue")
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [
            base64.b64encode(b).decode() for b in value.get("BinaryListValues", [])
        ],
        "dataType": value.get("DataType"),
    }


def to_pipe_record(message: dict[str, Any], spec: PipeSpec, region: str) -> dict[str, Any]:
    """One received SQS message as an EventBridge Pipes SQS source record."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _attribute_value(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": spec.source_queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def check_supported(spec: PipeSpec) -> None:
    """Refuse pipes this poller cannot run faithfully, naming what is unsupported (never a
    silent skip)."""
    if spec.invocation_type != "FIRE_AND_FORGET":
        msg = (
            f"pipe {spec.name}: InvocationType {spec.invocation_type} is not supported locally"
            " (a STANDARD state machine target needs FIRE_AND_FORGET)"
        )
        raise UnsupportedPipeError(msg)
    if not spec.target_arn.startswith("arn:aws:states:"):
        msg = f"pipe {spec.name}: only Step Functions targets are supported, not {spec.target_arn}"
        raise UnsupportedPipeError(msg)
    if not 1 <= spec.batch_size <= 10:
        msg = f"pipe {spec.name}: BatchSize {spec.batch_size} is outside 1..10 for SQS locally"
        raise UnsupportedPipeError(msg)


@dataclass
class PipeStats:
    """Counters a test or `paycli local status` can read.

    `polls` counts the pollers' turns at the source queue that ended: a receive, or a look at a
    paused pipe. One poller takes its turn at a time, so once `polls` has moved past a value
    read after a change (a pause, a queue attribute), the turn that was in flight then has
    ended and every receive from there on started after the change: what a test waits for
    instead of sleeping through a long poll."""

    received: int = 0
    started: int = 0
    start_failures: int = 0
    deleted: int = 0
    polls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        """Add to counters atomically (pollers run in parallel)."""
        with self.lock:
            for name, count in counts.items():
                setattr(self, name, getattr(self, name) + count)

    def to_json(self) -> dict[str, int]:
        """A snapshot."""
        with self.lock:
            return {
                "received": self.received,
                "started": self.started,
                "start_failures": self.start_failures,
                "deleted": self.deleted,
                "polls": self.polls,
            }


class PipePoller:
    """Runs one pipe: `start()` launches the pollers, `stop()` ends them and waits."""

    def __init__(
        self,
        spec: PipeSpec,
        *,
        sqs: Any,
        sfn: Any,
        region: str,
        pollers: int = DEFAULT_POLLERS,
        wait_seconds: int = DEFAULT_WAIT_SECONDS,
        faults: PipeFaults | None = None,
    ) -> None:
        check_supported(spec)
        self.spec = spec
        self.sqs, self.sfn, self.region = sqs, sfn, region
        self.pollers, self.wait_seconds = pollers, wait_seconds
        self.faults = faults or PipeFaults()
        self.stats = PipeStats()
        self._stop = threading.Event()
        # One poller long-polls at a time while the others start executions: the queue wakes
        # every waiting receiver on each message (notify_all), so with all of them waiting,
        # each message cost one receive per poller, all but one of them empty.
        self._receiving = threading.Lock()
        self._threads: list[threading.Thread] = []

    # --------------------------------------------------------------- the overridable steps

    def execution_name(self, records: list[dict[str, Any]]) -> str:
        """A fresh name per StartExecution (moto fails a second unnamed one; AWS needs <= 80)."""
        return f"{records[0]['messageId']}-{uuid.uuid4().hex[:12]}"[:80]

    def start_execution(self, records: list[dict[str, Any]]) -> str:
        """Start the target with the batch as its input; return the execution ARN."""
        if self.faults.matches(self.faults.fail_start_matching, records):
            msg = "injected fault: StartExecution failed"
            raise PipeStartError(msg)
        response = self.sfn.start_execution(
            stateMachineArn=self.spec.target_arn,
            name=self.execution_name(records),
            input=json.dumps(records),
        )
        if self.faults.injector.fire("sqs_duplicate_delivery"):
            log.info("injected fault: delivering %d message(s) twice", len(records))
            self.sfn.start_execution(
                stateMachineArn=self.spec.target_arn,
                name=self.execution_name(records),
                input=json.dumps(records),
            )
        return str(response["executionArn"])

    def delete_messages(self, records: list[dict[str, Any]]) -> None:
        """Delete started messages (at most RECEIVE_LIMIT) from the source queue."""
        skipped = [r for r in records if self.faults.matches(self.faults.skip_delete_matching, [r])]
        if skipped:
            log.info("injected fault: not deleting %d message(s)", len(skipped))
            records = [r for r in records if r not in skipped]
        stopped = [r for r in records if self._stops_before_delete(r)]
        records = [r for r in records if r not in stopped]
        if not records:
            return
        entries = [
            {"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(records)
        ]
        result = self.sqs.delete_message_batch(QueueUrl=self.spec.source_queue_url, Entries=entries)
        for failure in result.get("Failed", []):
            log.warning("pipe %s: delete failed: %s", self.spec.name, failure)
        self.stats.add(deleted=len(result.get("Successful", [])))

    def _stops_before_delete(self, record: dict[str, Any]) -> bool:
        """The plan's pipe_stop_before_delete: the message stays, and comes back after the
        plan's redeliver_after_seconds instead of the queue's visibility timeout."""
        spec = self.faults.injector.fire("pipe_stop_before_delete")
        if spec is None:
            return False
        log.info("injected fault: pipe stopped before deleting %s", record["messageId"])
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.spec.source_queue_url,
                ReceiptHandle=record["receiptHandle"],
                VisibilityTimeout=max(0, round(spec.seconds)),
            )
        except Exception:  # noqa: BLE001 - it then comes back after the visibility timeout
            log.warning("pipe %s: could not shorten the redelivery", self.spec.name)
        return True

    # --------------------------------------------------------------- the loop

    def receive(self) -> list[dict[str, Any]]:
        """One long-poll of the source queue, as records."""
        response = self.sqs.receive_message(
            QueueUrl=self.spec.source_queue_url,
            MaxNumberOfMessages=RECEIVE_LIMIT,
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        return [to_pipe_record(m, self.spec, self.region) for m in messages]

    def batches(self, records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """What one receive gives the target: consecutive batches of BatchSize records."""
        size = self.spec.batch_size
        return [records[i : i + size] for i in range(0, len(records), size)]

    def process(self, records: list[dict[str, Any]]) -> int:
        """Start each batch, then delete the messages of those that started; leave a batch
        whose start failed in the queue. The number of batches started."""
        self.stats.add(received=len(records))
        started = [batch for batch in self.batches(records) if self._start(batch)]
        if started:
            try:
                self.delete_messages([record for batch in started for record in batch])
            except Exception:  # a redelivery follows; the handlers are idempotent (convention 8)
                log.exception("pipe %s: delete after StartExecution failed", self.spec.name)
        return len(started)

    def _start(self, batch: list[dict[str, Any]]) -> bool:
        try:
            arn = self.start_execution(batch)
        except Exception as exc:  # noqa: BLE001 - any failure leaves the messages for SQS to retry
            self.stats.add(start_failures=1)
            log.warning(
                "pipe %s: StartExecution failed, message(s) left in the queue: %s",
                self.spec.name,
                exc,
            )
            return False
        self.stats.add(started=1)
        log.debug("pipe %s: started %s", self.spec.name, arn)
        return True

    def poll_once(self) -> int:
        """Receive and process one batch; the number of messages handled."""
        while not self._receiving.acquire(timeout=0.1):
            if self._stop.is_set():
                return 0
        try:
            # Paused while this poller waited for the other's long poll: receive nothing, so a
            # pause takes effect within one long poll, not two.
            records = [] if self.faults.paused else self.receive()
        finally:
            self.stats.add(polls=1)  # before the release: the turn has ended (see PipeStats)
            self._receiving.release()
        if records:
            self.process(records)
        return len(records)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.faults.paused:
                self.poll_once()  # receives nothing; counts a turn, so the pause can be seen
                self._stop.wait(0.05)
                continue
            pause = self.faults.injector.fire("pipe_paused")
            if pause is not None:
                log.info("injected fault: pipe paused for %.2f s", pause.seconds)
                self._stop.wait(pause.seconds)
                continue
            try:
                self.poll_once()
            except Exception:  # queue gone, emulator stopping: keep the poller alive, slowly
                log.exception("pipe %s: receive failed", self.spec.name)
                self._stop.wait(1.0)

    def start(self) -> None:
        """Launch the poller threads."""
        self._stop.clear()
        for index in range(self.pollers):
            thread = threading.Thread(
                target=self._run, name=f"pipe-{self.spec.name}-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the pollers to stop and wait for them (each finishes its current batch)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = [t for t in self._threads if t.is_alive()]
        if self._threads:
            log.warning("pipe %s: %d poller(s) did not stop", self.spec.name, len(self._threads))

    @property
    def running(self) -> bool:
        """Whether any poller thread is alive."""
        return any(t.is_alive() for t in self._threads)
