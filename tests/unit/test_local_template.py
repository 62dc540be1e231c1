"""Template reading for the local stack: intrinsics, Globals, parameters, dependency order and
the errors that replace silent skips. No AWS involved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from paycli.core.sam import merge_values
from paycli.local.model import FunctionSpec
from paycli.local.provision import Provisioner, substitute_definition
from paycli.local.template import (
    Resolver,
    Template,
    TemplateError,
    dependency_order,
    load_template,
    merge_globals,
    references,
)

ROOT = Path(__file__).resolve().parents[2]
REAL_TEMPLATE = ROOT / "stack" / "template.yaml"


def write_template(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def resolver_for(template: Template, **physical: tuple[str, dict[str, str]]) -> Resolver:
    resolver = Resolver(template, region="eu-west-1", stack_name="demo")
    for logical_id, (ref, attributes) in physical.items():
        resolver.add(logical_id, ref, **attributes)
    return resolver


@pytest.fixture
def small(tmp_path: Path) -> Template:
    return load_template(
        write_template(
            tmp_path,
            """
Parameters:
  Limit: {Type: Number, Default: 500}
  Flag: {Type: String, Default: "on"}
Mappings:
  Sizes: {eu-west-1: {small: "1"}}
Resources:
  Queue: {Type: AWS::SQS::Queue}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
""",
        )
    )


def test_short_tags_parse_to_intrinsics_and_resolve(tmp_path: Path) -> None:
    """!Ref, !GetAtt and !Sub in YAML short form become values once resources exist."""
    template = load_template(
        write_template(
            tmp_path,
            """
Resources:
  Queue: {Type: AWS::SQS::Queue}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          URL: !Ref Queue
          ARN: !GetAtt Queue.Arn
          TEXT: !Sub "${Queue.QueueName} in ${AWS::Region}/${AWS::AccountId}"
""",
        )
    )
    resolver = resolver_for(template, Queue=("https://q/url", {"Arn": "arn:q", "QueueName": "q"}))
    variables = resolver.resolve(template.resources["Fn"]["Properties"])["Environment"]["Variables"]
    assert variables == {
        "URL": "https://q/url",
        "ARN": "arn:q",
        "TEXT": "q in eu-west-1/123456789012",
    }


def test_pseudo_parameters_and_parameter_defaults(small: Template) -> None:
    """AWS:: pseudo parameters are the local account's; parameters resolve to their Default as
    strings, like CloudFormation's Ref on a Number parameter."""
    resolver = resolver_for(small)
    got = resolver.resolve(
        {
            "a": {"Ref": "AWS::Partition"},
            "b": {"Ref": "AWS::URLSuffix"},
            "c": {"Ref": "Limit"},
            "d": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${AWS::StackName}-${Flag}"},
        }
    )
    assert got == {"a": "aws", "b": "amazonaws.com", "c": "500", "d": "arn:aws:s3:::demo-on"}


def test_join_select_split_findinmap_and_sub_variables(small: Template) -> None:
    """The list functions and Sub's explicit variable map compose."""
    resolver = resolver_for(small, Queue=("url", {"Arn": "arn:aws:sqs:eu-west-1:1:q"}))
    got = resolver.resolve(
        {
            "join": {"Fn::Join": ["-", ["a", {"Ref": "Limit"}, "b"]]},
            "select": {"Fn::Select": [5, {"Fn::Split": [":", {"Fn::GetAtt": ["Queue", "Arn"]}]}]},
            "map": {"Fn::FindInMap": ["Sizes", {"Ref": "AWS::Region"}, "small"]},
            "sub": {"Fn::Sub": ["${X}/${Queue}/${!Literal}", {"X": {"Ref": "Flag"}}]},
        }
    )
    assert got == {"join": "a-500-b", "select": "q", "map": "1", "sub": "on/url/${Literal}"}


def test_no_value_removes_the_key(small: Template) -> None:
    resolver = resolver_for(small)
    assert resolver.resolve({"keep": 1, "drop": {"Ref": "AWS::NoValue"}}) == {"keep": 1}


