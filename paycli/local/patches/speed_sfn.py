"""Speed, Step Functions: what moto's ASL interpreter redoes for every execution or Task.

Same answers, less CPU. `apply(speed=False)` leaves these off.
"""

# ruff: noqa: PLC0415 - each patch imports the moto module it changes next to the change
from __future__ import annotations

import io
import threading
from collections.abc import Callable
from functools import wraps
from typing import Any

from paycli.local.patches._base import Patch, Patcher, Purpose, Saving
from paycli.local.patches.seams import SETTINGS


def _warm_heap_keys(component: Any, seen: set[int]) -> None:
    """Touch `heap_key` on every component of a parsed program.

    Components key per-execution state (retry attempt counters, backoff multipliers) in
    env.heap by a lazily minted uid; minting it once here, before the program is shared between
    concurrent executions, removes the race where two threads mint different keys."""
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    if id(component) in seen:
        return
    seen.add(id(component))
    if isinstance(component, EvalComponent):
        _ = component.heap_key
    children: list[Any] = []
    if isinstance(component, list | tuple):
        children = list(component)
    elif isinstance(component, dict):
        children = list(component.values())
    elif hasattr(component, "__dict__") and type(component).__module__.startswith("moto."):
        children = list(vars(component).values())
    for child in children:
        _warm_heap_keys(child, seen)


