"""API Gateway's resource tree: what `CreateResource` (and so a REST API import or a
CloudFormation deploy) refuses, which neither cfn-lint nor `sam validate --lint` checks.

The error texts are API Gateway's BadRequestException messages, as reported from AWS in
serverless/serverless-next.js#206 (sibling), claudiajs/claudia#11 (path part characters) and as
reproduced by LocalStack's parity-tested `create_resource` (greedy parent).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from paycli.lint.deploy._model import Problem, Stack

SOURCE = (
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/"
    "api-gateway-method-settings-method-request.html"
)
# A static part, or `{name}` / `{name+}`. The error text lists a-zA-Z0-9._- only, but AWS
# creates parts with a colon (aws/aws-cdk#22477: accepted by CloudFormation and the console).
_PART = re.compile(r"^(?:[A-Za-z0-9._:-]+|\{[A-Za-z0-9._-]+\+?\})$")
_SIBLING = (
    "BadRequestException: A sibling ({sibling}) of this resource already has a variable path "
    "part -- only one is allowed"
)
_CHARACTERS = (
    "BadRequestException: Resource's path part only allow a-zA-Z0-9._- and curly braces at the "
    "beginning and the end."
)
_GREEDY = "BadRequestException: Cannot create a child of a resource with a greedy path variable: {}"


def _is_variable(part: str) -> bool:
    return part.startswith("{")


def _paths(stack: Stack) -> Iterator[tuple[str, str, list[str]]]:
    """(api id, path, its parts) for every path of every REST API body, in template order."""
    for api_id, props in stack.of_type("AWS::ApiGateway::RestApi"):
        body = props.get("Body")
        paths = body.get("paths") if isinstance(body, dict) else None
        for path in paths if isinstance(paths, dict) else {}:
            yield api_id, str(path), [p for p in str(path).split("/") if p]


def _path_of(api_id: str, path: str) -> tuple[str, ...]:
    return ("Resources", api_id, "Properties", "Body", "paths", path)


def check_siblings(stack: Stack) -> list[Problem]:
    """One variable path part name per level, in API bodies and in ApiGateway::Resources."""
    problems: list[Problem] = []
    first: dict[tuple[str, tuple[str, ...]], str] = {}
    for api_id, path, parts in _paths(stack):
        for depth, part in enumerate(parts):
            if not _is_variable(part):
                continue
            parent = (api_id, tuple(parts[:depth]))
            sibling = first.setdefault(parent, part)
            if sibling != part:
                where = "/" + "/".join(parent[1])
                detail = f"{api_id}: {where} has two variable children, {sibling} and {part}"
                problems.append(
                    Problem(_path_of(api_id, path), _SIBLING.format(sibling=sibling), detail)
                )
                break
    return _unique(problems) + _resource_siblings(stack)


def _resource_siblings(stack: Stack) -> list[Problem]:
    """The same rule for resources written as AWS::ApiGateway::Resource."""
    problems: list[Problem] = []
    first: dict[str, str] = {}
    for logical_id, props in stack.of_type("AWS::ApiGateway::Resource"):
        part = props.get("PathPart")
        if not isinstance(part, str) or not _is_variable(part):
            continue
        parent = json.dumps([props.get("RestApiId"), props.get("ParentId")], sort_keys=True)
        sibling = first.setdefault(parent, part)
        if sibling != part:
            problems.append(
                Problem(
                    ("Resources", logical_id, "Properties", "PathPart"),
                    _SIBLING.format(sibling=sibling),
                    f"{logical_id}: its parent already has the variable child {sibling}",
                )
            )
    return problems


def _unique(problems: list[Problem]) -> list[Problem]:
    """One problem per path (a path with two bad parts is one thing to fix)."""
    seen: set[tuple[str | int, ...]] = set()
    unique: list[Problem] = []
    for problem in problems:
        if problem.path not in seen:
            seen.add(problem.path)
            unique.append(problem)
    return unique


def check_characters(stack: Stack) -> list[Problem]:
    """Each path part is letters, digits and ._- (or a `{variable}`), nothing else."""
    problems = [
        Problem(_path_of(api_id, path), _CHARACTERS, f"{api_id}: path part {part!r} of {path}")
        for api_id, path, parts in _paths(stack)
        for part in parts
        if not _PART.match(part)
    ]
    for logical_id, props in stack.of_type("AWS::ApiGateway::Resource"):
        part = props.get("PathPart")
        if isinstance(part, str) and not _PART.match(part):
            problems.append(
                Problem(
                    ("Resources", logical_id, "Properties", "PathPart"),
                    _CHARACTERS,
                    f"{logical_id}: path part {part!r}",
                )
            )
    return _unique(problems)


def check_greedy(stack: Stack) -> list[Problem]:
    """A greedy variable (`{proxy+}`) matches the rest of the path: it can have no children."""
    problems: list[Problem] = []
    for api_id, path, parts in _paths(stack):
        greedy = [p for p in parts[:-1] if p.endswith("+}")]
        if greedy:
            detail = f"{api_id}: {path} goes on after {greedy[0]}"
            problems.append(Problem(_path_of(api_id, path), _GREEDY.format(greedy[0]), detail))
    return problems
