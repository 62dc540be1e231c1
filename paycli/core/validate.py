"""Moved to `paycli.lint` (issue 12, "One SAM reader"): this name stays for existing imports."""

from __future__ import annotations

from paycli.lint.asl import (
    check_asl,
    check_moto_parses,
    check_state_graph,
    check_state_machines,
    check_substitutions,
    substitute,
)
from paycli.lint.cfn import lint_sam, lint_translated, load_template, translate_template
from paycli.lint.code import check_functions, check_handler, resolve_exact
from paycli.lint.findings import (
    DEFAULT_REGION,
    TEMPLATE_NAME,
    Finding,
    Severity,
    ValidationReport,
)
from paycli.lint.validate import find_stack_dir, validate_stack

translate = translate_template

__all__ = [
    "DEFAULT_REGION",
    "TEMPLATE_NAME",
    "Finding",
    "Severity",
    "ValidationReport",
    "check_asl",
    "check_functions",
    "check_handler",
    "check_moto_parses",
    "check_state_graph",
    "check_state_machines",
    "check_substitutions",
    "find_stack_dir",
    "lint_sam",
    "lint_translated",
    "load_template",
    "resolve_exact",
    "substitute",
    "translate",
    "validate_stack",
]
