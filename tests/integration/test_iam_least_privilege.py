"""Every AWS call the stack makes is one its role allows on AWS.

moto does not enforce IAM: a handler calling an action its function's role lacks passes every
other test here and fails on AWS with AccessDenied (ingress's intake transaction checked the
account with a ConditionCheck while its role could only read the accounts table). These tests
run real scenarios through the real handlers, record each API call their boto3 clients make
(iam_audit.CallRecorder), map it to the IAM actions and ARNs AWS authorises it against, and
evaluate those against the role that stack/template.yaml gives the function, as the SAM
translator generates it. The state machine's own calls (its Task states) and the pipe's are
checked from the ASL and the Pipe's properties, and against a real execution's history.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters import base as parameters_base
from handler_harness import Stack, deduct_as_the_state_machine_does, pay, stranded
from iam_audit import (
    App,
    CallRecorder,
    Need,
    Statement,
    UnsupportedError,
    denials,
    execution_needs,
    table_arn,
)
from paystack.domain.methods import IssuerUnavailableError
from paystack.handlers import _runtime
from samtranslator.yaml_helper import yaml_parse
from state_machine_support import (
    CARD_PROCESSING_ERROR,
    TEMPLATE,
    TIME_SCALE,
    Env,
    create_account,
    dlq_bodies,
    payment,
    post_card_payment,
    start_from_queue,
    wait_terminal,
)

from paycli.local.stack import LocalStack
from paycli.local.template import TemplateError

STATE_MACHINE = "PaymentStateMachine"
PIPE = "PaymentPipe"


@pytest.fixture(scope="module")
def app() -> App:
    """stack/template.yaml, as written and translated."""
    return App.load(TEMPLATE)


def fresh_handler_clients() -> None:
    """Drop the handlers' cached clients (and Powertools' secret provider), so the next
    invocation builds them, as a cold start does, with the recorder's hook."""
    _runtime.dynamodb.cache_clear()
    _runtime.sqs.cache_clear()
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    parameters_base.DEFAULT_PROVIDERS.clear()  # type: ignore[attr-defined]