def test_conditions_pick_a_branch_and_no_value_drops_the_key(tmp_path: Path) -> None:
    """An optional parameter (empty default) switches properties through Fn::If, as the
    template's KmsKeyArn does; conditions may use Fn::Not, Fn::And, Fn::Or and Condition."""
    body = """
Parameters:
  KeyArn: {Type: String, Default: ""}
Conditions:
  HasKey: !Not [!Equals [!Ref KeyArn, ""]]
  Both: !And [!Condition HasKey, !Or [!Equals [a, a], !Equals [a, b]]]
Resources:
  Queue: {Type: AWS::SQS::Queue}
"""
    value = {
        "KmsMasterKeyId": {"Fn::If": ["HasKey", {"Ref": "KeyArn"}, {"Ref": "AWS::NoValue"}]},
        "Sse": {"Fn::If": ["Both", False, True]},
    }
    default = resolver_for(load_template(write_template(tmp_path, body)))
    assert default.resolve(value) == {"Sse": True}
    keyed = load_template(write_template(tmp_path, body), {"KeyArn": "arn:key"})
    assert resolver_for(keyed).resolve(value) == {"KmsMasterKeyId": "arn:key", "Sse": False}


def test_a_conditional_resource_is_refused(tmp_path: Path) -> None:
    body = """
Conditions:
  Never: !Equals [a, b]
Resources:
  Queue: {Type: AWS::SQS::Queue, Condition: Never}
"""
    with pytest.raises(TemplateError, match="conditional resources"):
        load_template(write_template(tmp_path, body))


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"Fn::If": ["Cond", 1, 2]}, "Fn::If"),
        ({"Fn::ImportValue": "x"}, "Fn::ImportValue"),
        ({"Ref": "Nope"}, "Nope"),
        ({"Fn::GetAtt": ["Queue", "Arn"]}, "not provisioned yet"),
    ],
)
def test_unresolvable_intrinsics_are_errors_naming_them(
    small: Template, value: dict[str, Any], fragment: str
) -> None:
    """Unsupported functions, unknown names and out-of-order references never pass through."""
    with pytest.raises(TemplateError, match=fragment):
        resolver_for(small).resolve(value)


def test_getatt_of_unknown_attribute_lists_the_supported_ones(small: Template) -> None:
    resolver = resolver_for(small, Queue=("url", {"Arn": "arn"}))
    with pytest.raises(TemplateError, match=r"Queue\.Bogus.*supported: Arn"):
        resolver.resolve({"Fn::GetAtt": "Queue.Bogus"})


def test_globals_merge_maps_lists_and_scalars() -> None:
    """SAM's rules: maps merge (the resource wins per key), lists concatenate Globals first,
    scalars are the resource's own."""
    globals_ = {
        "Function": {
            "Timeout": 10,
            "Layers": ["g"],
            "Environment": {"Variables": {"A": "global", "B": "global"}},
        }
    }
    resources = {
        "Fn": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Timeout": 3,
                "Layers": ["own"],
                "Environment": {"Variables": {"B": "own", "C": "own"}},
            },
        },
        "Other": {"Type": "AWS::SQS::Queue", "Properties": {}},
    }
    merged = merge_globals(globals_, resources)
    props = merged["Fn"]["Properties"]
    assert props["Timeout"] == 3
    assert props["Layers"] == ["g", "own"]
    assert props["Environment"]["Variables"] == {"A": "global", "B": "own", "C": "own"}
    assert merged["Other"]["Properties"] == {}


def test_globals_intrinsic_value_is_replaced_not_merged() -> None:
    """An intrinsic is a value, not a map to merge into."""
    assert merge_values({"Ref": "A"}, {"Ref": "B"}) == {"Ref": "B"}


def test_unknown_globals_section_is_an_error() -> None:
    with pytest.raises(TemplateError, match="Globals section 'Queue'"):
        merge_globals({"Queue": {}}, {})


def test_real_template_globals_reach_every_function() -> None:
    """The real template: Globals' table variables reach each function; Globals' Timeout
    applies unless the function sets its own."""
    template = load_template(REAL_TEMPLATE)
    functions = dict(template.resources_of("AWS::Serverless::Function"))
    payment_functions = {"IngressFunction", "ValidatePaymentFunction", "DeductAmountFunction"}
    assert payment_functions <= set(functions)
    for logical_id, resource in functions.items():
        props = resource["Properties"]
        if logical_id in payment_functions:
            assert props["Timeout"] == 10
        assert {"PAYMENTS_TABLE", "ACCOUNTS_TABLE", "POWERTOOLS_SERVICE_NAME"} <= set(
            props["Environment"]["Variables"]
        )
    assert (
        "LEDGER_TABLE"
        in functions["DeductAmountFunction"]["Properties"]["Environment"]["Variables"]
    )


def test_dependency_order_puts_referenced_resources_first() -> None:
    """Every resource of the real template comes after what it references (queue before the
    pipe, functions before the state machine, DLQ before the queue)."""
    template = load_template(REAL_TEMPLATE)
    order = dependency_order(template)
    assert sorted(order) == sorted(template.resources)
    for logical_id, resource in template.resources.items():
        for ref in references(resource.get("Properties") or {}) & set(template.resources):
            assert order.index(ref) < order.index(logical_id), (ref, logical_id)


