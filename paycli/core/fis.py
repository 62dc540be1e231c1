"""A fault plan's Lambda faults as an AWS Fault Injection Service experiment template.

`paycli local faults export-fis PLAN` writes a CloudFormation template holding an
`AWS::FIS::ExperimentTemplate` and the IAM role FIS runs it with. FIS's Lambda actions work
through the FIS Lambda extension: each targeted function needs the extension's layer (its ARN
is the public SSM parameter `/aws/service/fis/lambda-extension/AWS-FIS-extension-x86_64/1.x.x`),
`AWS_LAMBDA_EXEC_WRAPPER=/opt/aws-fis/bootstrap`, `AWS_FIS_CONFIGURATION_LOCATION` set to the
template's `ConfigurationLocation` output (an S3 prefix ARN FIS writes the fault configuration
to), and read access to that prefix (s3:ListBucket on the bucket, s3:GetObject under it). The
stack in stack/template.yaml does not carry them today: add them before starting an experiment.

Mapping (rate -> invocationPercentage, rounded, at least 1 when the rate is above 0):

- handler_error   -> aws:lambda:invocation-error, preventExecution true (the handler never runs)
- handler_timeout -> aws:lambda:invocation-error, preventExecution false (it runs; the caller
                     gets an error)
- handler_slow    -> aws:lambda:invocation-add-delay, startupDelayMilliseconds = delay
- lambda_throttle and the DynamoDB, SQS and pipe kinds have no FIS Lambda action: they are
  listed in the template's Metadata as not exported.
"""

from __future__ import annotations

import json
from typing import Any, Final

from paycli.core.errors import UsageError
from paycli.core.faultplan import LAMBDA_KINDS, FaultPlan, FaultSpec

#: The functions of stack/template.yaml a plan may name (their ARNs are template parameters).
FUNCTIONS: Final = (
    "IngressFunction",
    "ValidatePaymentFunction",
    "DeductAmountFunction",
    "ReconcileFunction",
)
ACTIONS: Final[dict[str, str]] = {
    "handler_error": "aws:lambda:invocation-error",
    "handler_timeout": "aws:lambda:invocation-error",
    "handler_slow": "aws:lambda:invocation-add-delay",
}
CONFIGURATION_LOCATION: Final = (
    "arn:${AWS::Partition}:s3:::${ConfigurationBucket}/${ConfigurationPrefix}"
)
EXTENSION_LAYER_PARAMETER: Final = (
    "/aws/service/fis/lambda-extension/AWS-FIS-extension-x86_64/1.x.x"
)


def _percentage(rate: float) -> str:
    return str(max(1, min(100, round(rate * 100))))


def _functions(spec: FaultSpec) -> tuple[str, ...]:
    unknown = [name for name in spec.functions if name not in FUNCTIONS]
    if unknown:
        raise UsageError(
            f"{spec.kind}: cannot export functions {', '.join(unknown)} to FIS",
            hint=f"name functions by logical id: {', '.join(FUNCTIONS)}",
        )
    return spec.functions or FUNCTIONS


def _action(spec: FaultSpec, target: str) -> dict[str, Any]:
    parameters = {
        "duration": {"Ref": "Duration"},
        "invocationPercentage": _percentage(spec.rate),
    }
    if spec.kind == "handler_slow":
        parameters["startupDelayMilliseconds"] = str(round(spec.seconds * 1000))
    else:
        parameters["preventExecution"] = "true" if spec.kind == "handler_error" else "false"
    return {
        "ActionId": ACTIONS[spec.kind],
        "Description": f"paycli fault plan: {spec.kind} at rate {spec.rate:g}",
        "Parameters": parameters,
        "Targets": {"Functions": target},
    }


def _role(functions: set[str]) -> dict[str, Any]:
    prefix = {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::${ConfigurationBucket}/${ConfigurationPrefix}*"
    }
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": "Runs the paycli fault-plan experiment (FIS Lambda actions)",
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "fis.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": "fis-lambda-actions",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "WriteFaultConfiguration",
                                "Effect": "Allow",
                                "Action": ["s3:PutObject", "s3:DeleteObject"],
                                "Resource": prefix,
                            },
                            {
                                "Sid": "ReadTargets",
                                "Effect": "Allow",
                                "Action": "lambda:GetFunction",
                                "Resource": [{"Ref": f"{name}Arn"} for name in sorted(functions)],
                            },
                            {
                                "Sid": "ResolveTargets",
                                "Effect": "Allow",
                                "Action": "tag:GetResources",
                                "Resource": "*",  # tag:GetResources has no resource-level scope
                            },
                        ],
                    },
                }
            ],
        },
    }


