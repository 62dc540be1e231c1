"""The local stack's Scheduler (EventBridge rate rules): scaled rate, event shape, clean stop.

A fake runner records invocations and a hand-driven clock decides when time passes: no AWS, no
moto, no sleeping; each firing happens because the test moved time past it.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_until

from paycli.local.model import FunctionSpec, InvokeResult, ScheduleSpec
from paycli.local.provision import Provisioner
from paycli.local.stack import Scheduler
from paycli.local.template import TemplateError, load_template


class RecordingRunner:
    """Stands in for LambdaRunner.invoke: remembers (function, event)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.lock = threading.Lock()

    def invoke(self, function_name: str, payload: bytes) -> InvokeResult:
        with self.lock:
            self.calls.append((function_name, json.loads(payload)))
        return InvokeResult(payload=b"{}")

    def count(self) -> int:
        with self.lock:
            return len(self.calls)

    def wait_for(self, count: int) -> None:
        """Each firing invokes in its own thread: wait for `count` invocations in all."""
        wait_until(lambda: self.count() == count, timeout=5, what=f"{count} invocations")


class ManualClock:
    """The Scheduler's Stopper with time that moves only in `advance()`: a waiter returns
    False once the clock passes its deadline, True once `set()` stops it."""

    def __init__(self) -> None:
        self.now = 0.0
        self._stopped = False
        self._cond = threading.Condition()
        self._deadlines: dict[int, float] = {}  # waiting thread -> when it wakes

    def wait(self, timeout: float | None = None) -> bool:
        with self._cond:
            me = threading.get_ident()
            self._deadlines[me] = self.now + timeout if timeout is not None else math.inf
            self._cond.notify_all()
            try:
                self._cond.wait_for(lambda: self._stopped or self.now >= self._deadlines[me])
                return self._stopped
            finally:
                del self._deadlines[me]
                self._cond.notify_all()

    def set(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def settle(self, sleepers: int) -> None:
        """Wait until exactly `sleepers` threads wait, none of them already due."""

        def settled() -> bool:
            due = [d for d in self._deadlines.values() if d <= self.now]
            return len(self._deadlines) == sleepers and not due

        with self._cond:
            assert self._cond.wait_for(settled, timeout=5), (self.now, self._deadlines)

    def advance(self, seconds: float, *, sleepers: int) -> None:
        """Move time on by `seconds` once `sleepers` threads wait; return when they all wait
        again (each that was due has fired)."""
        self.settle(sleepers)
        with self._cond:
            self.now += seconds
            self._cond.notify_all()
        self.settle(sleepers)


def spec(name: str = "sweep", seconds: int = 60, **changes: Any) -> ScheduleSpec:
    return ScheduleSpec(
        name=name,
        function_name=f"paycli-{name}",
        expression=f"rate({seconds // 60} minutes)",
        interval_seconds=seconds,
        **changes,
    )


def scheduler(
    schedules: tuple[ScheduleSpec, ...], time_scale: float = 1.0
) -> tuple[Scheduler, RecordingRunner, ManualClock]:
    runner, clock = RecordingRunner(), ManualClock()
    made = Scheduler(schedules, runner, time_scale, "us-east-1", stopper=clock)  # type: ignore[arg-type]
    return made, runner, clock


def schedule_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("schedule-")]


def test_fires_one_scaled_period_after_start_then_once_per_period() -> None:
    """rate(5 minutes) at time scale 0.5 fires every 150 s: not at start, nor before the first
    period ends (a rate rule first fires one period after it is created), then once a period,
    with EventBridge's Scheduled Event."""
    made, runner, clock = scheduler((spec(seconds=300),), time_scale=0.5)
    made.start()
    try:
        clock.advance(149, sleepers=1)
        assert made.fired == {"sweep": 0}
        clock.advance(1, sleepers=1)
        assert made.fired == {"sweep": 1}
        for _ in range(3):
            clock.advance(150, sleepers=1)
        assert made.fired == {"sweep": 4}
    finally:
        made.stop()
    runner.wait_for(4)
    assert {name for name, _ in runner.calls} == {"paycli-sweep"}
    event = runner.calls[0][1]
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/sweep"]


def test_a_late_wake_fires_once_never_a_catch_up_burst() -> None:
    """Ten periods passing at once (a stalled machine) give one firing, not ten."""
    made, runner, clock = scheduler((spec(seconds=60),))
    made.start()
    try:
        clock.advance(600, sleepers=1)
        assert made.fired == {"sweep": 1}
    finally:
        made.stop()
    runner.wait_for(1)


def test_stop_ends_the_threads_and_nothing_fires_afterwards() -> None:
    made, runner, clock = scheduler((spec("a"), spec("b")))
    made.start()
    assert sorted(schedule_threads()) == ["schedule-a", "schedule-b"]
    clock.advance(60, sleepers=2)
    runner.wait_for(2)
    made.stop()
    assert schedule_threads() == []
    clock.advance(600, sleepers=0)  # time passes with no schedule thread left to fire
    assert made.fired == {"a": 1, "b": 1}
    assert runner.count() == 2


def test_a_disabled_schedule_never_fires_and_input_replaces_the_event() -> None:
    schedules = (spec("off", enabled=False), spec("custom", input='{"sweep": "all"}'))
    made, runner, clock = scheduler(schedules)
    made.start()
    try:
        assert schedule_threads() == ["schedule-custom"]
        clock.advance(60, sleepers=1)
        clock.advance(60, sleepers=1)
    finally:
        made.stop()
    runner.wait_for(2)
    assert runner.calls == [("paycli-custom", {"sweep": "all"})] * 2


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
