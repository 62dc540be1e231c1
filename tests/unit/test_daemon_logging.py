"""daemon.log carries the product's lines at the right level, not moto's dumps or botocore's
chatter (they also reached `paycli logs` as a function's lines)."""

from __future__ import annotations

import subprocess
import sys

DUMP = "x" * 5000
SCRIPT = f"""
import logging
from paycli.local.daemon import configure_logging
configure_logging()
logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").error(
    "Exception=FailureEventException, Error=PaymentFailed, Details={{}} at '(StateFail| {DUMP}"
)
logging.getLogger("botocore.credentials").info("Found credentials in environment variables.")
logging.getLogger("moto.stepfunctions.parser.x").error("Exception=RuntimeError real trouble")
"""


def test_an_expected_failed_payment_is_one_short_line_and_credentials_are_quiet() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    lines = proc.stderr.splitlines()
    assert len(lines) == 2, proc.stderr
    failed, other = lines
    assert " INFO " in failed
    assert failed.endswith(
        "execution ended in a Fail state: Exception=FailureEventException, Error=PaymentFailed, "
        "Details={}"
    )
    assert DUMP not in proc.stderr
    assert "Found credentials" not in proc.stderr
    assert " ERROR " in other  # a real error keeps its level and text
    assert other.endswith("real trouble")
