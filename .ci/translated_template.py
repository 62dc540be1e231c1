"""Print the template as `sam deploy` would submit it (the offline translation), for checkov.

checkov reads skips from each resource's Metadata. SAM copies a function's Metadata onto the
Lambda function it generates, but not an Api's onto the Stage it generates, so a generated
resource without Metadata inherits the checkov skips of the SAM resource it came from (the
longest SAM logical id its own id starts with). Usage: python .ci/translated_template.py OUT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from paycli.lint.cfn import load_template, translate_template

STACK = Path(__file__).resolve().parents[1] / "stack"


def main(out: Path) -> int:
    sam, findings = load_template((STACK / "template.yaml").read_text(encoding="utf-8"))
    translated, more = translate_template(sam) if sam else (None, [])
    if sam is None or translated is None:
        sys.stderr.write(f"the template does not translate: {findings + more}\n")
        return 1
    skips = {
        logical_id: resource["Metadata"]["checkov"]
        for logical_id, resource in sam["Resources"].items()
        if "checkov" in (resource.get("Metadata") or {})
    }
    for logical_id, resource in translated["Resources"].items():
        origins = [sam_id for sam_id in skips if logical_id.startswith(sam_id)]
        if origins and "Metadata" not in resource:
            resource["Metadata"] = {"checkov": skips[max(origins, key=len)]}
    out.write_text(json.dumps(translated, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