def _install_asl_parse_cache(patcher: Patcher) -> None:
    """The parsed program keeps per-execution state in env.heap / env.stack, never on the
    components (verified in retry/max_attempts_decl.py and backoff_rate_decl.py), so one parse
    is shared by every execution of the same definition."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    original = AmazonStateLanguageParser.parse  # a staticmethod in 5.2.5
    cache: dict[str, Any] = {}
    lock = threading.Lock()

    def parse(definition: str) -> Any:
        with lock:
            cached = cache.get(definition)
        if cached is not None:
            return cached
        parsed = original(definition)
        _warm_heap_keys(parsed[0], set())
        with lock:
            return cache.setdefault(definition, parsed)

    patcher.set(AmazonStateLanguageParser, "parse", staticmethod(parse))


ASL_PARSE_CACHE = Patch(
    name="asl_parse_cache",
    purpose=Purpose.SPEED,
    fixes="The ASL is re-parsed for every execution: about 25 ms for a 9-state machine. "
    "Parsed once per definition.",
    targets={
        "moto.stepfunctions.parser.asl.parse.asl_parser"
        ":AmazonStateLanguageParser.parse": "fab7985a06739a6d",
        "moto.stepfunctions.parser.asl.component.eval_component"
        ":EvalComponent.heap_key": "6229684384018333",
    },
    install=_install_asl_parse_cache,
    saves=Saving("stepfunctions.execution", 53.87, 16.782),
)


def _cached_parser(original: Callable[[str], Any]) -> Callable[[str], Any]:
    cache: dict[str, Any] = {}

    def parse(path: str) -> Any:
        expression = cache.get(path)
        if expression is None:
            expression = cache.setdefault(path, original(path))
        return expression

    return parse


def _install_jsonpath_cache(patcher: Patcher) -> None:
    """Parsed expressions are immutable (find/update take the data as an argument), so one
    per path string is shared."""
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    for module in (json_path, result_path):
        patcher.set(module, "parse", _cached_parser(module.parse))


JSONPATH_CACHE = Patch(
    name="jsonpath_cache",
    purpose=Purpose.SPEED,
    fixes="The interpreter calls jsonpath_ng's parse for every JSONPath it evaluates, and each "
    "call builds a new PLY parser: about 14 parses per payment, the largest single cost "
    "inside an execution.",
    targets={
        "moto.stepfunctions.parser.asl.utils.json_path:extract_json": "92133d58dad724b6",
        "moto.stepfunctions.parser.asl.component.common.path.result_path"
        ":ResultPath": "32b5fff52328966e",
    },
    install=_install_jsonpath_cache,
    saves=Saving("stepfunctions.execution", 27.357, 21.983, calls=2000, rounds=3),
)


_TASK_MODULES = (
    "lambda_eval_utils",
    "service.state_task_service_dynamodb",
    "service.state_task_service_sqs",
    "service.state_task_service_sfn",
    "service.state_task_service_sns",
    "service.state_task_service_events",
    "service.state_task_service_aws_sdk",
)


def _install_sfn_clients(patcher: Patcher) -> None:
    """One client per (region, service, in-process or server port); botocore clients are
    thread-safe once built, creating them is not, hence the lock. `boto_client_for` is
    imported by name into each task module, so those are re-pointed."""
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    cache: dict[tuple[str, str, bool, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service, bool(botocore_stubber.enabled), str(moto_server_port()))
        client = cache.get(key)
        if client is not None:
            return client
        with lock:
            client = cache.get(key)
            if client is None:
                client = original(region=region, service=service)
                cache[key] = client
            return client

    base = "moto.stepfunctions.parser.asl.component.state.exec.state_task"
    importers = [f"{base}.{name}" for name in _TASK_MODULES]
    patcher.repoint("boto_client_for", original, boto_client_for, importers)


SFN_CLIENTS = Patch(
    name="sfn_clients",
    purpose=Purpose.SPEED,
    fixes="Every Task builds new boto3 clients: 3-8 ms per client. One per region and service.",
    targets={"moto.stepfunctions.parser.asl.utils.boto_client:boto_client_for": "e77910b895f0e8b9"},
    install=_install_sfn_clients,
    saves=Saving("stepfunctions.execution", 17.382, 15.669),
)


def _install_sfn_direct_invoke(patcher: Patcher) -> None:
    """In process, with an invoker installed, the interpreter's invoke goes to the same
    invoker (the seam function) directly and gets Lambda's response shape; unknown functions
    and server mode take moto's path as before."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
        lambda_eval_utils,
    )
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    original = lambda_eval_utils._invoke_lambda_function

    @wraps(original)
    def _invoke_lambda_function(
        parameters: dict[str, Any], region: str, state_credentials: Any
    ) -> Any:
        invoker = SETTINGS.lambda_invoker
        if (
            invoker is None
            or parameters.get("InvocationType", "RequestResponse") != "RequestResponse"
        ):
            return original(parameters, region, state_credentials)
        payload = parameters.get("Payload") or b"{}"
        if isinstance(payload, str):
            payload = payload.encode()
        elif not isinstance(payload, bytes):
            payload = to_json_str(payload).encode()
        headers: dict[str, str] = {}
        name = str(parameters["FunctionName"])
        body = invoker(name, parameters.get("Qualifier"), payload, {}, headers)
        if body is None:
            return original(parameters, region, state_credentials)
        response: dict[str, Any] = {
            "StatusCode": 200,
            "ExecutedVersion": "$LATEST",
            "Payload": lambda_eval_utils._from_payload(io.BytesIO(body)),
        }
        if "x-amz-function-error" in headers:
            response["FunctionError"] = headers["x-amz-function-error"]
        return response

    patcher.set(lambda_eval_utils, "_invoke_lambda_function", _invoke_lambda_function)


SFN_DIRECT_INVOKE = Patch(
    name="sfn_direct_invoke",
    purpose=Purpose.SPEED,
    fixes="A lambda:invoke Task goes interpreter -> botocore -> moto's Lambda API -> the seam "
    "-> runner: about 1.1 ms of serialising and parsing per call around a handler the runner "
    "calls in 0.03 ms.",
    targets={
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils"
        ":_invoke_lambda_function": "c194a810b88fec49",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils"
        ":_from_payload": "c3e55a00eb0647f7",
    },
    install=_install_sfn_direct_invoke,
    saves=Saving("stepfunctions.execution", 29.102, 24.761, calls=2000, rounds=3),
)

PATCHES = (ASL_PARSE_CACHE, JSONPATH_CACHE, SFN_CLIENTS, SFN_DIRECT_INVOKE)
