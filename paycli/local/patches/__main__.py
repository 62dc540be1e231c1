"""`python -m paycli.local.patches [--write]`: the fingerprints of every patch's targets now.

After re-verifying a patch against a new moto, botocore or typer (read the changed source!),
`--write` records the installed fingerprints in the patch modules, and the new versions go into
VERIFIED_WITH by hand. Without --write it lists what differs (as `paycli local doctor` does).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from paycli.local.patches import PATCHES, fingerprint

PACKAGE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    now = {target: fingerprint(target) for patch in PATCHES for target in patch.targets}
    stale = {
        target: value
        for patch in PATCHES
        for target, value in now.items()
        if target in patch.targets and patch.targets[target] != value
    }
    for target, value in sorted(stale.items()):
        print(f"{target}: {value}")
    if "--write" not in argv:
        return 1 if stale else 0
    for path in sorted(PACKAGE.glob("*.py")):
        text = path.read_text("utf-8")
        for target, value in now.items():
            text = _record(text, target, value)
        path.write_text(text, "utf-8")
    return 0


def _record(text: str, target: str, value: str) -> str:
    """Set the fingerprint after `"target": ` (or a target split over two string literals)."""
    module, _, qualname = target.partition(":")
    pieces = [
        re.escape(f'"{target}"'),
        re.escape(f'"{module}"') + r'\s*"' + re.escape(f':{qualname}"'),
    ]
    for piece in pieces:
        text = re.sub(f'({piece}: )"[^"]*"', rf'\1"{value}"', text)
    return text


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
