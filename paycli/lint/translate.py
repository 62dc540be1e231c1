"""The CloudFormation `sam deploy` would submit, built offline with aws-sam-translator.

Local CodeUri/DefinitionUri paths become s3:// placeholders (as `sam package` would make them)
and managed policies resolve from an empty static map: nothing asks IAM, S3 or the Serverless
Application Repository, and nothing reads the user's AWS configuration.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
from samtranslator.model.exceptions import ExceptionWithMessage, InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
# Stands in for the S3 bucket `sam package` would upload local code to: the translator only
# needs a well-formed s3:// URI, it never reads the object.
PLACEHOLDER_BUCKET = "paycli-validate-placeholder"
_LOCAL_URI_KEYS = ("CodeUri", "ContentUri", "DefinitionUri")
_SAR_APPLICATION = "AWS::Serverless::Application"


class TranslationError(Exception):
    """The translator refused the template: `problems` are (logical id or None, message)."""

    def __init__(self, problems: list[tuple[str | None, str]], *, skipped: bool = False) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems
        self.skipped = skipped


@dataclass(frozen=True)
class _OfflineSession:
    """All the translator reads from its boto3 session is `region_name`; a real Session would
    read ~/.aws and fail on a missing AWS_PROFILE, for a check that never calls AWS."""

    region_name: str


def is_sam(template: Mapping[str, Any]) -> bool:
    """True when the template declares the SAM transform."""
    declared = template.get("Transform")
    names = declared if isinstance(declared, list) else [declared]
    return SAM_TRANSFORM in names


def resources(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The Resources section, skipping malformed entries (cfn-lint reports those)."""
    found = template.get("Resources") or {}
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items() if isinstance(v, dict)}


def translate(template: Mapping[str, Any], *, region: str) -> dict[str, Any]:
    """The translated template, or TranslationError naming every cause."""
    nested = [i for i, r in resources(template).items() if r.get("Type") == _SAR_APPLICATION]
    if nested:
        message = (
            f"not translated: {', '.join(nested)} would make the translator call the Serverless "
            "Application Repository, and this check stays offline"
        )
        raise TranslationError([(None, message)], skipped=True)
    sam = with_s3_placeholders(plain(template))
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    translator = Translator(None, Parser(), boto_session=_OfflineSession(region), metrics=metrics)
    try:
        translated: dict[str, Any] = translator.translate(
            sam, parameter_values={}, get_managed_policy_map=dict
        )
    except InvalidDocumentException as exc:
        raise TranslationError([_cause(c) for c in exc.causes]) from exc
    except ExceptionWithMessage as exc:
        raise TranslationError([_cause(exc)]) from exc
    # Malformed input (a Properties that is not a mapping, ...) can reach code in the translator
    # that raises plain TypeErrors; cfn-lint names the cause, this says translation stopped.
    except Exception as exc:
        raise TranslationError([(None, f"the translator stopped: {exc!r}")]) from exc
    finally:
        metrics.publish()  # else its __del__ logs a warning about unpublished metrics
    return translated


def _cause(exc: Any) -> tuple[str | None, str]:
    """One translator error; resource errors carry the logical id they are about."""
    found = re.match(r"Resource with id \[([^\]]+)\]", str(exc.message))
    return (found.group(1) if found else None), str(exc.message)


def plain(template: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy in plain dicts/lists/strs: the translator mutates its input."""
    copied: dict[str, Any] = json.loads(json.dumps(template, default=str))
    return copied


def with_s3_placeholders(template: dict[str, Any]) -> dict[str, Any]:
    """Swap every local path property of SAM resources and Globals for an s3:// placeholder."""
    sections = [
        res.get("Properties")
        for res in resources(template).values()
        if str(res.get("Type", "")).startswith("AWS::Serverless::")
    ]
    sections += list((template.get("Globals") or {}).values())
    for props in sections:
        if not isinstance(props, dict):
            continue
        for key in _LOCAL_URI_KEYS:
            value = props.get(key)
            if isinstance(value, str) and not value.startswith("s3://"):
                props[key] = f"s3://{PLACEHOLDER_BUCKET}/{key}/{value.strip('/') or 'root'}"
    return template


def origin(translated_id: str, sam_ids: set[str]) -> str | None:
    """The SAM resource a generated one came from: the longest SAM logical id it starts with."""
    candidates = [sam_id for sam_id in sam_ids if translated_id.startswith(sam_id)]
    return max(candidates, key=len, default=None)


def main(argv: list[str] | None = None) -> int:
    """`python -m paycli.lint.translate TEMPLATE [REGION]`: the translation as JSON on stdout
    (CI lints it with plain cfn-lint, which then applies every rule to what AWS would get)."""
    from samtranslator.yaml_helper import yaml_parse  # noqa: PLC0415 - only for this entry point

    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m paycli.lint.translate TEMPLATE [REGION]", file=sys.stderr)
        return 2
    template = yaml_parse(Path(args[0]).read_text(encoding="utf-8"))
    try:
        translated = translate(template, region=args[1] if len(args) > 1 else "us-east-1")
    except TranslationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(translated, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