def test_circular_dependency_is_reported(tmp_path: Path) -> None:
    template = load_template(
        write_template(
            tmp_path,
            """
Resources:
  A: {Type: AWS::SQS::Queue, Properties: {QueueName: !GetAtt B.QueueName}}
  B: {Type: AWS::SQS::Queue, Properties: {QueueName: !GetAtt A.QueueName}}
""",
        )
    )
    with pytest.raises(TemplateError, match="circular dependency"):
        dependency_order(template)


def _provisioner(template: Template) -> Provisioner:
    def no_client(service: str) -> Any:
        raise AssertionError(f"check() must not call AWS ({service})")

    return Provisioner(template, no_client, lambda spec: None, region="us-east-1")


def test_unsupported_resource_type_is_an_error_naming_it(tmp_path: Path) -> None:
    template = load_template(
        write_template(tmp_path, "Resources:\n  Topic: {Type: AWS::SNS::Topic}\n")
    )
    with pytest.raises(TemplateError, match=r"Topic: resource type AWS::SNS::Topic"):
        _provisioner(template).check()


def test_unsupported_property_is_an_error_naming_it(tmp_path: Path) -> None:
    template = load_template(
        write_template(
            tmp_path,
            "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: {FancyNew: 1}\n",
        )
    )
    with pytest.raises(TemplateError, match=r"Q \(AWS::SQS::Queue\): property FancyNew"):
        _provisioner(template).check()


def test_unsupported_function_event_type_is_an_error(tmp_path: Path) -> None:
    template = load_template(
        write_template(
            tmp_path,
            """
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: a.b
      CodeUri: .
      Events:
        Jobs: {Type: SQS, Properties: {Queue: arn:aws:sqs:us-east-1:123456789012:q}}
""",
        )
    )
    with pytest.raises(TemplateError, match=r"Fn\.Events\.Jobs: event type SQS"):
        _provisioner(template).check()


def test_real_template_passes_the_check_and_lists_what_is_not_enforced() -> None:
    """Every resource and property of the real template is emulated or explicitly accepted;
    the accepted ones (Layers, Tracing, IAM...) are listed, not hidden."""
    provisioner = _provisioner(load_template(REAL_TEMPLATE))
    provisioner.check()
    assert any(note.startswith("IngressFunction.Layers") for note in provisioner.unenforced)
    assert any("IAM" in note for note in provisioner.unenforced)


def test_definition_substitutions_fill_every_placeholder() -> None:
    text = '{"A": "${One}", "B": "${Two}", "C": "$.not.a.placeholder"}'
    got = substitute_definition(text, {"One": "1", "Two": "2"}, "SM")
    assert got == '{"A": "1", "B": "2", "C": "$.not.a.placeholder"}'


def test_missing_definition_substitution_is_an_error() -> None:
    with pytest.raises(TemplateError, match="SM: no DefinitionSubstitutions for Two"):
        substitute_definition('{"A": "${One}", "B": "${Two}"}', {"One": "1"}, "SM")


def test_unknown_parameter_override_is_an_error(tmp_path: Path) -> None:
    path = write_template(tmp_path, "Resources:\n  Q: {Type: AWS::SQS::Queue}\n")
    with pytest.raises(TemplateError, match="unknown template parameter"):
        load_template(path, {"Nope": "1"})


def test_schedule_rate_becomes_an_interval_and_cron_is_refused(tmp_path: Path) -> None:
    """rate(N unit) is run locally; a cron expression is a clear error, not a silent skip."""
    body = """
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: a.b
      CodeUri: .
      Events:
        Sweep: {Type: Schedule, Properties: {Schedule: "%s"}}
"""
    provisioner = _provisioner(load_template(write_template(tmp_path, body % "rate(2 hours)")))
    provisioner.functions["Fn"] = FunctionSpec(
        logical_id="Fn", function_name="demo-Fn", arn="arn", code_dir=tmp_path, handler="a.b"
    )
    (schedule,) = provisioner._schedules()
    assert (schedule.function_name, schedule.interval_seconds) == ("demo-Fn", 7200)

    provisioner = _provisioner(load_template(write_template(tmp_path, body % "cron(0 * * * ? *)")))
    provisioner.functions["Fn"] = FunctionSpec(
        logical_id="Fn", function_name="demo-Fn", arn="arn", code_dir=tmp_path, handler="a.b"
    )
    with pytest.raises(TemplateError, match=r"Fn\.Events\.Sweep: schedule 'cron"):
        provisioner._schedules()
