"""The emulated AWS account inside this process: patched moto backends, the Lambda runner, and
what has been provisioned from the template.

A `ThreadedMotoServer` started in the same process (the daemon's) shares these backends, so
other processes reach the same account over HTTP while handlers, the pipe poller and the
interpreter call moto in-process (about 4.5 ms a call instead of 17 ms, MOTO_NOTES).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from moto import mock_aws
from moto.core.config import DefaultConfig

from paycli.local import patches
from paycli.local.model import Deployment, FunctionSpec, InvokeResult, PipeSpec, Route
from paycli.local.provision import Provisioner
from paycli.local.runner import LambdaRunner
from paycli.local.template import load_template

__all__ = [
    "MOTO_CONFIG",
    "Deployment",
    "FunctionSpec",
    "InvokeResult",
    "LocalStack",
    "PipeSpec",
    "Route",
]

# Lambda without Docker selects LambdaSimpleBackend (the runner's seam); Step Functions runs the
# real ASL with moto's interpreter (MOTO_NOTES, "Seams that work").
MOTO_CONFIG: DefaultConfig = {
    "lambda": {"use_docker": False},
    "stepfunctions": {"execute_state_machine": True},
}
# mock_aws sets these credentials; clients built here use the same ones.
_ACCESS_KEY = "FOOBARKEY"
_SECRET_KEY = "FOOBARSECRET"  # noqa: S105 - moto's fixed fake credentials, not a secret


class LocalStack:
    """The emulated AWS account inside this process: moto backends (patched), the Lambda runner,
    and what has been provisioned from the template."""

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        time_scale: float = 1.0,
        log_dir: Path | None = None,
        stack_name: str = "paycli",
        patch_moto: bool = True,
    ) -> None:
        self.region = region
        self.patch_moto = patch_moto
        self.time_scale = time_scale
        self.stack_name = stack_name
        self.runner = LambdaRunner(region=region, log_dir=log_dir)
        self.deployment: Deployment | None = None
        self._mock: Any = None
        self._clients: dict[str, Any] = {}
        self._session: Any = None
        self._lock = threading.RLock()

    def start(self) -> None:
        """Patch moto, start the in-process mock over the shared backends, route Lambda."""
        with self._lock:
            if self._mock is not None:
                return
            patches.apply(fixes=self.patch_moto)
            patches.set_time_scale(self.time_scale)
            self._mock = mock_aws(config=MOTO_CONFIG)
            self._mock.start(reset=False)
            patches.set_lambda_invoker(self.runner.moto_invoke)

    def stop(self, *, remove_data: bool = True) -> None:
        """Stop the mock; `remove_data` also resets moto's backends (what tests want)."""
        with self._lock:
            if self._mock is None:
                return
            patches.set_lambda_invoker(None)
            self._mock.stop(remove_data=remove_data)
            self._mock = None
            self._clients.clear()

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
            return self.deployment

    def client(self, service: str) -> Any:
        """A boto3 client bound to the in-process mock (cached; botocore clients are
        thread-safe once built)."""
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                client = self._new_client(service)
                self._clients[service] = client
            return client

    def _new_client(self, service: str) -> Any:
        if self._session is None:
            self._session = boto3.session.Session(
                aws_access_key_id=_ACCESS_KEY,
                aws_secret_access_key=_SECRET_KEY,
                region_name=self.region,
            )
        # A host AWS_ENDPOINT_URL (set for other processes) must not send these over HTTP.
        config = Config(  # type: ignore[call-arg]  # botocore-stubs predate this option
            retries={"max_attempts": 2, "mode": "standard"},
            max_pool_connections=50,
            ignore_configured_endpoint_urls=True,
        )
        return self._session.client(service, config=config)
