"""The Powertools for AWS Lambda (Python) layer exists in the deploy region's partition only
under that partition's publisher account.

Powertools' installation guide ("Lambda Layer" tables, docs/getting-started/install.md in
aws-powertools/powertools-lambda-python): commercial regions 017000801446, China (cn-north-1)
498634801083 in partition aws-cn, GovCloud us-gov-east-1 165087284144 and us-gov-west-1
165093116878 in partition aws-us-gov. A layer version must also be in the function's region.
A layer ARN Lambda cannot read fails the function's create.
"""

from __future__ import annotations

from paycli.lint.deploy._model import Problem, Stack

SOURCE = "https://docs.aws.amazon.com/powertools/python/latest/getting-started/install/"
POWERTOOLS_LAYER = ":layer:AWSLambdaPowertoolsPython"
_COMMERCIAL = "017000801446"
# (partition, region or "*") -> publisher account.
PUBLISHERS = {
    ("aws", "*"): _COMMERCIAL,
    ("aws-cn", "cn-north-1"): "498634801083",
    ("aws-us-gov", "us-gov-east-1"): "165087284144",
    ("aws-us-gov", "us-gov-west-1"): "165093116878",
}
_ERROR = (
    "AccessDeniedException: not authorized to perform: lambda:GetLayerVersion on resource: {arn}"
)


def expected_arn_prefix(region: str, partition: str) -> str | None:
    """`arn:{partition}:lambda:{region}:{account}` of the Powertools layer, or None where
    Powertools publishes none."""
    account = PUBLISHERS.get((partition, region)) or PUBLISHERS.get((partition, "*"))
    return f"arn:{partition}:lambda:{region}:{account}" if account else None


def check(stack: Stack) -> list[Problem]:
    """Every Powertools layer of every function resolves to the publisher's ARN in the region."""
    expected = expected_arn_prefix(stack.region, stack.partition)
    problems: list[Problem] = []
    for logical_id, props in stack.of_type("AWS::Lambda::Function"):
        layers = props.get("Layers")
        for index, layer in enumerate(layers if isinstance(layers, list) else []):
            arn = stack.string(layer)
            where = ("Resources", logical_id, "Properties", "Layers", index)
            for mapping in stack.missing_mappings(layer):
                problems.append(
                    Problem(
                        where,
                        f"Template error: Unable to get mapping for {mapping}",
                        f"{logical_id}: layer {index} has no mapping for {stack.region}",
                    )
                )
            if arn is None or POWERTOOLS_LAYER not in arn:
                continue
            prefix = arn.split(":layer:", 1)[0]
            if prefix == expected:
                continue
            wanted = expected or f"none: Powertools publishes no layer in {stack.region}"
            problems.append(
                Problem(
                    where,
                    _ERROR.format(arn=arn),
                    f"{logical_id}: the Powertools layer resolves to {prefix} in {stack.region}; "
                    f"the publisher's is {wanted}",
                )
            )
    return problems
