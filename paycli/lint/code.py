"""The functions' code on disk: every `CodeUri` and `Handler` resolves with exact case (macOS
and Windows forgive a wrong case; Lambda's Linux and CI do not). Modules are parsed, never
imported."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paycli.core.sam import merged_resources
from paycli.lint.findings import Finding, error, where

# The oldest Python the handlers run on: the local stack runs them on the CLI's 3.11.
_HANDLER_PYTHON = (3, 11)


def check_functions(template: Mapping[str, Any], stack_dir: Path) -> list[Finding]:
    """Every AWS::Serverless::Function: CodeUri is a directory and Handler names a function."""
    findings: list[Finding] = []
    for logical_id, resource in merged_resources(template).items():
        props = resource.get("Properties") or {}
        if resource.get("Type") != "AWS::Serverless::Function" or not isinstance(props, dict):
            continue  # malformed: cfn-lint reports it
        if "InlineCode" in props or props.get("PackageType") == "Image":
            continue
        findings += _check_function(logical_id, props, stack_dir)
    return findings


def _check_function(logical_id: str, props: Mapping[str, Any], stack_dir: Path) -> list[Finding]:
    """One function: its code directory, then its handler inside it."""
    code_uri = props.get("CodeUri")
    if not isinstance(code_uri, str):
        return [
            error(
                "code",
                "code-uri-missing",
                f"{logical_id} has no CodeUri (nor Globals.Function.CodeUri)",
                where(None, logical_id),
            )
        ]
    if code_uri.startswith("s3://"):
        return []
    code_dir, problems = resolve_exact(stack_dir, code_uri)
    findings = [path_finding(p, logical_id, "CodeUri", code_uri, code_uri) for p in problems]
    if code_dir is None:
        return findings
    if not code_dir.is_dir():
        return [
            *findings,
            path_finding(
                ("path-missing", "is not a directory"), logical_id, "CodeUri", code_uri, code_uri
            ),
        ]
    runtime = str(props.get("Runtime", "python"))
    if runtime.startswith("python"):
        findings += check_handler(
            logical_id, props.get("Handler"), code_dir, where(props.get("Handler"), logical_id)
        )
    return findings


def check_handler(logical_id: str, handler: Any, code_dir: Path, where: str) -> list[Finding]:
    """`pkg.mod.func`: a module file under the code directory with a top-level `func`.

    The module is parsed, never imported: importing would run its module-scope code (clients,
    environment lookups) and hide a wrong case on a case-insensitive filesystem.
    """
    if not isinstance(handler, str) or handler.count(".") < 1:
        return [
            error(
                "code",
                "handler-format",
                f"{logical_id}.Handler must be 'module.function', got {handler!r}",
                where,
            )
        ]
    module, function = handler.rsplit(".", 1)
    module_path, problems = _find_module(code_dir, module.split("."))
    relative = module.replace(".", "/")
    if module_path is None:
        return [
            error(
                "code",
                "handler-missing-module",
                f"{logical_id}.Handler {handler!r}: no {code_dir.name}/{relative}.py "
                f"(nor {relative}/__init__.py)",
                where,
            )
        ]
    findings = [
        error("code", code, f"{logical_id}.Handler {handler!r}: {text}", where)
        for code, text in problems
    ]
    try:
        tree = ast.parse(
            module_path.read_text(encoding="utf-8"),
            str(module_path),
            feature_version=_HANDLER_PYTHON,
        )
    except SyntaxError as exc:
        version = ".".join(map(str, _HANDLER_PYTHON))
        return [
            *findings,
            error(
                "code",
                "handler-syntax",
                f"{logical_id}.Handler: {module} does not parse as Python {version}: {exc.msg} "
                f"(line {exc.lineno})",
                where,
            ),
        ]
    if function not in _top_level_names(tree):
        findings.append(
            error(
                "code",
                "handler-missing-function",
                f"{logical_id}.Handler: {module} has no top-level function {function!r}",
                where,
            )
        )
    return findings


def _find_module(code_dir: Path, parts: list[str]) -> tuple[Path | None, list[tuple[str, str]]]:
    """`a.b.c` as `a/b/c.py` or the package `a/b/c/__init__.py`, names compared with exact case.

    A module found only under another case is returned with its `path-case` problems.
    """
    *packages, last = parts
    for candidate in ([*packages, f"{last}.py"], [*packages, last, "__init__.py"]):
        path, problems = resolve_exact(code_dir, "/".join(candidate))
        if path is not None and path.is_file():
            return path, problems
    return None, []


def _top_level_names(tree: ast.Module) -> set[str]:
    """Names a module binds at top level: functions, plus assignments and imports of callables
    (`handler = Resolver().resolve`, `from .x import handler`) which Lambda accepts as well."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update(a.asname or a.name.split(".")[0] for a in node.names)
    return names


# ---------------------------------------------------------------------------- paths


def resolve_exact(base: Path, relative: str) -> tuple[Path | None, list[tuple[str, str]]]:
    """Follow `relative` from `base` one name at a time, comparing names as stored on disk.

    Returns the path (None when a name is missing) and problems as (code, text): a name that
    exists only with another case is `path-case` (it works on macOS and fails on Lambda).
    """
    current = base
    problems: list[tuple[str, str]] = []
    for part in Path(relative).parts:
        if part in ("", "."):
            continue
        if part == "..":
            current = current.parent
            continue
        names = [p.name for p in current.iterdir()] if current.is_dir() else []
        if part not in names:
            same_but_case = [n for n in names if n.lower() == part.lower()]
            if not same_but_case:
                return None, [
                    *problems,
                    ("path-missing", f"{part!r} does not exist in {_display(current, base)}"),
                ]
            problems.append(("path-case", f"{part!r} is {same_but_case[0]!r} on disk"))
            part = same_but_case[0]  # noqa: PLW2901 - go on checking the rest of the path
        current = current / part
    return current, problems


def _display(path: Path, base: Path) -> str:
    """A directory as the user wrote it: relative to the stack directory."""
    try:
        shown = path.relative_to(base).as_posix()
    except ValueError:
        return str(path)
    return "the stack directory" if shown == "." else f"{shown}/"


def path_finding(
    problem: tuple[str, str], logical_id: str, key: str, value: str, node: Any = None
) -> Finding:
    """A path problem of one resource property, as a code finding."""
    code, text = problem
    return error("code", code, f"{logical_id}.{key} {value!r}: {text}", where(node, logical_id))
