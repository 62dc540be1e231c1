"""What every deploy rule reads and returns: the translated template with the deploy's region
and stack name, and problems that carry the service's own error text.

The rules are plain functions over this model, so cfn-lint (`_base.DeployRule`) and the local
stack (`paycli.lint.rules.deploy_problems`) run exactly the same code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from paycli.core.sam import SUB_VARIABLE

Path = tuple[str | int, ...]

ACCOUNT_ID = "123456789012"
DEFAULT_STACK_NAME = "paycli"
# Region prefix -> partition (AWS General Reference, "Amazon Resource Names": aws, aws-cn,
# aws-us-gov, and the isolated partitions).
_PARTITIONS = (
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-isob-", "aws-iso-b"),
    ("us-iso-", "aws-iso"),
    ("eu-isoe-", "aws-iso-e"),
)


def partition_of(region: str) -> str:
    """The partition a region belongs to."""
    return next((p for prefix, p in _PARTITIONS if region.startswith(prefix)), "aws")


@dataclass(frozen=True)
class Problem:
    """One thing AWS would refuse: where (a path in the translated template), AWS's own error
    text (`Code: message`, as the service returns it), and what in the template causes it."""

    path: Path
    error: str
    detail: str

    @property
    def message(self) -> str:
        """The error as AWS words it, then the cause in the template's terms."""
        return f"{self.error} ({self.detail})"


@dataclass(frozen=True)
class Stack:
    """A translated template as CloudFormation would deploy it in one region under one name."""

    template: Mapping[str, Any]
    region: str
    stack_name: str = DEFAULT_STACK_NAME
    account_id: str = ACCOUNT_ID

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        found = self.template.get("Resources") or {}
        return {k: v for k, v in found.items() if isinstance(v, dict)}

    def of_type(self, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(logical id, Properties) of every resource of one type."""
        for logical_id, resource in self.resources.items():
            props = resource.get("Properties") or {}
            if resource.get("Type") == kind and isinstance(props, dict):
                yield logical_id, props

    def target(self, value: Any) -> str | None:
        """The logical id a `Ref X` or `Fn::GetAtt X.Attr` names, if it is a template resource."""
        if not isinstance(value, dict) or len(value) != 1:
            return None
        key, arg = next(iter(value.items()))
        if key == "Ref":
            name = arg
        elif key == "Fn::GetAtt":
            name = arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0]
        else:
            return None
        return name if isinstance(name, str) and name in self.resources else None

    def pseudo(self) -> dict[str, str]:
        """Pseudo parameters as CloudFormation gives them to this stack."""
        return {
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com",
        }

    def string(self, value: Any) -> str | None:
        """A string property as deployed: literals, pseudo parameters, parameter defaults,
        `Fn::Sub`, `Fn::Join` and `Fn::FindInMap` of those. None when it depends on another
        resource."""
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, dict) or len(value) != 1:
            return None
        key, arg = next(iter(value.items()))
        resolve = {
            "Ref": lambda a: self._variable(str(a)),
            "Fn::Sub": self._sub,
            "Fn::FindInMap": self._find_in_map,
            "Fn::Join": self._join,
        }.get(key)
        return resolve(arg) if resolve is not None else None

    def _join(self, arg: Any) -> str | None:
        if not isinstance(arg, list) or len(arg) != 2 or not isinstance(arg[1], list):
            return None
        parts = [self.string(p) for p in arg[1]]
        return None if None in parts else str(arg[0]).join(p or "" for p in parts)

    def _find_in_map(self, arg: Any) -> str | None:
        if not isinstance(arg, list) or len(arg) != 3:
            return None
        keys = [self.string(a) for a in arg]
        node: Any = self.template.get("Mappings") or {}
        for key in keys:
            if key is None or not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return self.string(node)

    def missing_mappings(self, value: Any) -> list[str]:
        """`Map::Key::SubKey` of every `Fn::FindInMap` in `value` whose keys resolve for this
        deploy but are not in Mappings (CloudFormation fails such a template)."""
        missing: list[str] = []
        if isinstance(value, list):
            for item in value:
                missing += self.missing_mappings(item)
        elif isinstance(value, dict):
            arg = value.get("Fn::FindInMap")
            if isinstance(arg, list) and len(arg) == 3 and len(value) == 1:
                keys = [self.string(a) for a in arg]
                if None not in keys and self._find_in_map(arg) is None:
                    missing.append("::".join(str(k) for k in keys))
            for item in value.values():
                missing += self.missing_mappings(item)
        return missing

    def _variable(self, name: str) -> str | None:
        pseudo = self.pseudo()
        if name in pseudo:
            return pseudo[name]
        spec = (self.template.get("Parameters") or {}).get(name)
        if isinstance(spec, dict) and "Default" in spec:
            return str(spec["Default"])
        return None

    def _sub(self, arg: Any) -> str | None:
        text, local = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
        values: dict[str, str | None] = {k: self.string(v) for k, v in local.items()}
        missing = False

        def replace(match: re.Match[str]) -> str:
            nonlocal missing
            name = match.group(1)
            value = values[name] if name in values else self._variable(name)
            if value is None:
                missing = True
                return ""
            return value

        result = SUB_VARIABLE.sub(replace, str(text)).replace("${!", "${")
        return None if missing else result
