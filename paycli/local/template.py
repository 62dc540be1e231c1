"""Reading the SAM template the way CloudFormation would, for the local stack.

`load_template` parses `stack/template.yaml` with samtranslator's YAML loader (it understands
the short `!Ref`/`!GetAtt`/`!Sub` tags), applies parameter defaults and merges `Globals` into
the serverless resources. `Resolver` evaluates intrinsic functions once the resources they name
have physical ids. Anything this cannot evaluate faithfully is a `TemplateError` naming it:
the local stack never guesses and never skips silently.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

from paycli.core import sam
from paycli.core.errors import PaycliError
from paycli.core.sam import SUB_VARIABLE, unsupported_globals

ACCOUNT_ID = "123456789012"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"

_NO_VALUE = object()


class TemplateError(PaycliError):
    """The template uses something the local stack cannot emulate or is inconsistent."""


@dataclass(frozen=True)
class Template:
    """A parsed SAM template with parameters resolved and Globals merged."""

    path: Path
    parameters: dict[str, str]
    resources: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    mappings: dict[str, Any]
    conditions: dict[str, Any] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        """Directory relative paths (CodeUri, DefinitionUri) are resolved against."""
        return self.path.parent

    def resources_of(self, resource_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(logical id, resource) for every resource of a type, in template order."""
        for logical_id, resource in self.resources.items():
            if resource.get("Type") == resource_type:
                yield logical_id, resource


def load_template(path: Path, parameter_overrides: Mapping[str, str] | None = None) -> Template:
    """Parse the template file, resolve parameters and merge Globals."""
    body = yaml_parse(path.read_text(encoding="utf-8"))
    if not isinstance(body, dict) or not isinstance(body.get("Resources"), dict):
        msg = f"{path}: not a CloudFormation template (no Resources section)"
        raise TemplateError(msg)
    resources_in = body["Resources"]
    conditioned = [k for k, r in resources_in.items() if isinstance(r, dict) and "Condition" in r]
    if conditioned:
        msg = f"{path}: conditional resources ({', '.join(conditioned)}) are not supported locally"
        raise TemplateError(msg)
    resources = merge_globals(body.get("Globals") or {}, body["Resources"])
    return Template(
        path=path,
        parameters=resolve_parameters(body.get("Parameters") or {}, parameter_overrides or {}),
        resources=resources,
        outputs=dict(body.get("Outputs") or {}),
        mappings=dict(body.get("Mappings") or {}),
        conditions=dict(body.get("Conditions") or {}),
    )


def resolve_parameters(declared: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    """Each parameter's override or Default, as the string CloudFormation's Ref returns."""
    unknown = set(overrides) - set(declared)
    if unknown:
        msg = f"unknown template parameter(s): {', '.join(sorted(unknown))}"
        raise TemplateError(msg)
    values: dict[str, str] = {}
    for name, spec in declared.items():
        if name in overrides:
            values[name] = str(overrides[name])
        elif isinstance(spec, dict) and "Default" in spec:
            values[name] = _scalar_str(spec["Default"])
        else:
            msg = f"parameter {name} has no Default and no value was given"
            raise TemplateError(msg)
    return values


def _scalar_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_scalar_str(v) for v in value)
    return str(value)


