"""What the benchmarks that start the real daemon share: a PAYCLI_HOME of their own, the daemon
started and stopped as `paycli local up`/`down` do with stack/template.yaml deployed, and the
one JSON line of figures they print; and the load driver's flags, which the in-process
throughput.py takes too."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paycli.core.load import LoadPlan
    from paycli.core.services import Services

TEMPLATE = Path(__file__).resolve().parents[1] / "stack" / "template.yaml"


@contextmanager
def deployed_stack(*, time_scale: float = 1.0) -> Iterator[Services]:
    """A daemon with the stack deployed (stopped on exit), and the services that reach it."""
    from paycli.core.context import AppContext  # noqa: PLC0415 - after PAYCLI_HOME is set
    from paycli.core.settings import resolve_settings  # noqa: PLC0415
    from paycli.local import control  # noqa: PLC0415

    control.up(time_scale=time_scale)
    try:
        control.deploy(TEMPLATE)
        yield AppContext(resolve_settings(flags={"target": "local"})).services()
    finally:
        control.down()


def add_load_options(
    parser: argparse.ArgumentParser,
    *,
    n: int,
    clients: int = 8,
    rate: float = 0.0,
    accounts: int = 50,
) -> None:
    """The load driver's flags (what `load_plan` reads), with this benchmark's defaults."""
    parser.add_argument("--n", type=int, default=n, help=f"payments to send (default {n})")
    parser.add_argument(
        "--clients", type=int, default=clients, help=f"client threads (default {clients})"
    )
    parser.add_argument(
        "--rate", type=float, default=rate, help=f"offered/s; 0 = flat out (default {rate:g})"
    )
    parser.add_argument(
        "--accounts", type=int, default=accounts, help=f"accounts paid from (default {accounts})"
    )
    parser.add_argument("--mix", default="card=1", help="method weights (default card=1)")


def load_plan(args: argparse.Namespace, *, timeout: float) -> LoadPlan:
    """The LoadPlan those flags describe."""
    from paycli.core.load import LoadPlan, parse_weights  # noqa: PLC0415 - after PAYCLI_HOME

    return LoadPlan(
        count=args.n,
        concurrency=args.clients,
        rate=args.rate,
        accounts=args.accounts,
        mix=parse_weights(args.mix, "mix"),
        timeout=timeout,
    )


def load_average_1m() -> float:
    """The machine's 1-minute load average: figures from a busy machine say so."""
    return round(os.getloadavg()[0], 2)


def print_figures(
    parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], dict[str, Any]]
) -> None:
    """Parse the arguments, `run` them in a fresh PAYCLI_HOME, print the figures as JSON."""
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="paycli-bench-") as home:
        os.environ["PAYCLI_HOME"] = home
        print(json.dumps(run(args)))
