"""Helpers for end-to-end tests on the real local stack (the fixture lives in conftest.py).

`local_stack` starts `python -m paycli.local.daemon` through `paycli.local.control.up` (the
same path as `paycli local up`) on free ports, with PAYCLI_HOME in a temporary directory and a
small time scale so the ASL's Retry waits take milliseconds, deploys stack/template.yaml, and
yields a `LocalStackHandle`: the outputs, the endpoint and credentials, boto3 clients against
the emulator, and `request()` which sends SigV4-signed HTTP requests to the local API exactly as
the CLI does. Teardown stops the daemon and checks that no process is left behind.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "stack" / "template.yaml"
#: ASL Retry intervals of 1-4 s become 10-40 ms.
TIME_SCALE = 0.01
TEST_CARDS = {
    "approved": "4242424242424242",
    "declined": "4000000000000002",
    "insufficient_funds": "4000000000009995",
    "processing_error": "4000000000000119",
}


@dataclass(frozen=True)
class Response:
    """An HTTP answer from the local API."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LocalStackHandle:
    """A running, deployed local stack, and helpers to drive it as a client would."""

    home: Path
    pid: int
    endpoint: str
    outputs: dict[str, str]
    region: str
    access_key: str
    secret_key: str
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def api_url(self) -> str:
        """The ApiUrl output: `http://127.0.0.1:{port}/v1`."""
        return self.outputs["ApiUrl"]

    def client(self, service: str) -> Any:
        """A boto3 client on the emulator's endpoint with the local credentials (cached)."""
        if service not in self._clients:
            import boto3  # noqa: PLC0415

            self._clients[service] = boto3.client(
                service,
                endpoint_url=self.endpoint,
                region_name=self.region,
                aws_access_key_id=self.access_key,
                aws_secret_access_key=self.secret_key,
            )
        return self._clients[service]

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        signed: bool = True,
    ) -> Response:
        """Send `method path` (relative to ApiUrl) to the local API, SigV4-signed by botocore."""
        from botocore.auth import SigV4Auth  # noqa: PLC0415
        from botocore.awsrequest import AWSRequest  # noqa: PLC0415
        from botocore.credentials import Credentials  # noqa: PLC0415

        data = json.dumps(json_body).encode() if json_body is not None else body
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        aws_request = AWSRequest(
            method=method, url=self.api_url + path, data=data, headers=all_headers
        )
        if signed:
            credentials = Credentials(self.access_key, self.secret_key)
            SigV4Auth(credentials, "execute-api", self.region).add_auth(aws_request)
        request = urllib.request.Request(  # noqa: S310 - the local API over http
            aws_request.url,
            data=data or None,
            method=method,
            headers=dict(aws_request.headers),
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 - local
                return Response(reply.status, dict(reply.headers), reply.read())
        except urllib.error.HTTPError as exc:
            return Response(exc.code, dict(exc.headers), exc.read())

    # ------------------------------------------------------------- payment helpers

    def create_account(
        self, balance_minor: int, currency: str = "USD", account_id: str | None = None
    ) -> str:
        """An account with its opening ledger entry, via the handler package's own function."""
        from paystack.domain.accounts import create_account  # noqa: PLC0415
        from paystack.domain.dynamo import TableNames  # noqa: PLC0415

        account_id = account_id or f"acc_{uuid.uuid4().hex[:12]}"
        tables = TableNames(
            payments=self.outputs["PaymentsTableName"],
            accounts=self.outputs["AccountsTableName"],
            ledger=self.outputs["LedgerTableName"],
            idempotency=self.outputs["IdempotencyTableName"],
        )
        create_account(self.client("dynamodb"), tables, account_id, balance_minor, currency)
        return account_id

    def balance(self, account_id: str) -> int:
        """The account's balance in minor units, read straight from DynamoDB."""
        item = self.client("dynamodb").get_item(
            TableName=self.outputs["AccountsTableName"],
            Key={"account_id": {"S": account_id}},
            ConsistentRead=True,
        )["Item"]
        return int(item["balance_minor"]["N"])

    def pay_card(
        self,
        account_id: str,
        amount_minor: int,
        card: str,
        currency: str = "USD",
        key: str | None = None,
    ) -> Response:
        """POST /payments/card with a fresh Idempotency-Key."""
        body = {
            "amount_minor": amount_minor,
            "currency": currency,
            "account_id": account_id,
            "card": {"number": card, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
        }
        return self.request(
            "POST",
            "/payments/card",
            json_body=body,
            headers={"Idempotency-Key": key or uuid.uuid4().hex},
        )

    def wait_for_payment(
        self, payment_id: str, statuses: set[str], timeout: float = 20.0
    ) -> dict[str, Any]:
        """Poll GET /payments/{id} until its status is one of `statuses`; the payment view."""
        last: dict[str, Any] = {}

        def reached() -> dict[str, Any] | None:
            response = self.request("GET", f"/payments/{payment_id}")
            if response.status == 200:
                last.update(response.json())
            return dict(last) if last.get("status") in statuses else None

        view: dict[str, Any] = wait_until(
            reached,
            timeout=timeout,
            interval=0.05,
            what=lambda: f"payment {payment_id} to reach {sorted(statuses)} (last view {last})",
        )
        return view

    def pipe_turns(self) -> dict[str, int]:
        """Each pipe's turns at its source queue that have ended (PipeStats.polls, in health)."""
        from paycli.local import control  # noqa: PLC0415

        return {name: int(p["polls"]) for name, p in control.health()["pipes"].items()}

    def wait_for_pipe_turns(self, timeout: float = 20) -> None:
        """Until every pipe has ended the turn at its queue in flight now: every receive from
        then on starts after what the caller just changed (a pause, a queue attribute), which
        sleeping through one long poll only hoped for."""
        before = self.pipe_turns()
        wait_until(
            lambda: all(turns > before[name] for name, turns in self.pipe_turns().items()),
            timeout=timeout,
            what="each pipe to end the turn at its queue in flight",
        )

    def queue_bodies(self, queue_url: str) -> list[str]:
        """Bodies of every message now visible in a queue. Each is held while the scan goes on
        (so the next receive returns others, however many earlier tests left there), then
        released at once."""
        return [m["Body"] for m in self.find_messages(queue_url, lambda _: False, timeout=0)]

    def find_messages(
        self, queue_url: str, wanted: Callable[[dict[str, Any]], bool], *, timeout: float
    ) -> list[dict[str, Any]]:
        """Scan the queue until a message `wanted` accepts appears (or `timeout` passes): every
        message seen is held invisible during the scan and released after it. Returns what was
        seen, wanted ones first (with their attributes)."""
        sqs = self.client("sqs")
        seen: dict[str, dict[str, Any]] = {}

        def scan() -> bool:
            """Receive until the queue gives nothing more; whether a wanted one was seen."""
            while True:
                messages = sqs.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=30,
                    AttributeNames=["All"],
                ).get("Messages", [])
                for message in messages:
                    seen[message["MessageId"]] = message
                if any(wanted(m) for m in seen.values()):
                    return True
                if not messages:
                    return False

        try:
            wait_until(scan, timeout=timeout, interval=0.2, fail=False, what=queue_url)
        finally:
            for message in seen.values():
                sqs.change_message_visibility(
                    QueueUrl=queue_url, VisibilityTimeout=0, ReceiptHandle=message["ReceiptHandle"]
                )
        return sorted(seen.values(), key=lambda m: not wanted(m))


def start_local_stack(home: Path, template: Path = TEMPLATE) -> LocalStackHandle:
    """Start a daemon for PAYCLI_HOME=`home` (the caller sets the variable) and deploy."""
    from paycli.local import control  # noqa: PLC0415
    from paycli.local.state import read_state  # noqa: PLC0415

    control.up(time_scale=TIME_SCALE)
    outputs = control.deploy(template)
    state = read_state()
    assert state is not None
    return LocalStackHandle(
        home=home,
        pid=state.pid,
        endpoint=state.endpoint,
        outputs=outputs,
        region=control.LOCAL_REGION,
        access_key=control.LOCAL_ACCESS_KEY,
        secret_key=control.LOCAL_SECRET_KEY,
    )


def stop_local_stack(handle: LocalStackHandle) -> None:
    """Stop the daemon and prove it is gone with its state file."""
    from paycli.local import control  # noqa: PLC0415
    from paycli.local.state import STATE_FILE, pid_alive  # noqa: PLC0415

    control.down()
    assert not pid_alive(handle.pid), f"local stack pid {handle.pid} survived `down`"
    assert not (handle.home / "local" / STATE_FILE).exists()


@contextmanager
def local_stack_at(home: Path) -> Iterator[LocalStackHandle]:
    """A deployed local stack with PAYCLI_HOME=`home` while it runs; stopped (and PAYCLI_HOME
    restored) at the end."""
    previous = os.environ.get("PAYCLI_HOME")
    os.environ["PAYCLI_HOME"] = str(home)
    handle = start_local_stack(home)
    try:
        yield handle
    finally:
        try:
            stop_local_stack(handle)
        finally:
            if previous is None:
                os.environ.pop("PAYCLI_HOME", None)
            else:
                os.environ["PAYCLI_HOME"] = previous


def child_processes(pid: int, module: str) -> list[int]:
    """Live processes running `python -m module` whose parent is `pid` (Linux /proc): a
    stack's Lambda workers or its DynamoDB process."""
    from paycli.local.state import pid_alive  # noqa: PLC0415

    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid and f"-m {module} " in cmdline and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found
