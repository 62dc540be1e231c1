"""The local stack's process: moto server + engine + local API + pipe pollers, until SIGTERM.

`python -m paycli.local.daemon --port P --api-port Q --state-dir D [--time-scale S]` starts
everything, publishes `state.json` once it can serve, answers control calls (deploy, health,
logs, faults, shutdown) on the local API's `/_paycli/` paths, and on SIGTERM/SIGINT (or the
shutdown call) stops the pollers and servers and removes its state files. `paycli local up`
starts it detached; `paycli local up --foreground` runs `run()` in the CLI's own process.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paycli.core.timeparse import iso_z
from paycli.local import doctor, gc_policy
from paycli.local import state as st
from paycli.local.api import ControlSurface, Gateway
from paycli.local.api_http import LocalApi
from paycli.local.faults import FaultInjector, install_emulator_faults, uninstall_emulator_faults
from paycli.local.model import Deployment, PipeSpec
from paycli.local.pipe import DEFAULT_POLLERS, PipeFaults, PipePoller, check_supported

# Not under "paycli": the handlers' Powertools Logger() is named after the service
# ("paycli") and would capture and reformat these records as if a handler wrote them.
log = logging.getLogger("paycli-local.daemon")
#: Worker processes per function when neither --lambda-workers nor the variable says.
DEFAULT_LAMBDA_WORKERS = 0
#: The variable `paycli local up` passes --lambda-workers in (and a user may set).
LAMBDA_WORKERS_ENV = "PAYCLI_LAMBDA_WORKERS"
#: The variable that turns on --dynamodb-process when the flag is not given ("1" / "0").
DYNAMODB_PROCESS_ENV = "PAYCLI_DYNAMODB_PROCESS"


class Daemon:
    """Owns every running part; its methods are the control surface (api.Control)."""

    def __init__(
        self,
        *,
        port: int = 0,
        api_port: int = 0,
        home: Path | None = None,
        time_scale: float = 1.0,
        pollers: int = DEFAULT_POLLERS,
        fault_plan: dict[str, Any] | None = None,
        lambda_workers: int = 0,
        dynamodb_process: bool = False,
    ) -> None:
        self.port, self.api_port, self.home = port, api_port, home or st.home_dir()
        self.lambda_workers = lambda_workers
        self.dynamodb_process = dynamodb_process
        self.initial_fault_plan = fault_plan
        self.time_scale, self.pollers = time_scale, pollers
        self.injector = FaultInjector()  # the fault plan, shared by every seam
        self.faults_plan = PipeFaults(injector=self.injector)
        self.deployment: Deployment | None = None
        self.stopping = threading.Event()
        self._deploy_lock = threading.Lock()
        self._pipes: dict[PipeSpec, PipePoller] = {}
        self._moto: Any = None
        self._stack: Any = None
        self._dynamodb: Any = None  # paycli.local.dynamodb_process.DynamoDbProcess
        self._api: LocalApi | None = None
        self.state: st.DaemonState | None = None
        self.gc = gc_policy.GcWatch()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> st.DaemonState:
        """Start the emulator, the engine and the API; publish state.json; return it."""
        self._refuse_second_daemon()
        st.clear_outputs(self.home)  # a fresh emulator holds nothing: old outputs would lie
        for key, value in st.local_credentials_env().items():
            os.environ[key] = value
        token = secrets.token_urlsafe(32)
        self.gc.install()  # records the collector's pauses; $PAYCLI_LOCAL_GC_THRESHOLD
        self._start_moto()
        self._start_stack()
        self._start_api(token)
        assert self._api is not None
        endpoint = f"http://127.0.0.1:{self.port}"
        self.state = st.DaemonState(
            pid=os.getpid(),
            port=self.port,
            endpoint=endpoint,
            api_port=self._api.port,
            api_url=self._api.base_url,
            token=token,
            started_at=iso_z(datetime.now(UTC)),
            log_file=str(st.local_dir(self.home) / st.LOG_FILE),
            time_scale=self.time_scale,
        )
        st.write_state(self.state, self.home)
        log.info("local stack ready: endpoint %s, api %s", endpoint, self._api.base_url)
        return self.state

    def _refuse_second_daemon(self) -> None:
        current = st.read_state(self.home)
        if (
            current is not None
            and current.pid != os.getpid()
            and st.pid_alive(current.pid)
            and st.is_paycli_process(current.pid)
        ):
            msg = f"a local stack is already running (pid {current.pid})"
            raise RuntimeError(msg)

    def _start_moto(self) -> None:
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 - heavy; daemon only

        if self.port:
            _check_port_free(self.port)
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._moto.start()
        self.port = int(self._moto.get_host_and_port()[1])
        # MOTO_NOTES: moto's interpreter builds clients against localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)

    def _start_stack(self) -> None:
        from paycli.local.stack import LocalStack  # noqa: PLC0415 - imports moto internals

        self._stack = LocalStack(
            region=st.LOCAL_REGION,
            time_scale=self.time_scale,
            log_dir=st.local_dir(self.home),
            lambda_workers=self.lambda_workers,
        )
        self._stack.start()
        self._stack.runner.faults = self.injector
        install_emulator_faults(self.injector)
        if self.dynamodb_process:
            self._start_dynamodb()
        if self.initial_fault_plan is not None:
            self.injector.set_plan(self.initial_fault_plan)

    def _start_dynamodb(self) -> None:
        """DynamoDB in its own process: every DynamoDB request of this process, of moto's
        HTTP server and of the Lambda workers goes there (paycli/local/dynamodb_process.py)."""
        from paycli.local.dynamodb_process import DynamoDbProcess  # noqa: PLC0415

        self._dynamodb = DynamoDbProcess(
            speed=self._stack.speed_patches, minimal=not self._stack.patch_moto
        )
        self._dynamodb.start()
        self._dynamodb.install(self._moto)
        self.injector.mirror = self._dynamodb
        self._stack.runner.dynamodb_route = self._dynamodb.worker_route()

    def _start_api(self, token: str) -> None:
        gateway = Gateway(
            self._stack.runner,
            st.LOCAL_REGION,
            st.LOCAL_ACCESS_KEY,
            st.LOCAL_SECRET_KEY,
            st.LOCAL_ACCOUNT_ID,
        )
        self._api = LocalApi(gateway, ControlSurface(self, token=token), port=self.api_port)
        self._api.start()

    def wait(self) -> None:
        """Block until a signal or the shutdown call asks us to stop."""
        while not self.stopping.wait(0.5):
            pass

    def stop(self) -> None:
        """Stop pollers first (no new executions), then the API, engine and emulator."""
        for poller in self._pipes.values():
            poller.stop()
        self._pipes.clear()
        if self._api is not None:
            self._api.stop()
        if self._stack is not None:
            uninstall_emulator_faults()
            self._stack.stop()
        if self._dynamodb is not None:
            self._dynamodb.stop()
            self.injector.mirror = None
        if self._moto is not None:
            self._moto.stop()
        st.remove_state(os.getpid(), self.home)
        log.info("local stack stopped")

    # ------------------------------------------------------------------ control surface

    def health(self) -> dict[str, Any]:
        """Liveness plus what is deployed and what the pipes did."""
        return {
            "pid": os.getpid(),
            "deployed": self.deployment is not None,
            "endpoint": self.state.endpoint if self.state else None,
            "api_url": self.state.api_url if self.state else None,
            "pipes": {spec.name: p.stats.to_json() for spec, p in self._pipes.items()},
            "schedules": self._schedule_counts(),
            "faults": self.faults_plan.to_json(),
            "lambda_workers": self._worker_health(),
            "dynamodb_process": None if self._dynamodb is None else self._dynamodb.health(),
            "gc": self.gc.to_json(),
        }

    def _worker_health(self) -> dict[str, Any]:
        """Worker processes per function (0: handlers run in this process) and what they did."""
        if self._stack is None:
            return {"per_function": self.lambda_workers}
        stats: dict[str, Any] = self._stack.runner.worker_stats.to_json()
        return {"per_function": self.lambda_workers, **stats}

    def _schedule_counts(self) -> dict[str, int]:
        """How often each schedule rule has fired (LocalStack's scheduler runs them)."""
        scheduler = self._stack.scheduler if self._stack is not None else None
        return dict(scheduler.fired) if scheduler is not None else {}

    def deploy(self, template_path: str) -> dict[str, str]:
        """Provision the template (idempotent), route the API, run its pipes; the outputs."""
        with self._deploy_lock:
            assert self._api is not None
            deployment: Deployment = self._stack.deploy(
                Path(template_path), api_base_url=self._api.base_url
            )
            for spec in deployment.pipes:  # refuse before anything is switched over
                check_supported(spec)
            self._api.set_routes(deployment.routes)
            self._sync_pipes(deployment.pipes)
            self.deployment = deployment
            st.write_outputs(deployment.outputs, self.home)
            # full collections skip what lives as long as the daemon (gc_policy: and more)
            frozen = self.gc.settle()
            log.info(
                "deployed %s: %d routes, %d pipes (%d objects frozen)",
                template_path,
                len(deployment.routes),
                len(deployment.pipes),
                frozen,
            )
            return dict(deployment.outputs)

    def _sync_pipes(self, specs: Sequence[PipeSpec]) -> None:
        """Keep pollers whose pipe is unchanged; stop the others; start the new ones."""
        for spec in [s for s in self._pipes if s not in specs]:
            self._pipes.pop(spec).stop()
        for spec in specs:
            if spec not in self._pipes:
                poller = self._stack.pipe_poller(
                    spec, pollers=self.pollers, faults=self.faults_plan
                )
                poller.start()
                self._pipes[spec] = poller

    def logs(self, function: str | None, payment_id: str | None) -> list[dict[str, Any]]:
        """Captured handler log records, filtered."""
        records: list[dict[str, Any]] = self._stack.runner.logs(
            function=function, payment_id=payment_id
        )
        return records

    def faults(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Set (or clear, with null) injected pipe faults and the fault plan (`plan`: a plan
        file's mapping, validated again here; null clears it); the current set and the count
        of faults fired by kind. An empty body only reads."""
        if "plan" in spec:
            self.injector.set_plan(spec["plan"])
            log.info("fault plan: %s", self.injector.plan.to_json())
        for key in ("fail_start_matching", "skip_delete_matching"):
            if key in spec:
                setattr(self.faults_plan, key, spec[key] or None)
        if "paused" in spec:
            self.faults_plan.paused = bool(spec["paused"])
        return self.faults_plan.to_json()

    def shutdown(self) -> None:
        """Ask the main loop to stop (the reply goes out first)."""
        self.stopping.set()


def _check_port_free(port: int) -> None:
    """Fail fast on a taken port: ThreadedMotoServer.start() would wait forever for a server
    thread that died on "Address already in use"."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            msg = f"port {port} on 127.0.0.1 is not available ({exc.strerror}); choose another"
            raise RuntimeError(msg) from None


def run(daemon: Daemon) -> int:
    """Run `daemon` (built, not started) in this process until SIGTERM/SIGINT or the shutdown
    call; exit status. A patch whose target changed refuses before anything starts."""
    problem = doctor.refusal()
    if problem is not None:  # one line, the log's last: `paycli local up` shows it as is
        sys.stderr.write(problem + "\n")
        return doctor.EXIT_PATCH_MISMATCH

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: shutting down", signum)
        daemon.stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        daemon.start()
        daemon.wait()
    except Exception:
        log.exception("local stack failed")
        return 1
    finally:
        daemon.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def configure_logging() -> None:
    """Daemon log lines on stderr (the log file when detached, the terminal in --foreground)."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s",
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per moto HTTP call
    # "Found credentials in environment variables." at INFO, from inside handler threads: it
    # showed up in `paycli logs` as a function's line. Lambda's own log level hides it too.
    logging.getLogger("botocore.credentials").setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(ExpectedFailureFilter())


class ExpectedFailureFilter(logging.Filter):
    """moto's ASL interpreter logs every execution that ends in a Fail state as an ERROR with
    a multi-KB dump of the state's object tree. A payment that fails for a technical reason
    ends exactly so (PaymentFailed, by design): one INFO line with the error and cause."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Shorten moto's FailureEventException records; pass everything else unchanged."""
        if not record.name.startswith("moto.stepfunctions.parser"):
            return True
        message = record.getMessage()
        if "Exception=FailureEventException" not in message:
            return True
        record.msg = "execution ended in a Fail state: " + message.split(" at '(", 1)[0]
        record.args = ()
        record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def default_lambda_workers() -> int:
    """$PAYCLI_LAMBDA_WORKERS if set (a whole number >= 0), else DEFAULT_LAMBDA_WORKERS."""
    value = os.environ.get(LAMBDA_WORKERS_ENV, "").strip()
    if not value:
        return DEFAULT_LAMBDA_WORKERS
    if not value.isdigit():
        msg = f"{LAMBDA_WORKERS_ENV} must be a whole number >= 0, not {value!r}"
        raise SystemExit(msg)
    return int(value)


def default_dynamodb_process() -> bool:
    """$PAYCLI_DYNAMODB_PROCESS if set ("1"/"true" or "0"/"false"), else off."""
    value = os.environ.get(DYNAMODB_PROCESS_ENV, "").strip().lower()
    if value in {"", "0", "false", "no"}:
        return False
    if value in {"1", "true", "yes"}:
        return True
    msg = f"{DYNAMODB_PROCESS_ENV} must be 1 or 0, not {value!r}"
    raise SystemExit(msg)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m paycli.local.daemon", description="Run the paycli local stack."
    )
    parser.add_argument("--port", type=int, default=0, help="moto server port (0: a free one)")
    parser.add_argument("--api-port", type=int, default=0, help="local API port (0: free)")
    parser.add_argument("--state-dir", type=Path, default=None, help="PAYCLI_HOME to use")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="factor on ASL Retry/Wait sleeps (tests use e.g. 0.01)",
    )
    parser.add_argument(
        "--pollers", type=int, default=DEFAULT_POLLERS, help="poller threads per pipe"
    )
    parser.add_argument(
        "--lambda-workers",
        type=int,
        default=default_lambda_workers(),
        help="worker processes per function (0: handlers run in the daemon's process)",
    )
    parser.add_argument(
        "--dynamodb-process",
        action=argparse.BooleanOptionalAction,
        default=default_dynamodb_process(),
        help="run emulated DynamoDB in a process of its own (another core)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m paycli.local.daemon`."""
    args = _parse(argv)
    configure_logging()
    # `kill -USR1 <pid>` writes every thread's stack to the log: how to see a stuck poller.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    return run(
        Daemon(
            port=args.port,
            api_port=args.api_port,
            home=args.state_dir,
            time_scale=args.time_scale,
            pollers=args.pollers,
            lambda_workers=args.lambda_workers,
            dynamodb_process=args.dynamodb_process,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
