"""The local stack's Scheduler (EventBridge rate rules): scaled rate, event shape, clean stop.

A fake runner records invocations; no AWS, no moto backends involved.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from paycli.local.model import FunctionSpec, InvokeResult, ScheduleSpec
from paycli.local.provision import Provisioner
from paycli.local.stack import Scheduler
from paycli.local.template import TemplateError, load_template


class RecordingRunner:
    """Stands in for LambdaRunner.invoke: remembers (when, function, event)."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str, Any]] = []
        self.lock = threading.Lock()

    def invoke(self, function_name: str, payload: bytes) -> InvokeResult:
        with self.lock:
            self.calls.append((time.monotonic(), function_name, json.loads(payload)))
        return InvokeResult(payload=b"{}")

    def count(self) -> int:
        with self.lock:
            return len(self.calls)


def spec(name: str = "sweep", seconds: int = 60, **changes: Any) -> ScheduleSpec:
    return ScheduleSpec(
        name=name,
        function_name=f"paycli-{name}",
        expression=f"rate({seconds // 60} minutes)",
        interval_seconds=seconds,
        **changes,
    )


def schedule_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("schedule-")]


def test_fires_at_the_scaled_rate_with_a_scheduled_event() -> None:
    """rate(5 minutes) at time scale 0.0002 is every 60 ms: about 10 firings in 0.6 s (not
    one at start: a rate rule first fires one period after it is created)."""
    runner = RecordingRunner()
    scheduler = Scheduler((spec(seconds=300),), runner, 0.0002, "us-east-1")  # type: ignore[arg-type]
    started = time.monotonic()
    scheduler.start()
    time.sleep(0.6)
    scheduler.stop()
    calls = list(runner.calls)
    assert 4 <= len(calls) <= 11, len(calls)
    assert calls[0][0] - started >= 0.05
    assert {name for _, name, _ in calls} == {"paycli-sweep"}
    event = calls[0][2]
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/sweep"]
    # One firing per period, never a catch-up burst: the span covers count-1 periods.
    assert calls[-1][0] - calls[0][0] >= (len(calls) - 1) * 0.06 * 0.5


def test_stop_ends_the_threads_and_nothing_fires_afterwards() -> None:
    runner = RecordingRunner()
    scheduler = Scheduler((spec("a"), spec("b")), runner, 0.001, "us-east-1")  # type: ignore[arg-type]
    scheduler.start()
    time.sleep(0.2)
    scheduler.stop()
    assert schedule_threads() == []
    fired = runner.count()
    time.sleep(0.2)
    assert runner.count() == fired
    assert scheduler.fired["a"] >= 1
    assert scheduler.fired["b"] >= 1


def test_a_disabled_schedule_never_fires_and_input_replaces_the_event() -> None:
    runner = RecordingRunner()
    schedules = (spec("off", enabled=False), spec("custom", input='{"sweep": "all"}'))
    scheduler = Scheduler(schedules, runner, 0.001, "us-east-1")  # type: ignore[arg-type]
    scheduler.start()
    time.sleep(0.25)
    scheduler.stop()
    assert {name for _, name, _ in runner.calls} == {"paycli-custom"}
    assert all(event == {"sweep": "all"} for _, _, event in runner.calls)


EVENT_RULES = {
    "EventBridgeRule": "{Type: EventBridgeRule, Properties: {Pattern: {source: [aws.s3]}}}",
    "CloudWatchEvent": "{Type: CloudWatchEvent, Properties: {Pattern: {source: [aws.s3]}}}",
}


@pytest.mark.parametrize("kind", sorted(EVENT_RULES))
def test_event_pattern_rules_are_refused_before_anything_is_created(
    tmp_path: Path, kind: str
) -> None:
    """Only schedules can be emulated: a rule matching an event pattern is a TemplateError at
    check() (before any AWS call), never a function that silently never runs."""
    body = f"""
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: a.b
      Runtime: python3.12
      CodeUri: .
      Events:
        OnUpload: {EVENT_RULES[kind]}
"""
    path = tmp_path / "template.yaml"
    path.write_text(body, encoding="utf-8")

    def no_client(service: str) -> Any:
        raise AssertionError(f"check() must not call AWS ({service})")

    provisioner = Provisioner(load_template(path), no_client, lambda _: None, region="us-east-1")
    with pytest.raises(TemplateError, match=rf"Fn\.Events\.OnUpload: event type {kind}"):
        provisioner.check()


RAW_RULE = """
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {Handler: a.b, Runtime: python3.12, CodeUri: .}
  Sweep:
    Type: AWS::Events::Rule
    Properties:
      %s
      Targets:
        - {Id: fn, Arn: !GetAtt Fn.Arn, Input: '{"full": true}'}
  SweepPermission:
    Type: AWS::Lambda::Permission
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: !Ref Fn
      Principal: events.amazonaws.com
      SourceArn: !GetAtt Sweep.Arn
"""


def _provision_rules(tmp_path: Path, rule_properties: str) -> Provisioner:
    """Check the template, then create just its function record and its rule resources."""
    path = tmp_path / "template.yaml"
    path.write_text(RAW_RULE % rule_properties, encoding="utf-8")
    provisioner = Provisioner(load_template(path), lambda _: None, lambda _: None, region="x")
    provisioner.check()
    provisioner.functions["Fn"] = FunctionSpec(
        logical_id="Fn", function_name="demo-Fn", arn="arn:fn", code_dir=tmp_path, handler="a.b"
    )
    provisioner.resolver.add("Fn", "demo-Fn", Arn="arn:fn")
    provisioner._rule("Sweep", provisioner.template.resources["Sweep"]["Properties"])
    provisioner._permission("SweepPermission", {})
    return provisioner


def test_a_raw_schedule_rule_becomes_a_schedule_for_its_target(tmp_path: Path) -> None:
    """AWS::Events::Rule with ScheduleExpression rate(...) (what SAM's Schedule event becomes)
    is run like the event: its function, its interval, the target's constant Input."""
    provisioner = _provision_rules(
        tmp_path, "ScheduleExpression: rate(10 minutes)\n      State: ENABLED"
    )
    (schedule,) = provisioner._schedules()
    assert (schedule.function_name, schedule.interval_seconds) == ("demo-Fn", 600)
    assert (schedule.enabled, schedule.input) == (True, '{"full": true}')
    assert any("SweepPermission.Principal" in note for note in provisioner.unenforced)


def test_a_raw_rule_with_an_event_pattern_or_cron_is_refused(tmp_path: Path) -> None:
    """An event-pattern rule or a cron schedule cannot be emulated: check() says so."""
    with pytest.raises(TemplateError, match="Sweep: AWS::Events::Rule with an EventPattern"):
        _provision_rules(tmp_path, "EventPattern: {source: [aws.s3]}")
    with pytest.raises(TemplateError, match=r"Sweep: schedule 'cron\(0 \* \* \* \? \*\)'"):
        _provision_rules(tmp_path, "ScheduleExpression: cron(0 * * * ? *)")
