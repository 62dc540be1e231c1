"""The bridge to cfn-lint: each deploy rule as a cfn-lint rule, run on the translated template.

cfn-lint 1.x validates a SAM template in its SAM form (it merges Globals and stops there), so a
rule here translates it first, offline, with `paycli.lint.translate` (from the file as written
when cfn-lint has one, so Globals are merged by SAM itself), then checks the translation. A
template without the SAM transform (what `paycli validate` lints) is checked as it is. Findings
on a SAM file point at the SAM resource (or Api event) the translated resource came from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from cfnlint.decode import decode
from cfnlint.rules import CloudFormationLintRule, RuleMatch

from paycli.lint.deploy._model import DEFAULT_STACK_NAME, Problem, Stack
from paycli.lint.translate import TranslationError, is_sam, origin, plain, translate

_CACHE = "_paycli_translated"
_REGION = "us-east-1"


class DeployRule(CloudFormationLintRule):  # type: ignore[misc]
    """A cfn-lint rule over `check(Stack)`; subclasses set id, texts and `check`."""

    check: ClassVar[Callable[[Stack], list[Problem]]]
    tags: ClassVar[list[str]] = ["paycli", "deploy"]

    def __init__(self) -> None:
        super().__init__()
        self.config_definition = {
            "stack_name": {"default": DEFAULT_STACK_NAME, "type": "string"},
        }
        self.configure()

    def match(self, cfn: Any) -> list[RuleMatch]:
        translated = _translated(cfn)
        if translated is None:
            return []  # the translator's own errors are reported by `paycli validate`
        regions: Sequence[str] = getattr(cfn, "regions", None) or [_REGION]
        stack = Stack(translated, regions[0], str(self.config.get("stack_name")))
        sam = is_sam(cfn.template)
        return [
            RuleMatch(list(sam_path(cfn.template, p.path) if sam else p.path), p.message)
            for p in type(self).check(stack)
        ]


def _translated(cfn: Any) -> dict[str, Any] | None:
    """The template as CloudFormation gets it; translated once per template, for every rule."""
    if hasattr(cfn, _CACHE):
        cached: dict[str, Any] | None = getattr(cfn, _CACHE)
        return cached
    result: dict[str, Any] | None
    if is_sam(cfn.template):
        regions = getattr(cfn, "regions", None) or [_REGION]
        try:
            result = translate(_as_written(cfn), region=regions[0])
        except TranslationError:
            result = None
    else:
        result = plain(cfn.template)
    setattr(cfn, _CACHE, result)
    return result


def _as_written(cfn: Any) -> dict[str, Any]:
    """The SAM template before cfn-lint merged its Globals (re-read from the file if any)."""
    filename = getattr(cfn, "filename", None)
    if filename and Path(filename).is_file():
        template, matches = decode(filename)
        if isinstance(template, dict) and not matches:
            return template
    written: dict[str, Any] = plain(cfn.template)
    return written


def sam_path(sam: dict[str, Any], path: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Where in the SAM form a path of the translated template comes from."""
    if len(path) < 2 or path[0] != "Resources":
        return path
    resources = sam.get("Resources") or {}
    logical_id = str(path[1])
    if "paths" in path and path.index("paths") + 1 < len(path):
        event = _api_event(resources, logical_id, str(path[path.index("paths") + 1]))
        if event is not None:
            return event
    source = logical_id if logical_id in resources else origin(logical_id, set(resources))
    if source is None:
        return ("Resources",)
    return existing_prefix(sam, ("Resources", source, *path[2:]))


def _api_event(resources: dict[str, Any], api: str, route: str) -> tuple[str, ...] | None:
    """The function event that declares `route` on the API `api`."""
    for function, resource in resources.items():
        events = ((resource or {}).get("Properties") or {}).get("Events") or {}
        for name, event in events.items() if isinstance(events, dict) else []:
            props = (event or {}).get("Properties") or {}
            if props.get("Path") == route and props.get("RestApiId") in ({"Ref": api}, api):
                return ("Resources", function, "Properties", "Events", name, "Properties", "Path")
    return None


def existing_prefix(template: Any, path: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """The longest prefix of `path` that exists in `template` (cfn-lint finds its line)."""
    node = template
    for depth, key in enumerate(path):
        found, node = _child(node, key)
        if not found:
            return path[:depth]
    return path


def node_at(template: Any, path: tuple[str | int, ...]) -> Any:
    """The node at an existing path (see `existing_prefix`)."""
    node = template
    for key in path:
        node = _child(node, key)[1]
    return node


def _child(node: Any, key: str | int) -> tuple[bool, Any]:
    """(True, node[key]) when `key` is in the mapping or a valid index of the list."""
    if isinstance(node, dict):
        return (key in node), node.get(key)
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return True, node[key]
    return False, None
