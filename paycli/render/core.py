"""The renderer's core: the two consoles, JSON, streams, progress, and tables that fit.

`BaseRenderer` owns how things are printed (data on stdout, progress and notes on stderr, JSON
with --json) and `fit_table`; the views of each noun (`payments.py`, `operations.py`) build on it
and `paycli.render.Renderer` joins them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from paystack.domain.money import format_amount
from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

STATUS_STYLES = {
    "SUCCEEDED": "green",
    "DECLINED": "yellow",
    "FAILED": "red",
    "TIMED_OUT": "red",
    "ABORTED": "red",
    "PENDING": "cyan",
    "PROCESSING": "cyan",
    "RUNNING": "cyan",
}


def money(amount_minor: int | None, currency: str | None) -> str:
    """Minor units as people read them ("12.50 USD"), via the domain's formatter."""
    if amount_minor is None or not currency:
        return "-"
    try:
        return format_amount(int(amount_minor), currency)
    except ValueError:  # an unknown currency code: show the raw minor units, never guess
        return f"{amount_minor} {currency} (minor units)"


def status_text(status: str | None) -> Text:
    """A status word in its colour."""
    value = status or "-"
    return Text(value, style=STATUS_STYLES.get(value, ""))


def cell(value: Any) -> str:
    """A table cell: "-" for a missing value."""
    return "-" if value in (None, "") else str(value)


Justify = Literal["left", "right"]
Cell = str | Text


@dataclass(frozen=True)
class Col:
    """A table column. `whole` columns (ids, statuses, amounts: what people read or copy) are
    never folded or cut, even when that makes a line wider than the terminal; the others are
    shortened with an ellipsis down to `shortest`. When the table is still too wide, columns
    with a `drop` rank are dropped, 1 first; drop 0 is never dropped."""

    name: str
    whole: bool = False
    drop: int = 0
    justify: Justify = "left"
    shortest: int = 8  # cells it may be shortened to (with an ellipsis) before it is dropped
    wrap: bool = False  # folded onto more lines instead of shortened (free text: messages)


#: Borders and padding of a rich Table with the default box: 3 cells per column plus 1.
_TABLE_FRAME_PER_COLUMN = 3


