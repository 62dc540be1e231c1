"""EventBridge Pipes: a STANDARD state machine target must be started FIRE_AND_FORGET.

AWS::Pipes::Pipe PipeTargetStateMachineParameters: InvocationType defaults to REQUEST_RESPONSE
(StartSyncExecution), and "REQUEST_RESPONSE is not supported for STANDARD state machine
workflows"; the EventBridge User Guide's targets page lists Standard workflows as ASYNC only.
"""

from __future__ import annotations

from paycli.lint.deploy._model import Problem, Stack

SOURCE = (
    "https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/"
    "API_PipeTargetStateMachineParameters.html"
)
_ERROR = (
    "ValidationException: REQUEST_RESPONSE is not supported for STANDARD state machine workflows"
)


def check(stack: Stack) -> list[Problem]:
    """Every pipe whose target is a STANDARD state machine of the template."""
    problems: list[Problem] = []
    for logical_id, props in stack.of_type("AWS::Pipes::Pipe"):
        target = stack.target(props.get("Target"))
        if target is None or stack.resources[target].get("Type") != (
            "AWS::StepFunctions::StateMachine"
        ):
            continue
        machine = stack.resources[target].get("Properties") or {}
        if machine.get("StateMachineType", "STANDARD") != "STANDARD":
            continue
        parameters = (props.get("TargetParameters") or {}).get(
            "StepFunctionStateMachineParameters"
        ) or {}
        invocation = parameters.get("InvocationType", "REQUEST_RESPONSE")
        if invocation != "FIRE_AND_FORGET":
            problems.append(
                Problem(
                    ("Resources", logical_id, "Properties", "TargetParameters"),
                    _ERROR,
                    f"{logical_id} starts the STANDARD state machine {target} with "
                    f"InvocationType {invocation}: use FIRE_AND_FORGET",
                )
            )
    return problems
