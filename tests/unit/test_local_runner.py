"""The in-process Lambda runner with throwaway handlers written to a temp dir: environment,
context, error shape, per-thread isolation, per-function modules and log capture. No AWS."""

from __future__ import annotations

import importlib
import io
import json
import os
import sys
import textwrap
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paycli.local.logstore import read_log_file
from paycli.local.model import FunctionSpec
from paycli.local.runner import LambdaRunner

HANDLER_SOURCE = """
import json
import logging
import os
import time

CALLS = []
IMPORT_TIME_VALUE = os.environ.get("COLOUR")
log = logging.getLogger("throwaway")


class CardDeclinedError(Exception):
    pass


def echo(event, context):
    CALLS.append(1)
    return {
        "event": event,
        "colour": os.environ.get("COLOUR"),
        "import_colour": IMPORT_TIME_VALUE,
        "function_name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        "trace_disabled": os.getenv("POWERTOOLS_TRACE_DISABLED"),
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        "calls": len(CALLS),
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "ctx_name": context.function_name,
        "memory": context.memory_limit_in_mb,
    }


def fail(event, context):
    raise CardDeclinedError("issuer said no")


def chatty(event, context):
    print(json.dumps({"level": "INFO", "message": "json line", "payment_id": "pay_from_log"}))
    print("plain line")
    return None


def colour_loop(event, context):
    seen = set()
    for _ in range(200):
        seen.add(os.environ["COLOUR"])
    return sorted(seen)


def sandboxed(event, context):
    # Class-level state in a module every sandbox shares (as Powertools' BaseRouter keeps the
    # current API event): crossed if two invocations of one function overlap.
    from throwaway import shared

    shared.Router.current = event["id"]
    time.sleep(0.005)
    return shared.Router.current == event["id"]


def wait_for_other(event, context):
    from throwaway import shared

    return shared.GO.wait(timeout=5)


def release_other(event, context):
    from throwaway import shared

    shared.GO.set()
    return True


def slow(event, context):
    time.sleep(event["seconds"])
    return "done"
"""


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    package = tmp_path / "src" / "throwaway"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "shared.py").write_text(
        "import threading\n\n\nclass Router:\n    current = None\n\n\nGO = threading.Event()\n",
        encoding="utf-8",
    )
    (package / "handlers.py").write_text(textwrap.dedent(HANDLER_SOURCE), encoding="utf-8")
    return tmp_path / "src"


SpecFactory = Callable[..., FunctionSpec]


@pytest.fixture
def make_spec(code_dir: Path) -> SpecFactory:
    def make(name: str, attr: str = "echo", **kwargs: Any) -> FunctionSpec:
        defaults: dict[str, Any] = {
            "logical_id": f"{name}Function",
            "function_name": name,
            "arn": f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
            "code_dir": code_dir,
            "handler": f"throwaway.handlers.{attr}",
            "environment": {"COLOUR": name},
            "timeout": 5,
            "memory_size": 256,
        }
        return FunctionSpec(**(defaults | kwargs))

    return make


@pytest.fixture
def runner(tmp_path: Path) -> LambdaRunner:
    return LambdaRunner(log_dir=tmp_path / "logs")


def invoke_json(runner: LambdaRunner, name: str, event: Any) -> Any:
    result = runner.invoke(name, json.dumps(event).encode())
    assert result.function_error is None, result.payload
    return json.loads(result.payload)


