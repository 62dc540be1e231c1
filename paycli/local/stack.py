"""The emulated AWS account inside this process: patched moto backends, the Lambda runner, and
what has been provisioned from the template.

A `ThreadedMotoServer` started in the same process (the daemon's) shares these backends, so
other processes reach the same account over HTTP while handlers, the pipe poller and the
interpreter call moto in-process (about 4.5 ms a call instead of 17 ms, docs/moto.md).
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from moto import mock_aws
from moto.core.config import DefaultConfig

from paycli.local import patches
from paycli.local.model import (
    Deployment,
    FunctionSpec,
    InvokeResult,
    PipeSpec,
    Route,
    ScheduleSpec,
)
from paycli.local.pipe import PipePoller
from paycli.local.pipe_transport import InProcessSqs, InProcessStepFunctions
from paycli.local.provision import Provisioner
from paycli.local.runner import LambdaRunner
from paycli.local.state import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
from paycli.local.template import ACCOUNT_ID, load_template

__all__ = [
    "MOTO_CONFIG",
    "Deployment",
    "FunctionSpec",
    "InvokeResult",
    "LocalStack",
    "PipeSpec",
    "Route",
    "ScheduleSpec",
    "Scheduler",
]

# Lambda without Docker selects LambdaSimpleBackend (the runner's seam); Step Functions runs the
# real ASL with moto's interpreter (docs/moto.md, "Seams").
MOTO_CONFIG: DefaultConfig = {
    "lambda": {"use_docker": False},
    "stepfunctions": {"execute_state_machine": True},
}
# The interpreter's GIL switch interval while a local stack runs in this process. Everything
# (handlers, moto, the interpreter, pollers, the API) is CPU-bound Python in one process, in
# dozens of short-lived threads; Python's default forces a switch every 5 ms. Measured with
# benchmarks/throughput.py --n 300 --rate 0, three interleaved pairs in one session: median CPU
# per payment 39.1 ms at 0.005 s, 31.9 ms at 0.02 s. A longer interval only delays which
# thread runs next by up to 20 ms, far below the latencies that matter here (seconds).
SWITCH_INTERVAL_SECONDS = 0.02


class LocalStack:
    """The emulated AWS account inside this process: moto backends (patched), the Lambda runner,
    and what has been provisioned from the template.

    `time_scale` scales ASL Retry/Wait intervals and, unless `schedule_time_scale` is given,
    Schedule rates (0.01 in tests);
    `log_dir` receives the handlers' JSONL log; `speed_patches=False` leaves moto's speed
    patches off (correctness, seams and memory stay: paycli/local/patches); `patch_moto=False`
    keeps moto stock except the patches it cannot run without (the benchmarks' comparison);
    `lambda_workers` N > 0 runs each function's handlers in up to N worker processes
    (paycli/local/workers.py), 0 in this process.
    """

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        time_scale: float = 1.0,
        log_dir: Path | None = None,
        stack_name: str = "paycli",
        patch_moto: bool = True,
        speed_patches: bool = True,
        schedule_time_scale: float | None = None,
        lambda_workers: int = 0,
    ) -> None:
        self.region = region
        self.schedule_time_scale = (
            time_scale if schedule_time_scale is None else schedule_time_scale
        )
        self.patch_moto = patch_moto
        self.speed_patches = speed_patches
        self.time_scale = time_scale
        self.stack_name = stack_name
        self.runner = LambdaRunner(region=region, log_dir=log_dir, lambda_workers=lambda_workers)
        self.deployment: Deployment | None = None
        self.scheduler: Scheduler | None = None
        self._mock: Any = None
        self._clients: dict[str, Any] = {}
        self._session: Any = None
        self._lock = threading.RLock()
        self._previous_switch_interval: float | None = None

    def start(self) -> None:
        """Patch moto, start the in-process mock over the shared backends, route Lambda."""
        with self._lock:
            if self._mock is not None:
                return
            patches.apply(speed=self.speed_patches, minimal=not self.patch_moto)
            patches.set_time_scale(self.time_scale)
            self._previous_switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
            self._mock = mock_aws(config=MOTO_CONFIG)
            self._mock.start(reset=False)
            patches.set_lambda_invoker(self.runner.moto_invoke)

    def stop(self, *, remove_data: bool = True) -> None:
        """Stop the mock; `remove_data` also resets moto's backends (what tests want)."""
        with self._lock:
            if self._mock is None:
                return
            self._stop_scheduler()
            self.runner.close()  # worker processes end with the stack
            patches.set_lambda_invoker(None)
            self._mock.stop(remove_data=remove_data)
            self._mock = None
            self._clients.clear()
            if self._previous_switch_interval is not None:
                sys.setswitchinterval(self._previous_switch_interval)
                self._previous_switch_interval = None
            patches.restore()  # what runs next in this process sees stock moto again

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def deploy(self, template_path: Path, *, api_base_url: str) -> Deployment:
        """Provision every resource of the template (idempotent) and return the outputs."""
        with self._lock:
            if self._mock is None:
                self.start()
            template = load_template(template_path)
            provisioner = Provisioner(
                template,
                self.client,
                self.runner.register,
                region=self.region,
                stack_name=self.stack_name,
            )
            self.deployment = provisioner.provision(api_base_url)
            self._stop_scheduler()
            if self.deployment.schedules:
                self.scheduler = Scheduler(
                    self.deployment.schedules, self.runner, self.schedule_time_scale, self.region
                )
                self.scheduler.start()
            return self.deployment

    def _stop_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None

    def client(self, service: str) -> Any:
        """A boto3 client bound to the in-process mock (cached; botocore clients are
        thread-safe once built)."""
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                client = self._new_client(service)
                self._clients[service] = client
            return client

    def pipe_poller(self, spec: PipeSpec, **options: Any) -> PipePoller:
        """A poller for one of the template's pipes, calling moto's SQS and Step Functions
        backends in process as Pipes calls them inside AWS (paycli/local/pipe_transport.py);
        `options` are PipePoller's (pollers, wait_seconds, faults). With `patch_moto=False`
        (the benchmark's stock comparison) it uses boto3 clients, as before the transport."""
        if not self.patch_moto:
            sqs: Any = self.client("sqs")
            sfn: Any = self.client("stepfunctions")
        else:
            sqs = InProcessSqs(ACCOUNT_ID, self.region)
            sfn = InProcessStepFunctions(ACCOUNT_ID, self.region)
        return PipePoller(spec, sqs=sqs, sfn=sfn, region=self.region, **options)

    def _new_client(self, service: str) -> Any:
        if self._session is None:
            self._session = boto3.session.Session(
                aws_access_key_id=LOCAL_ACCESS_KEY,  # the local stack's credentials, as other
                aws_secret_access_key=LOCAL_SECRET_KEY,  # processes sign with (state.py)
                region_name=self.region,
            )
        # A host AWS_ENDPOINT_URL (set for other processes) must not send these over HTTP.
        config = Config(  # type: ignore[call-arg]  # botocore-stubs predate this option
            retries={"max_attempts": 2, "mode": "standard"},
            max_pool_connections=50,
            ignore_configured_endpoint_urls=True,
        )
        return self._session.client(service, config=config)


class Stopper(Protocol):
    """What the Scheduler waits on between firings: `wait(seconds)` returns True once `set()`
    was called (stop) and False when the seconds passed (fire). `threading.Event` is one;
    tests pass a clock they advance by hand, so firings follow time the test controls."""

    def wait(self, timeout: float | None = None) -> bool: ...

    def set(self) -> None: ...


class Scheduler:
    """EventBridge's part for `Schedule` events: invokes each function every interval (scaled
    by the stack's time scale), first one interval after deploy, as a rate rule does. Each
    firing runs in its own thread so a slow function never delays the others.

    `stopper` is what the schedule threads wait on (a fresh `threading.Event` by default)."""

    def __init__(
        self,
        schedules: tuple[ScheduleSpec, ...],
        runner: LambdaRunner,
        time_scale: float,
        region: str,
        *,
        stopper: Stopper | None = None,
    ) -> None:
        self.schedules = [s for s in schedules if s.enabled]
        self.runner = runner
        self.time_scale = time_scale
        self.region = region
        self.fired: dict[str, int] = {s.name: 0 for s in self.schedules}
        self._stop: Stopper = stopper if stopper is not None else threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for schedule in self.schedules:
            thread = threading.Thread(
                target=self._run, args=(schedule,), name=f"schedule-{schedule.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _run(self, schedule: ScheduleSpec) -> None:
        interval = schedule.interval_seconds * self.time_scale
        while not self._stop.wait(interval):
            self.fired[schedule.name] += 1
            payload = schedule.input or json.dumps(self.event(schedule))
            threading.Thread(
                target=self.runner.invoke,
                args=(schedule.function_name, payload.encode()),
                daemon=True,
            ).start()

    def event(self, schedule: ScheduleSpec) -> dict[str, Any]:
        """EventBridge's Scheduled Event."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [f"arn:aws:events:{self.region}:{ACCOUNT_ID}:rule/{schedule.name}"],
            "detail": {},
        }
