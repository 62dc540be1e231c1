"""`paycli validate`: every offline check of the SAM app, over one reading of it.

- `lint_sam`: cfn-lint on `template.yaml` as written (the SAM form);
- `translate_template` + `lint_translated`: the offline aws-sam-translator output, linted again
  with cfn-lint and AWS's deploy-time rules (`paycli.lint.rules`);
- `check_state_machines`: the ASL after `DefinitionSubstitutions` (paycli.lint.asl);
- `check_functions`: every `CodeUri` and `Handler` on disk with exact case (paycli.lint.code).

Everything works from a path, so it serves the repo's `stack/` and a wheel's `paycli/_stack`
alike. Nothing here touches the network or the user's AWS configuration. Importing this module
loads cfn-lint, samtranslator and moto's ASL parser (about 2 s): the CLI imports it inside the
command body only.
"""

from __future__ import annotations

from pathlib import Path

from paycli.lint.asl import check_state_machines
from paycli.lint.cfn import lint_sam, lint_translated, load_template, translate_template
from paycli.lint.code import check_functions
from paycli.lint.deploy._model import DEFAULT_STACK_NAME
from paycli.lint.findings import DEFAULT_REGION, TEMPLATE_NAME, ValidationReport, error
from paycli.lint.translate import resources


def validate_stack(
    stack_dir: Path, *, region: str = DEFAULT_REGION, stack_name: str = DEFAULT_STACK_NAME
) -> ValidationReport:
    """Run every check on the SAM app in `stack_dir` (the directory holding template.yaml)."""
    template_path = stack_dir / TEMPLATE_NAME
    if not template_path.is_file():
        missing = error(
            "template", "template-missing", f"no {TEMPLATE_NAME} in {stack_dir}", str(template_path)
        )
        return ValidationReport(stack_dir, (missing,))
    text = template_path.read_text(encoding="utf-8")
    template, findings = load_template(text)
    if template is None:
        return ValidationReport(stack_dir, tuple(findings))
    findings += lint_sam(text, region=region)
    translated, translate_findings = translate_template(template, region=region)
    findings += translate_findings
    if translated is not None:
        findings += lint_translated(
            translated,
            sam_ids=set(resources(template)),
            region=region,
            stack_name=stack_name,
            sam=template,
        )
    findings += check_state_machines(template, stack_dir)
    findings += check_functions(template, stack_dir)
    return ValidationReport(stack_dir, tuple(findings))


def find_stack_dir(package_dir: Path | None = None) -> Path:
    """The bundled SAM app: `paycli/_stack` in an installed wheel, else the repo's `stack/`.

    `package_dir` is the `paycli` package directory (tests pass a fake one).
    """
    package_dir = package_dir or Path(__file__).resolve().parent.parent
    bundled = package_dir / "_stack"
    if (bundled / TEMPLATE_NAME).is_file():
        return bundled
    return package_dir.parent / "stack"