@pytest.fixture
def recorder(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[CallRecorder]:
    """Records the handlers' calls; each invocation runs with AWS_LAMBDA_FUNCTION_NAME set to
    its function's logical id, as Lambda sets it, so each call is the function's."""
    for function, environment in stack.environments.items():
        environment["AWS_LAMBDA_FUNCTION_NAME"] = function
    recorder = CallRecorder({function: function for function in stack.environments})
    recorder.install(monkeypatch)
    fresh_handler_clients()
    yield recorder
    recorder.active = False
    fresh_handler_clients()


def harness_refs(app: App, stack: Stack) -> dict[str, str]:
    """Physical names in the harness's moto account: the secret's ARN and the queue URLs as
    the functions' environments hold them, everything else named after its logical id."""
    refs = app.names_by_logical_id()
    for function, environment in stack.environments.items():
        refs |= app.refs_in_environment(function, environment)
    return refs


def named(names: dict[str, str], need: Need) -> tuple[str, str, str]:
    """(principal, action, resource) with the resource ARN as its logical id (an index ARN as
    `Table/index/Name`); `names` is App.arn_names."""
    resource = need.permission.resource
    table, _, index = resource.partition("/index/")
    name = names.get(resource) or (f"{names[table]}/index/{index}" if index else resource)
    return need.principal, need.permission.action, name


# ------------------------------------------------------------------------------ scenarios


def card(account_id: str = "acc_demo", number: str = "4242424242424242") -> dict[str, Any]:
    return {
        "amount_minor": 1250,
        "currency": "USD",
        "account_id": account_id,
        "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
    }


def accepted_card_payment(stack: Stack) -> None:
    pay(stack)


def replayed_idempotency_key(stack: Stack) -> None:
    first = pay(stack, key="same")
    assert pay(stack, key="same") == first


def unknown_account(stack: Stack) -> None:
    assert stack.post("card", card("acc_nobody")).status == 404


def payment_read(stack: Stack) -> None:
    assert stack.get(pay(stack)).status == 200


def validate_approves(stack: Stack) -> None:
    assert stack.validate(pay(stack))["outcome"] == "APPROVED"


def validate_declines(stack: Stack) -> None:
    assert stack.validate(pay(stack, "4000000000000002"))["outcome"] == "DECLINED"


def validate_issuer_unavailable(stack: Stack) -> None:
    """The first step of the MarkFailed path: the issuer error the ASL retries, then catches."""
    payment_id = pay(stack, CARD_PROCESSING_ERROR)
    with pytest.raises(IssuerUnavailableError):
        stack.validate(payment_id)


def deduct_settles(stack: Stack) -> None:
    validation = stack.validate(pay(stack))
    assert deduct_as_the_state_machine_does(stack, validation)["outcome"] == "SUCCEEDED"


def deduct_insufficient_funds(stack: Stack) -> None:
    stack.account("acc_poor", 500)
    validation = stack.validate(pay(stack, account_id="acc_poor", amount_minor=1000))
    result = deduct_as_the_state_machine_does(stack, validation)
    assert (result["outcome"], result["reason"]) == ("DECLINED", "insufficient_funds")


def deduct_duplicate_run(stack: Stack) -> None:
    validation = stack.validate(pay(stack))
    first = deduct_as_the_state_machine_does(stack, validation)
    assert deduct_as_the_state_machine_does(stack, validation) == first


def deduct_payment_id_only(stack: Stack) -> None:
    payment_id = pay(stack)
    stack.validate(payment_id)
    assert stack.deduct(payment_id)["outcome"] == "SUCCEEDED"


def reconcile_requeues(stack: Stack) -> None:
    stranded(stack, "lost-send")
    counts = stack.invoke("ReconcileFunction", {"detail-type": "Scheduled Event", "detail": {}})
    assert counts == {"scanned": 1, "requeued": 1}


@dataclass(frozen=True)
class Scenario:
    """A run of real handlers, the function it is about, and permissions (action, resource
    logical id) that function must have needed, which prove the run took its path."""

    run: Callable[[Stack], None]
    function: str
    shows: frozenset[tuple[str, str]]


def scenario(run: Callable[[Stack], None], function: str, *shows: tuple[str, str]) -> Scenario:
    return Scenario(run, function, frozenset(shows))


SCENARIOS = {
    "ingress-accepted": scenario(
        accepted_card_payment,
        "IngressFunction",
        ("dynamodb:ConditionCheckItem", "AccountsTable"),
        ("dynamodb:PutItem", "PaymentsTable"),
        ("dynamodb:PutItem", "IdempotencyTable"),
        ("sqs:SendMessage", "PaymentQueue"),
        ("secretsmanager:GetSecretValue", "CardFingerprintSecret"),
    ),
    "ingress-replay": scenario(
        replayed_idempotency_key, "IngressFunction", ("dynamodb:GetItem", "PaymentsTable")
    ),
    "ingress-unknown-account": scenario(
        unknown_account, "IngressFunction", ("dynamodb:ConditionCheckItem", "AccountsTable")
    ),
    "ingress-get": scenario(payment_read, "IngressFunction", ("dynamodb:GetItem", "PaymentsTable")),
    "validate-approve": scenario(
        validate_approves,
        "ValidatePaymentFunction",
        ("dynamodb:UpdateItem", "PaymentsTable"),
        ("dynamodb:GetItem", "AccountsTable"),
    ),
    "validate-decline": scenario(
        validate_declines, "ValidatePaymentFunction", ("dynamodb:UpdateItem", "PaymentsTable")
    ),
    "validate-issuer-unavailable": scenario(
        validate_issuer_unavailable,
        "ValidatePaymentFunction",
        ("dynamodb:UpdateItem", "PaymentsTable"),
    ),
    "deduct-success": scenario(
        deduct_settles,
        "DeductAmountFunction",
        ("dynamodb:BatchGetItem", "PaymentsTable"),
        ("dynamodb:BatchGetItem", "AccountsTable"),
        ("dynamodb:UpdateItem", "AccountsTable"),
        ("dynamodb:UpdateItem", "PaymentsTable"),
        ("dynamodb:PutItem", "LedgerTable"),
    ),
    "deduct-insufficient-funds": scenario(
        deduct_insufficient_funds,
        "DeductAmountFunction",
        ("dynamodb:UpdateItem", "PaymentsTable"),
    ),
    "deduct-duplicate": scenario(
        deduct_duplicate_run, "DeductAmountFunction", ("dynamodb:GetItem", "LedgerTable")
    ),
    "deduct-payment-id-only": scenario(
        deduct_payment_id_only,
        "DeductAmountFunction",
        ("dynamodb:GetItem", "PaymentsTable"),
        ("dynamodb:GetItem", "AccountsTable"),
    ),
    "reconcile": scenario(
        reconcile_requeues,
        "ReconcileFunction",
        ("dynamodb:Query", "PaymentsTable/index/ByStatus"),
        ("sqs:SendMessage", "PaymentQueue"),
    ),
}


@pytest.fixture
def demo(stack: Stack) -> Stack:
    """The stack with acc_demo holding 100.00 USD."""
    stack.account("acc_demo", 10_000)
    return stack


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_call_of_the_scenario_is_allowed(
    name: str, app: App, demo: Stack, recorder: CallRecorder
) -> None:
    """Each call every handler makes in the scenario (set-up invocations included) is allowed
    by its function's role, and the scenario's function needed what proves its path."""
    run = SCENARIOS[name]
    run.run(demo)
    refs = harness_refs(app, demo)
    needs = recorder.needs()
    principals = {need.principal for need in needs}
    denied = denials(app.policies(app.resolver(refs), principals), needs)
    assert denied == [], "\n".join(str(need) for need in denied)
    names = app.arn_names(refs)
    shown = {named(names, need)[1:] for need in needs if need.principal == run.function}
    assert run.shows <= shown, sorted(shown)


def test_every_function_of_the_template_has_a_scenario(app: App) -> None:
    """A function added to the template without a scenario here fails this test."""
    assert {run.function for run in SCENARIOS.values()} == set(app.of_type("AWS::Lambda::Function"))


# ------------------------------------------------------------------------------ the checker fails


def without_condition_check_grant(template: dict[str, Any]) -> None:
    """IngressFunction's inline ConditionCheckItem statement removed."""
    policies = template["Resources"]["IngressFunction"]["Properties"]["Policies"]
    for policy in policies:
        if isinstance(policy, dict) and "Statement" in policy:
            policy["Statement"] = [
                s for s in policy["Statement"] if s["Action"] != "dynamodb:ConditionCheckItem"
            ]
    policies[:] = [p for p in policies if not (isinstance(p, dict) and p.get("Statement") == [])]


def as_before_the_fix(template: dict[str, Any]) -> None:
    """The statement replaced by DynamoDBReadPolicy on the accounts table, as before a90e80c."""
    without_condition_check_grant(template)
    policies = template["Resources"]["IngressFunction"]["Properties"]["Policies"]
    policies.append({"DynamoDBReadPolicy": {"TableName": {"Ref": "AccountsTable"}}})


@pytest.mark.parametrize("mutate", [without_condition_check_grant, as_before_the_fix])
def test_a_missing_grant_is_reported_as_exactly_that_call(
    mutate: Callable[[dict[str, Any]], None],
    app: App,
    demo: Stack,
    recorder: CallRecorder,
    tmp_path: Path,
) -> None:
    """With the template's ConditionCheckItem grant taken away (a copy in tmp_path), the same
    accepted payment is reported denied for that one permission, and for nothing else."""
    pay(demo)
    needs = recorder.needs()
    refs = harness_refs(app, demo)
    assert denials(app.policies(app.resolver(refs), ["IngressFunction"]), needs) == []

    template = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    mutate(template)
    copy_path = tmp_path / "template.yaml"
    copy_path.write_text(json.dumps(template), encoding="utf-8")
    broken = App.load(copy_path)
    denied = denials(broken.policies(broken.resolver(refs), ["IngressFunction"]), needs)

    assert [str(need) for need in denied] == [
        "IngressFunction: dynamodb.TransactWriteItems needs dynamodb:ConditionCheckItem on "
        + table_arn(demo.tables.accounts)
    ]


# ------------------------------------------------------------------------------ state machine, pipe


def test_roles_hold_only_allow_statements(app: App) -> None:
    """Every principal's role parses into Allow statements only (no Deny, NotAction,
    NotResource or Condition, which the checker would not evaluate)."""
    policies = app.policies(app.resolver(app.names_by_logical_id()), app.principals())
    assert set(policies) == {
        "IngressFunction",
        "ValidatePaymentFunction",
        "DeductAmountFunction",
        "ReconcileFunction",
        STATE_MACHINE,
        PIPE,
    }
    assert all(policy.statements for policy in policies.values())


def test_what_the_checker_cannot_evaluate_fails_it(app: App) -> None:
    """A reference with no physical resource is an error, not a statement left out; a Deny
    (or Condition, NotAction, NotResource) is an error, not a statement ignored."""
    refs = app.names_by_logical_id()
    del refs["AccountsTable"]
    with pytest.raises(TemplateError, match="AccountsTable"):
        app.policies(app.resolver(refs), ["IngressFunction"])
    deny = {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"}
    with pytest.raises(UnsupportedError, match="Deny"):
        Statement.parse(deny, "a role")


def test_state_machine_role_allows_every_task_of_the_asl(app: App) -> None:
    """Each Task of payment.asl.json, after DefinitionSubstitutions, is allowed to the state
    machine's role: both Lambda invokes, MarkFailed's UpdateItem of the payments table and
    SendToDeadLetterQueue's SendMessage to the DLQ."""
    refs = app.names_by_logical_id()
    needs = app.state_machine_needs(app.resolver(refs))
    names = app.arn_names(refs)
    assert {(need.source.split(" ")[1], named(names, need)[1:]) for need in needs} == {
        ("ValidatePayment", ("lambda:InvokeFunction", "ValidatePaymentFunction")),
        ("DeductAmount", ("lambda:InvokeFunction", "DeductAmountFunction")),
        ("MarkFailed", ("dynamodb:UpdateItem", "PaymentsTable")),
        ("SendToDeadLetterQueue", ("sqs:SendMessage", "PaymentDeadLetterQueue")),
    }
    denied = denials(app.policies(app.resolver(refs), [STATE_MACHINE]), needs)
    assert denied == [], "\n".join(str(need) for need in denied)


def test_pipe_role_allows_reading_its_queue_and_starting_the_machine(app: App) -> None:
    """The pipe's role may receive, delete and read attributes of its source queue and start
    executions of its target (FIRE_AND_FORGET: StartExecution)."""
    refs = app.names_by_logical_id()
    needs = app.pipe_needs(app.resolver(refs))
    names = app.arn_names(refs)
    assert {named(names, need)[1:] for need in needs} == {
        ("sqs:ReceiveMessage", "PaymentQueue"),
        ("sqs:DeleteMessage", "PaymentQueue"),
        ("sqs:GetQueueAttributes", "PaymentQueue"),
        ("states:StartExecution", STATE_MACHINE),
    }
    denied = denials(app.policies(app.resolver(refs), [PIPE]), needs)
    assert denied == [], "\n".join(str(need) for need in denied)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """The local stack deployed from the template; schedules at real speed (no sweep runs)."""
    stack = LocalStack(
        time_scale=TIME_SCALE, schedule_time_scale=1.0, log_dir=tmp_path_factory.mktemp("logs")
    )
    stack.start()
    try:
        yield Env(stack, stack.deploy(TEMPLATE, api_base_url="http://127.0.0.1:1"))
    finally:
        stack.stop()


@pytest.fixture
def local_recorder(local: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[CallRecorder]:
    """Records the calls of the handlers the local stack's runner invokes (it sets
    AWS_LAMBDA_FUNCTION_NAME per handler thread to the function's physical name)."""
    functions = local.deployment.functions
    recorder = CallRecorder({spec.function_name: lid for lid, spec in functions.items()})
    recorder.install(monkeypatch)
    fresh_handler_clients()
    yield recorder
    recorder.active = False
    fresh_handler_clients()


def local_refs(app: App, env: Env) -> dict[str, str]:
    """Physical names as the local stack provisioned them."""
    refs = app.names_by_logical_id() | app.refs_in_outputs(env.deployment.outputs)
    for lid, spec in env.deployment.functions.items():
        refs[lid] = spec.function_name
        refs |= app.refs_in_environment(lid, spec.environment)
    return refs


def test_an_execution_that_takes_mark_failed_is_allowed(
    app: App, local: Env, local_recorder: CallRecorder
) -> None:
    """A real execution of the ASL on the local stack for an issuer that stays unavailable:
    ingress accepts, ValidatePayment fails three times, MarkFailed and SendToDeadLetterQueue run.
    Every call the handlers made and every Task the execution scheduled (its history) is allowed
    to its role, and the Tasks are among those the static ASL check found."""
    account_id = create_account(local, 10_000)
    payment_id = post_card_payment(local, account_id, CARD_PROCESSING_ERROR, 1_250)
    execution_arn = start_from_queue(local, payment_id)
    assert wait_terminal(local, execution_arn)["status"] == "FAILED"
    assert payment(local, payment_id)["status"] == "FAILED"
    assert [body["payment_id"] for body in dlq_bodies(local)] == [payment_id]

    sfn = local.stack.client("stepfunctions")
    history = sfn.get_execution_history(executionArn=execution_arn)["events"]
    executed = execution_needs(STATE_MACHINE, history)
    handler_needs = local_recorder.needs()
    refs = local_refs(app, local)
    resolver = app.resolver(refs)
    names = app.arn_names(refs)
    assert {named(names, need) for need in executed} == {
        (STATE_MACHINE, "lambda:InvokeFunction", "ValidatePaymentFunction"),
        (STATE_MACHINE, "dynamodb:UpdateItem", "PaymentsTable"),
        (STATE_MACHINE, "sqs:SendMessage", "PaymentDeadLetterQueue"),
    }
    static = {need.permission for need in app.state_machine_needs(resolver)}
    assert {need.permission for need in executed} <= static
    assert {need.principal for need in handler_needs} == {
        "IngressFunction",
        "ValidatePaymentFunction",
    }
    principals = {STATE_MACHINE, "IngressFunction", "ValidatePaymentFunction"}
    denied = denials(app.policies(resolver, principals), [*executed, *handler_needs])
    assert denied == [], "\n".join(str(need) for need in denied)
