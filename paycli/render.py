"""The one module that imports rich: tables and panels for people, JSON for scripts.

Data goes to stdout (a table, or JSON with --json); spinners, progress bars, notes and warnings
go to stderr, so `paycli ... --json | jq` always works. Renderers take the same plain `view()`
dicts that --json prints, so the two outputs cannot drift apart. CLI modules import this inside
their commands: rich costs ~45 ms of start-up that `--help` should not pay.
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
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
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


def _cell(value: Any) -> str:
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


class Renderer:
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
            return _cell(stamp)
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
            self.out.print(human(data), crop=False)

    def json_line(self, data: Any, *, indent: int | None = None) -> None:
        """`data` as JSON on the output console's file (stdout unless a test injected another
        console): one object per line for streams (`--follow`), indented for `emit`."""
        stream = self.out.file
        stream.write(json.dumps(data, indent=indent, default=str) + "\n")
        stream.flush()

    def note(self, text: str) -> None:
        """A remark for people, on stderr (never mixed into data)."""
        self.err.print(text, highlight=False)

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
                line = f"{when}  {view['name']}  {view['status']}  {_cell(view.get('error'))}"
            self.out.file.write(line + "\n")
        self.out.file.flush()

    # ------------------------------------------------------------------ payments
    def payment_panel(self, view: Mapping[str, Any]) -> RenderableType:
        """One payment as a panel."""
        table = Table.grid(padding=(0, 2))
        table.add_row("payment", str(view.get("payment_id")))
        table.add_row("status", status_text(view.get("status")))
        if view.get("reason"):
            table.add_row("reason", str(view["reason"]))
        table.add_row("amount", money(view.get("amount_minor"), view.get("currency")))
        table.add_row("method", _method_text(view))
        table.add_row("account", _cell(view.get("account_id")))
        table.add_row("created", _cell(view.get("created_at")))
        if view.get("idempotency_key"):
            table.add_row("idempotency key", str(view["idempotency_key"]))
        if view.get("error"):
            table.add_row("error", str(view["error"]))
        return Panel(table, title=self.title("Payment"), expand=False)

    def payments_table(self, views: Sequence[Mapping[str, Any]]) -> RenderableType:
        """Payments, one row each."""
        columns = [
            Col("payment", whole=True),
            Col("status", whole=True),
            Col("amount", whole=True, justify="right"),
            Col("method", drop=1),
            Col("account", whole=True, drop=4),
            Col("reason", drop=3),
            self.time_col("created", drop=2),
        ]
        rows: list[list[Cell]] = [
            [
                str(view["payment_id"]),
                status_text(view.get("status")),
                money(view.get("amount_minor"), view.get("currency")),
                _method_text(view),
                _cell(view.get("account_id")),
                _cell(view.get("reason")),
                self.time(view.get("created_at")),
            ]
            for view in views
        ]
        return self.fit_table(self.title(f"Payments ({len(views)})"), columns, rows)

    # ------------------------------------------------------------------ accounts
    def accounts_table(self, views: Sequence[Mapping[str, Any]]) -> RenderableType:
        """Accounts and balances."""
        columns = [
            Col("account", whole=True),
            Col("balance", whole=True, justify="right"),
            self.time_col("created", drop=1),
        ]
        rows = [
            [
                str(view["account_id"]),
                money(view.get("balance_minor"), view.get("currency")),
                self.time(view.get("created_at")),
            ]
            for view in views
        ]
        return self.fit_table(self.title(f"Accounts ({len(views)})"), columns, rows)

    def account_panel(self, view: Mapping[str, Any]) -> RenderableType:
        """One account."""
        return self.accounts_table([view])

    # ------------------------------------------------------------------ DLQ
    def dlq_stats_table(self, view: Mapping[str, Any]) -> RenderableType:
        """Queue and DLQ depths."""
        table = Table(title=self.title("Queues"))
        table.add_column("queue")
        table.add_column("visible", justify="right")
        table.add_column("in flight", justify="right")
        table.add_row("payments", str(view["queue_messages"]), str(view["queue_in_flight"]))
        dlq_style = "red" if view["dlq_messages"] else ""
        table.add_row(
            Text("dead-letter", style=dlq_style),
            Text(str(view["dlq_messages"]), style=dlq_style),
            str(view["dlq_in_flight"]),
        )
        return table

    def dlq_messages_table(self, views: Sequence[Mapping[str, Any]]) -> RenderableType:
        """DLQ messages seen by peek."""
        columns = [
            Col("payment", whole=True),
            Col("error", drop=3),
            self.time_col("sent", drop=2),
            Col("receives", drop=1, justify="right"),
        ]
        rows = [
            [
                _cell(view.get("payment_id")),
                _cell(view.get("error")),
                self.time(view.get("sent_at")),
                _cell(view.get("receive_count")),
            ]
            for view in views
        ]
        return self.fit_table(
            self.title(f"Dead-letter messages ({len(views)}, left in place)"),
            columns,
            rows,
            caption="receives counts this look too: SQS counts every receive",
        )

    def redrive_text(self, view: Mapping[str, Any]) -> RenderableType:
        """What a DLQ redrive did, and where."""
        where = f" on {self.where}" if self.where else ""
        if view["dry_run"]:
            return Text(
                f"Would move {view['candidates']} message(s) back{where} ({view['method']})."
            )
        failed = f", {view['failed']} failed (left in the DLQ)" if view["failed"] else ""
        return Text(
            f"Moved {view['moved']} of {view['candidates']} message(s) back to the payment "
            f"queue{where} with {view['method']}{failed}."
        )

    def reconcile_text(self, view: Mapping[str, Any]) -> RenderableType:
        """What a reconcile run found and re-enqueued, with the payment ids."""
        where = f" on {self.where}" if self.where else ""
        found = f"{view['scanned']} stale payment(s) older than {view['older_than_seconds']} s"
        if view["dry_run"]:
            text = Text(f"Found {found}{where}; nothing sent (dry run).")
        else:
            text = Text(f"Re-enqueued {view['requeued']} of {found}{where}.")
        for payment in view["payments"]:
            row = f"{payment['payment_id']}  {payment['status']}  {payment['created_at']}"
            text.append(f"\n  {row}")
        return text

    def purged_text(self, view: Mapping[str, Any]) -> RenderableType:
        """What a purge removed, and where."""
        where = f" on {self.where}" if self.where else ""
        return Text(f"Purged {view['purged']} message(s) from the dead-letter queue{where}.")

    # ------------------------------------------------------------------ executions
    def executions_table(self, views: Sequence[Mapping[str, Any]]) -> RenderableType:
        """Executions, newest first."""
        columns = [
            Col("name", whole=True),
            Col("status", whole=True),
            self.time_col("started", drop=2),
            self.time_col("stopped", drop=1),
        ]
        rows: list[list[Cell]] = [
            [
                str(view["name"]),
                status_text(view.get("status")),
                self.time(view.get("start_date")),
                self.time(view.get("stop_date")),
            ]
            for view in views
        ]
        return self.fit_table(self.title(f"Executions ({len(views)})"), columns, rows)

    def execution_detail(self, view: Mapping[str, Any]) -> RenderableType:
        """The timeline of one execution; the failing state in red with error and cause."""
        table = Table(
            title=self.title(f"Execution {view['name']}"),
            caption=_execution_caption(view),
        )
        for column in ("state", "type", f"entered ({self.zone})", "attempts", "result"):
            table.add_column(column, overflow="fold")
        for step in view["steps"]:
            failing = step["state"] == view.get("failed_state")
            result = Text(f"{step['error']}" if step["failed"] else "ok")
            if step["failed"]:
                result.stylize("red")
            table.add_row(
                Text(step["state"], style="bold red" if failing else ""),
                step["type"],
                self.time(step["entered"]),
                _cell(step["attempts"] or ""),
                result,
            )
        if not view.get("failed_state"):
            return table
        summary = Text.assemble(
            ("Failed in ", "red"),
            (str(view["failed_state"]), "bold red"),
            f": {view.get('error') or '-'}\n",
            _cause_text(view.get("cause")),
        )
        return Group(table, summary)

    def redrive_results_table(self, views: Sequence[Mapping[str, Any]]) -> RenderableType:
        """Executions redriven and how."""
        columns = [Col("execution", whole=True), Col("method", drop=1)]
        columns.append(Col("now running as", whole=True))
        rows = [
            [
                view["execution_arn"].rsplit(":", 1)[-1],
                view["method"],
                view["new_execution_arn"].rsplit(":", 1)[-1]
                if view["new_execution_arn"]
                else f"- ({view.get('reason')})",
            ]
            for view in views
        ]
        return self.fit_table(self.title(f"Redriven executions ({len(views)})"), columns, rows)

    # ------------------------------------------------------------------ stack
    def outputs_table(self, outputs: Mapping[str, str]) -> RenderableType:
        """Stack outputs, as CloudFormation lists them."""
        rows = [[key, value] for key, value in outputs.items()]
        columns = [Col("output", whole=True), Col("value", whole=True)]
        return self.fit_table(self.title("Stack outputs"), columns, rows)

    def status_view(self, view: Mapping[str, Any]) -> RenderableType:
        """Outputs, queue depths and execution counts."""
        counts = Table(title=self.title("Pipeline"))
        counts.add_column("what")
        counts.add_column("count", justify="right")
        capped = "+" if view.get("counts_capped") else ""
        counts.add_row("queued payments", str(view["queue_messages"]))
        counts.add_row("dead-letter messages", str(view["dlq_messages"]))
        counts.add_row("executions running", f"{view['executions_running']}{capped}")
        counts.add_row("executions failed", f"{view['executions_failed']}{capped}")
        return Group(self.outputs_table(view["outputs"]), counts)

    def logs_table(self, views: Sequence[Mapping[str, Any]]) -> RenderableType:
        """Log lines, oldest first."""
        columns = [
            self.time_col("time", drop=3),
            Col("function", drop=1),
            Col("payment", whole=True, drop=2),
            Col("message", wrap=True, shortest=24),
        ]
        rows = [
            [
                self.time(view.get("timestamp")),
                _cell(view.get("function")),
                _cell(view.get("payment_id")),
                str(view["message"]),
            ]
            for view in views
        ]
        return self.fit_table(self.title(f"Logs ({len(views)})"), columns, rows)

    def key_values(self, title: str, data: Mapping[str, Any]) -> RenderableType:
        """A small two-column table (demo summary, deploy results)."""
        rows = [[str(key), _cell(value)] for key, value in data.items()]
        columns = [Col("key", whole=True), Col("value", whole=True)]
        return self.fit_table(self.title(title), columns, rows, show_header=False)

    def checks_table(self, view: Mapping[str, Any]) -> RenderableType:
        """`paycli local doctor`: one row per check, then the verdict (Text: details quote
        code, which may contain square brackets)."""
        table = Table(title=self.title("Local stack doctor"))
        table.add_column("check", no_wrap=True)
        table.add_column("ok", no_wrap=True)
        table.add_column("detail", overflow="fold")
        for check in view["checks"]:
            mark = Text("ok", style="green") if check["ok"] else Text("FAILED", style="red")
            table.add_row(Text(str(check["name"])), mark, Text(str(check["detail"])))
        failed = sum(not check["ok"] for check in view["checks"])
        verdict = Text("OK" if not failed else f"FAILED: {failed} check(s)")
        verdict.stylize("green" if not failed else "red")
        return Group(table, verdict)

    def rehearsal_view(self, view: Mapping[str, Any]) -> RenderableType:
        """`deploy --dry-run`: one row per check, then the sam command on one uncut line."""
        table = Table(title=self.title(f"Deploy dry run ({view['region']})"), show_header=False)
        table.add_column("check", no_wrap=True)
        table.add_column("result", no_wrap=True)
        table.add_column("detail", overflow="fold")
        for step in view["steps"]:
            ok = bool(step["ok"])
            result = Text("ok" if ok else "FAILED", style="green" if ok else "red")
            table.add_row(str(step["name"]), result, Text(str(step["detail"])))
        verdict = "would run:" if view["ok"] else "FAILED; the command it would run:"
        return Group(table, Text(verdict, style="green" if view["ok"] else "red"))

    def emit_rehearsal(self, view: Mapping[str, Any]) -> None:
        """The dry run's checks, then its command as one line that is never folded or cut."""
        self.emit(view, self.rehearsal_view)
        if not self.json_output:
            self.out.print(Text(str(view["command_line"])), soft_wrap=True)

    # ------------------------------------------------------------------ cost
    def cost_view(self, view: Mapping[str, Any]) -> RenderableType:
        """`paycli cost`: the bill as a table, the Express alternative and the capacity model."""
        bill = Table(
            title=f"AWS cost, {view['payments_per_month']:,} payments/month "
            f"({view['profile']}, {view['prices']['region']} prices of {view['prices']['checked']})"
        )
        for column in ("component", "monthly USD", "per million USD", "usage"):
            bill.add_column(column, justify="right" if "USD" in column else "left")
        for part in view["components"]:
            bill.add_row(
                part["name"],
                f"{part['monthly_usd']:,.2f}",
                f"{part['per_million_usd']:,.2f}",
                part["usage"],
            )
        bill.add_row(
            "total",
            f"{view['monthly_usd']:,.2f}",
            f"{view['per_million_usd']:,.2f}",
            "",
            style="bold",
        )
        express = view["express"]
        lines = [
            f"Dominant: {view['dominant']}.",
            f"Express workflow: {express['monthly_usd']:,.2f} USD/month "
            f"({express['per_million_usd']:,.2f} per million; dominant {express['dominant']}). "
            "An operator would lose: " + "; ".join(express["operator_loses"]) + ".",
        ]
        capacity = view["capacity"]
        limits = Table(title="What binds first (default quotas)")
        for column in ("limit", "binds at /s", "used", "design answer"):
            limits.add_column(column, overflow="fold")
        for limit in capacity["limits"]:
            binds = "-" if limit["binds_at_per_s"] is None else f"{limit['binds_at_per_s']:,.0f}"
            used = "-" if limit["utilisation"] is None else f"{limit['utilisation']:.0%}"
            limits.add_row(limit["name"], binds, used, limit["answer"])
        return Group(bill, *lines, limits)

    # ------------------------------------------------------------------ audit
    def audit_text(self, view: Mapping[str, Any]) -> RenderableType:
        """`paycli audit`: what was read, the Scans it took, then one line per violation (Text,
        not markup: messages quote ids and keys)."""
        ok = bool(view["ok"])
        lines = [
            Text(
                f"Read {view['accounts']} account(s), {view['payments']} payment(s), "
                f"{view['ledger_entries']} ledger entries, {view['dlq_messages']} DLQ message(s), "
                f"{view['running_executions']} running execution(s)."
            )
        ]
        lines += [Text(str(scan), style="dim") for scan in view["scans"]]
        lines += [Text(f"Note: {note}", style="yellow") for note in view["notes"]]
        for v in view["violations"]:
            line = Text(str(v["kind"]), style="red")
            line.append(f" {v['subject']}: {v['message']}")
            lines.append(line)
        verdict = len(view["violations"])
        lines.append(
            Text("OK: no violation", style="green")
            if ok
            else Text(f"FAILED: {verdict} violation(s)", style="red")
        )
        return Group(*lines)

    # ------------------------------------------------------------------ faults
    def faults_text(self, view: Mapping[str, Any]) -> RenderableType:
        """`paycli local faults ...`: the plan in force (or none) and the counts by kind."""
        plan = view.get("plan")
        head = (
            Text(f"Fault plan {plan['name']} (seed {plan['seed']}); fired since it was set:")
            if plan
            else Text("No fault plan in force; fired since the last `set`:")
        )
        table = Table(title="Faults", show_header=True)
        for column in ("kind", "rate", "fired"):
            table.add_column(column, no_wrap=True)
        kinds = sorted(set((plan or {}).get("faults", {})) | set(view.get("fired", {})))
        for kind in kinds:
            spec = (plan or {}).get("faults", {}).get(kind)
            rate = f"{spec['rate']:g}" if spec else "-"
            table.add_row(kind, rate, str(view.get("fired", {}).get(kind, 0)))
        return Group(head, table) if kinds else Text("No fault plan in force; none fired.")

    # ------------------------------------------------------------------ validate
    def findings_table(self, view: Mapping[str, Any]) -> RenderableType:
        """`paycli validate`: one row per finding, then the verdict. Cells are Text, not markup:
        messages quote template text, which may contain square brackets."""
        ok = bool(view["ok"])
        verdict = Text("OK" if ok else "FAILED", style="green" if ok else "red")
        verdict.append(f": {view['errors']} error(s), {view['warnings']} warning(s)")
        verdict.append(f" in {view['stack_dir']}", style="dim")
        if not view["findings"]:
            return verdict
        table = Table(title="Validation findings")
        for column in ("severity", "code", "source", "location"):
            table.add_column(column, no_wrap=column != "location", overflow="fold")
        table.add_column("message", overflow="fold")
        styles = {"error": "red", "warning": "yellow"}
        for finding in view["findings"]:
            severity = str(finding["severity"])
            table.add_row(
                Text(severity, style=styles.get(severity, "")),
                *(Text(str(finding[key])) for key in ("code", "source", "location", "message")),
            )
        return Group(table, verdict)

    # ------------------------------------------------------------------ iam
    def policy_table(
        self, title: str, document: Mapping[str, Any], reasons: Sequence[str]
    ) -> RenderableType:
        """`paycli iam policy`: one row per statement, with the commands that need it (the
        document itself, ready to paste, is what --json prints)."""
        table = Table(title=title)
        table.add_column("statement", no_wrap=True)
        table.add_column("needed by", overflow="fold")
        table.add_column("actions", overflow="fold")
        table.add_column("resources", overflow="fold")
        for statement, reason in zip(document["Statement"], reasons, strict=True):
            table.add_row(
                Text(str(statement["Sid"])),
                Text(reason),
                Text("\n".join(statement["Action"])),
                Text("\n".join(statement["Resource"])),
            )
        return table