def test_handler_gets_event_environment_and_context(
    runner: LambdaRunner, make_spec: SpecFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler sees its template variables, Lambda's reserved ones, no host endpoint
    override, and a context whose remaining time counts down from the function's Timeout."""
    monkeypatch.setitem(os.environ, "AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    runner.register(make_spec("red"))

    got = invoke_json(runner, "red", {"payment_id": "pay_1"})

    assert got["event"] == {"payment_id": "pay_1"}
    assert got["colour"] == "red"
    assert got["import_colour"] == "red"
    assert got["function_name"] == "red"
    assert got["trace_disabled"] == "true"
    assert got["endpoint"] is None
    assert got["ctx_name"] == "red"
    assert got["memory"] == 256
    assert 4_000 < got["remaining_ms"] <= 5_000
    assert len(got["request_id"]) == 36
    assert "COLOUR" not in os.environ  # the overlay ended with the invocation


def test_function_can_be_named_by_arn(runner: LambdaRunner, make_spec: SpecFactory) -> None:
    """Step Functions passes the ARN (possibly qualified) as FunctionName."""
    spec = make_spec("blue")
    runner.register(spec)
    assert invoke_json(runner, spec.arn + ":$LATEST", {})["colour"] == "blue"


def test_exception_becomes_lambda_error_shape(runner: LambdaRunner, make_spec: SpecFactory) -> None:
    """errorType is the class name: what the ASL's Retry/Catch match on."""
    runner.register(make_spec("failing", attr="fail"))

    result = runner.invoke("failing", b"{}")

    assert result.function_error == "Unhandled"
    body = json.loads(result.payload)
    assert body["errorType"] == "CardDeclinedError"
    assert body["errorMessage"] == "issuer said no"
    assert isinstance(body["stackTrace"], list)
    assert body["stackTrace"]


def test_concurrent_functions_each_see_only_their_own_environment(
    runner: LambdaRunner, make_spec: SpecFactory
) -> None:
    """MOTO_NOTES: swapping variables into os.environ made concurrent executions fail. With the
    per-thread overlay, 16 threads alternating two functions never see the other's value."""
    runner.register(make_spec("red", attr="colour_loop"))
    runner.register(make_spec("blue", attr="colour_loop"))
    wrong: list[Any] = []

    def work(name: str) -> None:
        for _ in range(25):
            seen = invoke_json(runner, name, {})
            if seen != [name]:
                wrong.append((name, seen))

    threads = [threading.Thread(target=work, args=(("red", "blue")[i % 2],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def test_each_function_has_its_own_module_state(
    runner: LambdaRunner, make_spec: SpecFactory
) -> None:
    """Two functions with the same handler module do not share module globals, like two
    Lambda sandboxes; one function's warm calls do share them."""
    runner.register(make_spec("one"))
    runner.register(make_spec("two"))
    assert [invoke_json(runner, "one", {})["calls"] for _ in range(3)] == [1, 2, 3]
    assert invoke_json(runner, "two", {})["calls"] == 1


def test_concurrent_invocations_never_share_a_sandbox(
    runner: LambdaRunner, make_spec: SpecFactory
) -> None:
    """Invocations of one function queue for its sandbox, so state shared by every sandbox of
    the process (Powertools' resolver keeps the current API event on its class) is never
    crossed: the runner measured 3 of 200 ingress replies crossed before this."""
    runner.register(make_spec("box", attr="sandboxed"))
    crossed: list[int] = []

    def work(index: int) -> None:
        for n in range(10):
            if invoke_json(runner, "box", {"id": index * 100 + n}) is not True:
                crossed.append(index)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert crossed == []


def test_different_functions_still_run_concurrently(
    runner: LambdaRunner, make_spec: SpecFactory
) -> None:
    """Only invocations of the same function queue: one function waiting for another's
    invocation completes (it would time out if all invocations were serialised)."""
    runner.register(make_spec("waiter", attr="wait_for_other"))
    runner.register(make_spec("releaser", attr="release_other"))
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(invoke_json(runner, "waiter", {})))
    waiter.start()
    assert invoke_json(runner, "releaser", {}) is True
    waiter.join(timeout=10)
    assert got == [True]


def test_reregistering_a_changed_spec_reloads_with_the_new_environment(
    runner: LambdaRunner, make_spec: SpecFactory
) -> None:
    """A template change (new variable value) reaches the handler on the next deploy, even a
    value the module read at import."""
    runner.register(make_spec("fn", environment={"COLOUR": "old"}))
    assert invoke_json(runner, "fn", {})["import_colour"] == "old"
    runner.register(make_spec("fn", environment={"COLOUR": "new"}))
    got = invoke_json(runner, "fn", {})
    assert (got["colour"], got["import_colour"], got["calls"]) == ("new", "new", 1)


def test_exceeding_the_timeout_is_reported_as_lambda_does(
    runner: LambdaRunner, make_spec: SpecFactory
) -> None:
    runner.register(make_spec("slow", attr="slow", timeout=0))
    result = runner.invoke("slow", json.dumps({"seconds": 0.05}).encode())
    assert result.function_error == "Unhandled"
    assert "Task timed out" in json.loads(result.payload)["errorMessage"]


def test_log_lines_are_captured_per_function_and_payment(
    runner: LambdaRunner, make_spec: SpecFactory, tmp_path: Path
) -> None:
    """stdout lines of an invocation are records tagged with the function and payment: the id
    comes from a JSON log line when it has one, else from the event."""
    runner.register(make_spec("chatty", attr="chatty"))
    runner.register(make_spec("quiet"))
    runner.invoke("chatty", b"{}")
    runner.invoke(
        "chatty", json.dumps({"payment_id": "pay_eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"}).encode()
    )
    runner.invoke(
        "quiet", json.dumps({"payment_id": "pay_00000000000000000000000000000000"}).encode()
    )

    chatty = runner.logs(function="chatty")
    lines = [r for r in chatty if r["stream"] == "stdout"]
    assert [(r["message"], r["payment_id"]) for r in lines] == [
        ("json line", "pay_from_log"),
        ("plain line", None),
        ("json line", "pay_eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"),
        ("plain line", "pay_eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"),
    ]
    assert [
        r["stream"] for r in runner.logs(payment_id="pay_00000000000000000000000000000000")
    ] == ["report"]
    assert runner.logs(function="chattyFunction") == chatty  # by logical id too
    on_disk = read_log_file(tmp_path / "logs" / "handler-logs.jsonl", function="chatty")
    assert [r["message"] for r in on_disk] == [r["message"] for r in chatty]


def test_a_powertools_logger_built_before_the_runner_under_another_stdout_is_captured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Powertools Logger in a module the host imported earlier, while sys.stdout was another
    stream (a test runner's capture, a CLI runner's buffer), still writes the function's lines
    into its invocation's capture, not into that stream: a stack captures its functions' logs
    whatever was imported before it."""
    package = f"early_{uuid.uuid4().hex[:8]}"
    source = tmp_path / "src" / package
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("", encoding="utf-8")
    (source / "shared.py").write_text(
        f"from aws_lambda_powertools import Logger\n\nlogger = Logger(service={package!r})\n",
        encoding="utf-8",
    )
    (source / "handlers.py").write_text(
        f"from {package}.shared import logger\n\n\n"
        "def handle(event, context):\n    logger.info('line from the function')\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    elsewhere = io.StringIO()
    with monkeypatch.context() as swapped:
        swapped.setattr(sys, "stdout", elsewhere)
        importlib.import_module(f"{package}.shared")
    runner = LambdaRunner(log_dir=tmp_path / "logs")
    runner.register(
        FunctionSpec(
            logical_id="EarlyFunction",
            function_name="early",
            arn="arn:aws:lambda:us-east-1:123456789012:function:early",
            code_dir=tmp_path / "src",
            handler=f"{package}.handlers.handle",
            environment={},
            timeout=5,
            memory_size=256,
        )
    )

    result = runner.invoke("early", b"{}")

    assert result.function_error is None, result.payload
    lines = [r for r in runner.logs(function="early") if r["stream"] == "stdout"]
    assert [r["message"] for r in lines] == ["line from the function"]
    assert elsewhere.getvalue() == ""


def test_moto_seam_sets_the_function_error_header(
    runner: LambdaRunner, make_spec: SpecFactory
) -> None:
    """What LambdaSimpleBackend.invoke gets back: the payload, and x-amz-function-error on a
    handler error; None (moto's 404) for a function the runner does not know."""
    runner.register(make_spec("failing", attr="fail"))
    headers: dict[str, str] = {}
    payload = runner.moto_invoke("failing", None, b"{}", {}, headers)
    assert headers == {"x-amz-function-error": "Unhandled"}
    assert payload is not None
    assert json.loads(payload)["errorType"] == "CardDeclinedError"
    assert runner.moto_invoke("ghost", None, b"{}", {}, {}) is None
