"""What every check of `paycli validate` returns: findings with a severity and a location."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

TEMPLATE_NAME = "template.yaml"
DEFAULT_REGION = "us-east-1"


class Severity(StrEnum):
    """How bad a finding is; only errors fail `paycli validate`."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One problem: which check found it, how bad it is, what it is, and where.

    `code` is stable for scripts and tests: a cfn-lint rule id (`E1010`) or one of ours
    (`asl-unknown-target`, `path-case`, ...). `location` is `file:line:column` when the source
    has lines, else `file: dotted.path`.
    """

    source: str
    severity: Severity
    code: str
    message: str
    location: str


@dataclass(frozen=True)
class ValidationReport:
    """All findings for one stack directory; `ok` is what the exit code follows."""

    stack_dir: Path
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings that make the stack undeployable or wrong."""
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def ok(self) -> bool:
        """True when no check found an error (warnings do not fail validation)."""
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        """The `--json` shape: stable field names, severities as strings."""
        return {
            "stack_dir": str(self.stack_dir),
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": sum(f.severity is Severity.WARNING for f in self.findings),
            "findings": [{**asdict(f), "severity": str(f.severity)} for f in self.findings],
        }


def error(source: str, code: str, message: str, location: str) -> Finding:
    """An error finding of one of our own checks."""
    return Finding(source, Severity.ERROR, code, message, location)


def warning(source: str, code: str, message: str, location: str) -> Finding:
    """A warning finding: worth fixing, but the stack deploys and works."""
    return Finding(source, Severity.WARNING, code, message, location)


def where(node: Any, logical_id: str) -> str:
    """`template.yaml:line:col` of a node cfn-lint's decoder marked, else the resource path."""
    mark = getattr(node, "start_mark", None)
    if mark is not None:
        return f"{TEMPLATE_NAME}:{mark.line + 1}:{mark.column + 1}"
    return f"{TEMPLATE_NAME}: Resources.{logical_id}"