def _parameters(functions: set[str]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "ConfigurationBucket": {
            "Type": "String",
            "Description": "S3 bucket (this region) where FIS writes the fault configuration",
            "MinLength": 3,
        },
        "ConfigurationPrefix": {
            "Type": "String",
            "Default": "FisConfigs/",
            "Description": "Folder in the bucket; the functions' AWS_FIS_CONFIGURATION_LOCATION",
        },
        "Duration": {
            "Type": "String",
            "Default": "PT10M",
            "AllowedPattern": "^PT[0-9]+[MH]$",
            "Description": "How long each action injects faults (ISO 8601, e.g. PT10M)",
        },
    }
    for name in sorted(functions):
        params[f"{name}Arn"] = {
            "Type": "String",
            "AllowedPattern": "^arn:aws[a-z-]*:lambda:.+:function:.+$",
            "Description": f"ARN of the deployed stack's {name}",
        }
    return params


def experiment_template(plan: FaultPlan) -> dict[str, Any]:
    """The CloudFormation template (as a mapping) for the plan's Lambda faults; a UsageError
    when the plan has none that FIS can inject."""
    exported = [
        plan.faults[kind]
        for kind in LAMBDA_KINDS
        if kind in ACTIONS and kind in plan.faults and plan.faults[kind].rate > 0
    ]
    if not exported:
        raise UsageError(
            f"fault plan {plan.name} has no Lambda fault FIS can inject",
            hint=f"give one of {', '.join(ACTIONS)} a rate above 0",
        )
    targets: dict[str, Any] = {}
    actions: dict[str, Any] = {}
    used: set[str] = set()
    for spec in exported:
        functions = _functions(spec)
        used |= set(functions)
        name = "".join(part.title() for part in spec.kind.split("_"))
        targets[f"{name}Functions"] = {
            "ResourceType": "aws:lambda:function",
            "ResourceArns": [{"Ref": f"{f}Arn"} for f in functions],
            "SelectionMode": "ALL",
        }
        actions[name] = _action(spec, f"{name}Functions")
    skipped = sorted(k for k, s in plan.faults.items() if s.rate > 0 and k not in ACTIONS)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"AWS FIS experiment for the Lambda faults of paycli fault plan {plan.name}",
        "Metadata": {
            "PaycliFaultPlan": json.dumps(plan.to_json(), sort_keys=True),  # no floats in Metadata
            "NotExported": dict.fromkeys(skipped, "no FIS Lambda action injects this kind"),
            "Prerequisites": [
                f"each targeted function carries the FIS extension layer (SSM parameter"
                f" {EXTENSION_LAYER_PARAMETER})",
                "AWS_LAMBDA_EXEC_WRAPPER=/opt/aws-fis/bootstrap on each targeted function",
                "AWS_FIS_CONFIGURATION_LOCATION = the ConfigurationLocation output",
                "the functions' roles may s3:ListBucket the bucket and s3:GetObject the prefix",
            ],
        },
        "Parameters": _parameters(used),
        "Resources": {
            "FisExperimentRole": _role(used),
            "FaultPlanExperiment": {
                "Type": "AWS::FIS::ExperimentTemplate",
                "Properties": {
                    "Description": f"paycli fault plan {plan.name} (seed {plan.seed})"[:512],
                    "RoleArn": {"Fn::GetAtt": ["FisExperimentRole", "Arn"]},
                    "StopConditions": [{"Source": "none"}],
                    "Targets": targets,
                    "Actions": actions,
                    "Tags": {"Name": f"paycli-{plan.name}"[:128]},
                },
            },
        },
        "Outputs": {
            "ExperimentTemplateId": {"Value": {"Ref": "FaultPlanExperiment"}},
            "ConfigurationLocation": {
                "Description": "Set as AWS_FIS_CONFIGURATION_LOCATION on each targeted function",
                "Value": {"Fn::Sub": CONFIGURATION_LOCATION},
            },
        },
    }