def merge_globals(
    globals_: Mapping[str, Any], resources: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """SAM's Globals merge (paycli.core.sam), refusing what the local stack cannot read."""
    unsupported = unsupported_globals(globals_)
    if unsupported:
        msg = f"Globals section {unsupported[0]!r} is not supported"
        raise TemplateError(msg)
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or "Type" not in resource:
            msg = f"resource {logical_id} has no Type"
            raise TemplateError(msg)
    return sam.merge_globals(globals_, resources)


# --------------------------------------------------------------------------- dependencies
def references(value: Any) -> set[str]:
    """Logical ids (or parameter names) a value refers to through Ref, GetAtt or Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        if len(value) == 1:
            key, arg = next(iter(value.items()))
            if key == "Ref" and isinstance(arg, str):
                return {arg}
            if key == "Fn::GetAtt":
                target = arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0]
                return {target}
            if key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                local = set(arg[1]) if isinstance(arg, list) and len(arg) > 1 else set()
                found |= {v.split(".", 1)[0] for v in SUB_VARIABLE.findall(str(text))} - local
                if isinstance(arg, list) and len(arg) > 1:
                    found |= references(arg[1])
                return found
        for item in value.values():
            found |= references(item)
    return found


def dependency_order(template: Template) -> list[str]:
    """Logical ids so that every resource comes after the resources it references."""
    ids = set(template.resources)
    deps: dict[str, set[str]] = {}
    for logical_id, resource in template.resources.items():
        depends_on = resource.get("DependsOn") or []
        explicit = {depends_on} if isinstance(depends_on, str) else set(depends_on)
        refs = references(resource.get("Properties") or {}) | explicit
        refs.discard(logical_id)
        deps[logical_id] = {r for r in refs if r in ids}
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            msg = "circular dependency: " + " -> ".join([*path, node])
            raise TemplateError(msg)
        state[node] = 1
        for dep in sorted(deps[node]):
            visit(dep, [*path, node])
        state[node] = 2
        order.append(node)

    for logical_id in template.resources:
        visit(logical_id, [])
    return order


# --------------------------------------------------------------------------- resolution
@dataclass
class PhysicalResource:
    """What CloudFormation knows about a created resource: Ref value and GetAtt attributes."""

    ref: str
    attributes: dict[str, str]


class Resolver:
    """Evaluates intrinsic functions against parameters, pseudo parameters and the resources
    provisioned so far."""

    def __init__(
        self,
        template: Template,
        *,
        region: str,
        account_id: str = ACCOUNT_ID,
        stack_name: str = "paycli",
    ) -> None:
        self.template = template
        self.region = region
        self.account_id = account_id
        self.stack_name = stack_name
        self.physical: dict[str, PhysicalResource] = {}
        self._functions: dict[str, Callable[[Any], Any]] = {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::Base64": self._base64,
            "Fn::FindInMap": self._find_in_map,
            "Fn::GetAZs": self._get_azs,
            # Conditions (Fn::If and the condition functions); values only, not Condition
            # attributes on resources.
            "Fn::If": self._if,
            "Fn::Equals": self._equals,
            "Fn::Not": lambda arg: not self._truth(arg[0]),
            "Fn::And": lambda arg: all(self._truth(a) for a in arg),
            "Fn::Or": lambda arg: any(self._truth(a) for a in arg),
            "Condition": self._condition,
        }

    def pseudo_parameters(self) -> dict[str, str]:
        """The AWS:: pseudo parameters as CloudFormation would give them for this stack."""
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (
                f"arn:{PARTITION}:cloudformation:{self.region}:{self.account_id}:"
                f"stack/{self.stack_name}/local"
            ),
            "AWS::NotificationARNs": "",
        }

    def add(self, logical_id: str, ref: str, **attributes: str) -> None:
        """Record a provisioned resource so later Ref/GetAtt can resolve to it."""
        self.physical[logical_id] = PhysicalResource(ref=ref, attributes=dict(attributes))

    def resolve(self, value: Any) -> Any:
        """Evaluate every intrinsic inside `value`; AWS::NoValue removes the key or item."""
        result = self._resolve(value)
        return None if result is _NO_VALUE else result

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self._resolve(v) for v in value]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            key, arg = next(iter(value.items()))
            if key in self._functions:
                return self._functions[key](arg)
            if key.startswith("Fn::") or key == "Condition":
                msg = f"intrinsic function {key} is not supported by the local stack"
                raise TemplateError(msg)
        out = {}
        for key, item in value.items():
            resolved = self._resolve(item)
            if resolved is not _NO_VALUE:
                out[key] = resolved
        return out

    def _ref(self, name: Any) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        pseudo = self.pseudo_parameters()
        if name in pseudo:
            return pseudo[name]
        if name in self.template.parameters:
            return self.template.parameters[name]
        return self._physical(str(name), "Ref").ref

    def _physical(self, logical_id: str, how: str) -> PhysicalResource:
        if logical_id in self.physical:
            return self.physical[logical_id]
        if logical_id in self.template.resources:
            msg = f"{how} {logical_id}: resource not provisioned yet (dependency order)"
        else:
            msg = f"{how} {logical_id}: no such resource or parameter in the template"
        raise TemplateError(msg)

    def _get_att(self, arg: Any) -> str:
        if isinstance(arg, str):
            logical_id, _, attribute = arg.partition(".")
        else:
            logical_id, attribute = str(arg[0]), str(self._resolve(arg[1]))
        resource = self._physical(logical_id, "Fn::GetAtt")
        if attribute not in resource.attributes:
            msg = (
                f"Fn::GetAtt {logical_id}.{attribute}: attribute not supported "
                f"(supported: {', '.join(sorted(resource.attributes)) or 'none'})"
            )
            raise TemplateError(msg)
        return resource.attributes[attribute]

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = str(arg[0]), {k: self._resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = str(arg), {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return self._get_att(name)
            return str(self._ref(name))

        substituted = SUB_VARIABLE.sub(replace, text)
        return substituted.replace("${!", "${")

    def _join(self, arg: Any) -> str:
        delimiter, items = arg
        return str(delimiter).join(str(v) for v in self._resolve(items))

    def _select(self, arg: Any) -> Any:
        index, items = self._resolve(arg[0]), self._resolve(arg[1])
        try:
            return items[int(index)]
        except (IndexError, ValueError, TypeError) as exc:
            msg = f"Fn::Select index {index!r} out of range for {items!r}"
            raise TemplateError(msg) from exc

    def _split(self, arg: Any) -> list[str]:
        delimiter, text = arg
        return str(self._resolve(text)).split(str(delimiter))

    def _base64(self, arg: Any) -> str:
        return base64.b64encode(str(self._resolve(arg)).encode()).decode()

    def _find_in_map(self, arg: Any) -> Any:
        name, top, second = (self._resolve(a) for a in arg)
        try:
            return self.template.mappings[name][top][second]
        except KeyError as exc:
            msg = f"Fn::FindInMap {name}/{top}/{second}: not in Mappings"
            raise TemplateError(msg) from exc

    def _condition(self, name: Any) -> bool:
        if name not in self.template.conditions:
            msg = f"Fn::If/Condition: no condition {name!r} in Conditions"
            raise TemplateError(msg)
        return self._truth(self.template.conditions[name])

    def _truth(self, value: Any) -> bool:
        """A condition function's value, or a named condition."""
        resolved = self._condition(value) if isinstance(value, str) else self._resolve(value)
        if not isinstance(resolved, bool):
            msg = f"{value!r} is not a condition"
            raise TemplateError(msg)
        return resolved

    def _equals(self, arg: Any) -> bool:
        first, second = (self._resolve(a) for a in arg)
        return _scalar_str(first) == _scalar_str(second)

    def _if(self, arg: Any) -> Any:
        name, when_true, when_false = arg
        return self._resolve(when_true if self._condition(name) else when_false)

    def _get_azs(self, _arg: Any) -> list[str]:
        return [f"{self.region}{zone}" for zone in "abc"]