def _execution_caption(view: Mapping[str, Any]) -> str:
    """The execution's status, and the payment's own status as read (never the execution's)."""
    payment_id = view.get("payment_id")
    if not payment_id:
        payment = "no payment id in its input"
    elif view.get("payment_status"):
        payment = f"payment {payment_id} is {view['payment_status']}"
    else:
        payment = f"payment {payment_id} does not exist"
    return f"execution {view['status']}; {payment}"


def _cause_text(cause: Any) -> str:
    """A Lambda error's cause is JSON with a stack trace: people need its errorMessage."""
    text = str(cause or "")
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    if isinstance(parsed, dict) and parsed.get("errorMessage"):
        return str(parsed["errorMessage"])
    return text


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
    return value.cell_len if isinstance(value, Text) else cell_len(value)


def _fit_widths(columns: Sequence[Col], natural: Sequence[int], room: int) -> list[int | None]:
    """Each column's content width, None for a dropped one (see Renderer.fit_table)."""
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


def _method_text(view: Mapping[str, Any]) -> str:
    """ "card visa ****4242", "bank DE ****3000", "wallet wal_..."."""
    method = str(view.get("method") or "-")
    details = view.get(method) or {}
    if method == "card" and details.get("last4"):
        return f"{details.get('brand') or 'card'} ****{details['last4']}"
    if method == "bank" and details.get("last4"):
        return f"bank {details.get('country') or ''} ****{details['last4']}"
    if method == "wallet" and details.get("wallet_id"):
        return f"wallet {details['wallet_id']}"
    return method