class BaseRenderer:
    """Prints one command's result for people or for machines, and its progress on stderr."""

    def __init__(
        self,
        *,
        json_output: bool = False,
        where: str = "",
        out: Console | None = None,
        err: Console | None = None,
        local_time: bool = False,
    ) -> None:
        """`where` names the target in human output ("local stack", "AWS stack ...");
        `local_time` shows table times in this machine's zone instead of UTC (JSON is UTC)."""
        self.json_output = json_output
        self.where = where
        self.out = out or Console(highlight=False)
        self.err = err or Console(stderr=True, highlight=False)
        self.local_time = local_time

    # ------------------------------------------------------------------ tables
    def fit_table(
        self, title: str, columns: Sequence[Col], rows: Sequence[Sequence[Cell]], **kw: Any
    ) -> Table:
        """A table that fits the output's width without folding what people copy.

        Columns that are not `whole` are shortened first; if the table is still wider than the
        console, they are dropped in `drop` order and the caption says which. Widths are set
        here, not left to rich, so a whole column is never squeezed.
        """
        natural = [
            max([cell_len(col.name), *(_cell_len(row[i]) for row in rows)])
            for i, col in enumerate(columns)
        ]
        width = _fit_widths(columns, natural, self.out.width)
        hidden = [col.name for col, w in zip(columns, width, strict=True) if w is None]
        if hidden:
            note = f"{', '.join(hidden)} hidden at {self.out.width} columns; --json has all"
            kw["caption"] = f"{kw['caption']}; {note}" if kw.get("caption") else note
        shown = [i for i, w in enumerate(width) if w is not None]
        needed = _table_width([width[i] or 0 for i in shown])
        if needed > self.out.width:  # whole columns alone are wider: overflow, never squeeze
            kw["width"] = needed
        table = Table(title=title, **kw)
        for i in shown:
            col = columns[i]
            overflow: Literal["fold", "ellipsis"] = "fold" if col.wrap else "ellipsis"
            table.add_column(
                col.name,
                justify=col.justify,
                no_wrap=not col.wrap,
                overflow=overflow,
                width=width[i],
            )
        for row in rows:
            table.add_row(*(row[i] for i in shown))
        return table

    def time(self, stamp: Any) -> str:
        """A timestamp for a table cell, in the table's one zone (see `zone`)."""
        instant = _parse_time(stamp)
        if instant is None:
            return cell(stamp)
        instant = instant.astimezone() if self.local_time else instant.astimezone(UTC)
        return instant.strftime("%Y-%m-%d %H:%M:%S")

    @property
    def zone(self) -> str:
        """The label of the tables' time zone: UTC, or the local zone's name."""
        return str(datetime.now().astimezone().tzname()) if self.local_time else "UTC"

    def time_col(self, name: str, drop: int = 0) -> Col:
        """A time column whose header names the zone (shown whole, or not at all)."""
        return Col(f"{name} ({self.zone})", drop=drop, shortest=19)

    # ------------------------------------------------------------------ plumbing
    def emit(self, data: Any, human: Callable[[Any], RenderableType]) -> None:
        """JSON on stdout with --json, else the human rendering of the same data."""
        if self.json_output:
            self.json_line(data, indent=2)
        else:  # never crop: a whole column (an id, a URL) may make a line wider than the console
            # Off a terminal a one-sentence result stays one line (`| grep moved` finds it);
            # tables and multi-part views fit the width as on a terminal.
            shown = human(data)
            sentence = isinstance(shown, str | Text) and "\n" not in str(shown)
            self.out.print(shown, crop=False, soft_wrap=sentence and not self.out.is_terminal)

    def json_line(self, data: Any, *, indent: int | None = None) -> None:
        """`data` as JSON on the output console's file (stdout unless a test injected another
        console): one object per line for streams (`--follow`), indented for `emit`."""
        stream = self.out.file
        stream.write(json.dumps(data, indent=indent, default=str) + "\n")
        stream.flush()

    def note(self, text: str) -> None:
        """A remark for people, on stderr (never mixed into data). Off a terminal (a log file,
        CI) it stays one line, so a grep for a sentence finds it."""
        self.err.print(text, highlight=False, soft_wrap=not self.err.is_terminal)

    def title(self, what: str) -> str:
        """A table title that names the target."""
        return f"{what} [dim]on {self.where}[/dim]" if self.where else what

    @contextmanager
    def spinner(self, text: str) -> Iterator[Callable[[str], None]]:
        """A spinner on stderr; yields a function that updates its text."""
        with self.err.status(text) as status:
            yield status.update

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[Callable[[int, int], None]]:
        """A progress bar on stderr; yields `update(done, total)`."""
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=self.err,
            transient=False,
        )
        with bar:
            task = bar.add_task(description, total=total)
            yield lambda done, new_total: bar.update(task, completed=done, total=new_total)

    @contextmanager
    def live(self) -> Iterator[Callable[[RenderableType], None] | None]:
        """A display that updates in place on a terminal (on stdout: it is the data); None
        with --json or off a terminal, where the caller streams lines instead (`stream`)."""
        if self.json_output or not self.out.is_terminal:
            yield None
            return
        with Live(console=self.out, refresh_per_second=4) as live:
            yield live.update

    def stream(self, views: Sequence[Mapping[str, Any]]) -> None:
        """Changes as they happen, one line each, flushed at once: a JSON object per line with
        --json, else `time  name  status  error` (time ISO 8601 UTC: a line is data)."""
        for view in views:
            if self.json_output:
                line = json.dumps(view, default=str)
            else:
                when = view.get("stop_date") or view.get("start_date") or "-"
                line = f"{when}  {view['name']}  {view['status']}  {cell(view.get('error'))}"
            self.out.file.write(line + "\n")
        self.out.file.flush()


def _parse_time(stamp: Any) -> datetime | None:
    """A view's timestamp (ISO 8601, `Z` or an offset) as an aware instant; None if not one."""
    if isinstance(stamp, datetime):
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    if not isinstance(stamp, str) or len(stamp) < 19:
        return None
    try:
        instant = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def _cell_len(value: Cell) -> int:
    """The cells of the widest line (a cell may hold one value per line)."""
    text = value.plain if isinstance(value, Text) else value
    return max(cell_len(line) for line in text.split("\n"))


def _fit_widths(columns: Sequence[Col], natural: Sequence[int], room: int) -> list[int | None]:
    """Each column's content width, None for a dropped one (see BaseRenderer.fit_table)."""
    least = [n if c.whole else min(n, c.shortest) for n, c in zip(natural, columns, strict=True)]
    shown = set(range(len(columns)))
    droppable = [i for i, c in enumerate(columns) if c.drop]
    for index in sorted(droppable, key=_drop_order(columns)):
        if _table_width([least[i] for i in shown]) <= room:
            break
        shown.discard(index)
    for index in sorted(set(droppable) - shown, key=_drop_order(columns), reverse=True):
        if _table_width([least[i] for i in shown | {index}]) <= room:  # room after a wide drop
            shown.add(index)
    width: list[int | None] = [least[i] if i in shown else None for i in range(len(columns))]
    spare = room - _table_width([least[i] for i in shown])
    # Give the spare cells back to shortened columns, the most important (last dropped) first.
    for index in sorted(shown, key=_drop_order(columns), reverse=True):
        grow = min(max(spare, 0), natural[index] - least[index])
        width[index] = least[index] + grow
        spare -= grow
    return width


def _drop_order(columns: Sequence[Col]) -> Callable[[int], int]:
    return lambda index: columns[index].drop


def _table_width(sizes: Sequence[int]) -> int:
    return sum(sizes) + _TABLE_FRAME_PER_COLUMN * len(sizes) + 1
