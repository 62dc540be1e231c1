"""The one reading of SAM's own rules that paycli needs: Globals and `${}` placeholders.

`paycli validate` (paycli/lint), the local stack (paycli/local/template.py, provision.py) and
the IAM audit read the template through this module, so the validator can never pass a
template the local stack reads differently. Everything else about the SAM form is left to
aws-sam-translator (paycli/lint/translate.py), which is what `sam deploy` runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Globals section -> the resource type it applies to (SAM specification, "Globals section").
GLOBALS_TARGETS = {
    "Function": "AWS::Serverless::Function",
    "Api": "AWS::Serverless::Api",
    "HttpApi": "AWS::Serverless::HttpApi",
    "SimpleTable": "AWS::Serverless::SimpleTable",
    "StateMachine": "AWS::Serverless::StateMachine",
}
# `Fn::Sub` variables: `${Name}`, `${Resource.Attribute}`, `${AWS::Region}`; `${!Literal}` is
# an escaped literal, not a variable.
SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")
# DefinitionSubstitutions placeholders in an ASL file: the same syntax, and the same pattern,
# everywhere a definition is substituted or checked.
DEFINITION_VARIABLE = SUB_VARIABLE


def unsupported_globals(globals_: Mapping[str, Any]) -> list[str]:
    """Globals sections SAM does not define (the translator rejects them)."""
    return [section for section in globals_ if section not in GLOBALS_TARGETS]


def merge_globals(
    globals_: Mapping[str, Any], resources: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """SAM's Globals rules: maps merge key by key, lists concatenate (Globals first), and a
    resource's own scalar wins. Malformed resources (no Type) are copied as they are."""
    merged: dict[str, dict[str, Any]] = {}
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        merged[logical_id] = dict(resource)
        for section, target in GLOBALS_TARGETS.items():
            if resource.get("Type") == target and isinstance(globals_.get(section), dict):
                own = resource.get("Properties") or {}
                if isinstance(own, dict):
                    merged[logical_id]["Properties"] = merge_values(globals_[section], own)
    return merged


def merged_resources(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The template's resources with its Globals merged in."""
    globals_ = template.get("Globals") or {}
    resources = template.get("Resources") or {}
    if not isinstance(globals_, dict) or not isinstance(resources, dict):
        return {}
    return merge_globals(globals_, resources)


def merge_values(global_value: Any, local_value: Any) -> Any:
    """Merge one Globals value with the resource's value for the same key."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        if _is_intrinsic(global_value) or _is_intrinsic(local_value):
            return local_value
        out = dict(global_value)
        for key, value in local_value.items():
            out[key] = merge_values(global_value[key], value) if key in global_value else value
        return out
    if isinstance(global_value, list) and isinstance(local_value, list):
        return [*global_value, *local_value]
    return local_value


def _is_intrinsic(value: dict[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref"))
