"""The one package that imports rich: tables and panels for people, JSON for scripts.

Data goes to stdout (a table, or JSON with --json); spinners, progress bars, notes and warnings
go to stderr, so `paycli ... --json | jq` always works. Renderers take the same plain `view()`
dicts that --json prints, so the two outputs cannot drift apart. CLI modules import this inside
their commands: rich costs ~45 ms of start-up that `--help` should not pay.

`core.py` prints (consoles, JSON, streams, progress, tables that fit the terminal); the views
of each noun live beside it and `Renderer` joins them.
"""

from __future__ import annotations

from paycli.render.core import STATUS_STYLES, BaseRenderer, Col, money, status_text
from paycli.render.operations import OperationViews
from paycli.render.payments import PaymentViews

__all__ = ["STATUS_STYLES", "BaseRenderer", "Col", "Renderer", "money", "status_text"]


class Renderer(PaymentViews, OperationViews):
    """Prints one command's result for people or for machines, and its progress on stderr."""
