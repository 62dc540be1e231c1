"""The one module that imports rich: tables and panels for people, JSON for scripts.

Data goes to stdout (a table, or JSON with --json); spinners, progress bars, notes and warnings
go to stderr, so `paycli ... --json | jq` always works. Renderers take the same plain `view()`
dicts that --json prints, so the two outputs cannot drift apart. CLI modules import this inside
their commands: rich costs ~45 ms of start-up that `--help` should not pay.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from paystack.domain.money import format_amount
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


class Renderer:
    """Prints one command's result for people or for machines, and its progress on stderr."""

    def __init__(
        self,
        *,
        json_output: bool = False,
        where: str = "",
        out: Console | None = None,
        err: Console | None = None,
    ) -> None:
        """`where` names the target in human output ("local stack", "AWS stack ...")."""
        self.json_output = json_output
        self.where = where
        self.out = out or Console(highlight=False)
        self.err = err or Console(stderr=True, highlight=False)

    # ------------------------------------------------------------------ plumbing
    def emit(self, data: Any, human: Callable[[Any], RenderableType]) -> None:
        """JSON on stdout with --json, else the human rendering of the same data."""
        if self.json_output:
            sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
            sys.stdout.flush()
        else:
            self.out.print(human(data))

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
    def live(self) -> Iterator[Callable[[RenderableType], None]]:
        """A display that updates in place (on stdout: it is the data), or plain prints."""
        if self.json_output or not self.out.is_terminal:
            yield lambda renderable: None
            return
        with Live(console=self.out, refresh_per_second=4) as live:
            yield live.update

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
        table = Table(title=self.title(f"Payments ({len(views)})"))
        table.add_column("payment", overflow="fold")
        table.add_column("status", no_wrap=True)
        table.add_column("amount", justify="right", no_wrap=True)
        for column in ("method", "account", "reason", "created"):
            table.add_column(column, overflow="fold")
        for view in views:
            table.add_row(
                str(view["payment_id"]),
                status_text(view.get("status")),
                money(view.get("amount_minor"), view.get("currency")),
                _method_text(view),
                _cell(view.get("account_id")),
                _cell(view.get("reason")),
                _short_time(view.get("created_at")),
            )
        return table

    # ------------------------------------------------------------------ accounts
    def accounts_table(self, views: Sequence[Mapping[str, Any]]) -> RenderableType:
        """Accounts and balances."""
        table = Table(title=self.title(f"Accounts ({len(views)})"))
        table.add_column("account")
        table.add_column("balance", justify="right")
        table.add_column("created")
        for view in views:
            table.add_row(
                str(view["account_id"]),
                money(view.get("balance_minor"), view.get("currency")),
                _cell(view.get("created_at")),
            )
        return table

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
        table = Table(title=self.title(f"Dead-letter messages ({len(views)}, left in place)"))
        table.add_column("payment", overflow="fold")
        table.add_column("error", overflow="fold")
        table.add_column("sent", overflow="fold")
        table.add_column("receives", justify="right")
        for view in views:
            table.add_row(
                _cell(view.get("payment_id")),
                _cell(view.get("error")),
                _short_time(view.get("sent_at")),
                _cell(view.get("receive_count")),
            )
        return table

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
        table = Table(title=self.title(f"Executions ({len(views)})"))
        table.add_column("name", overflow="fold")
        table.add_column("status", no_wrap=True)
        table.add_column("started", overflow="fold")
        table.add_column("stopped", overflow="fold")
        table.add_column("error", overflow="fold")
        for view in views:
            table.add_row(
                str(view["name"]),
                status_text(view.get("status")),
                _short_time(view.get("start_date")),
                _short_time(view.get("stop_date")),
                _cell(view.get("error")),
            )
        return table

    def execution_detail(self, view: Mapping[str, Any]) -> RenderableType:
        """The timeline of one execution; the failing state in red with error and cause."""
        table = Table(
            title=self.title(f"Execution {view['name']}"),
            caption=_execution_caption(view),
        )
        for column in ("state", "type", "entered", "attempts", "result"):
            table.add_column(column, overflow="fold")
        for step in view["steps"]:
            failing = step["state"] == view.get("failed_state")
            result = Text(f"{step['error']}" if step["failed"] else "ok")
            if step["failed"]:
                result.stylize("red")
            table.add_row(
                Text(step["state"], style="bold red" if failing else ""),
                step["type"],
                _short_time(step["entered"]),
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
        table = Table(title=self.title(f"Redriven executions ({len(views)})"))
        table.add_column("execution")
        table.add_column("method")
        table.add_column("now running as")
        for view in views:
            new_arn = view["new_execution_arn"]
            table.add_row(
                view["execution_arn"].rsplit(":", 1)[-1],
                view["method"],
                new_arn.rsplit(":", 1)[-1] if new_arn else f"- ({view.get('reason')})",
            )
        return table

    # ------------------------------------------------------------------ stack
    def outputs_table(self, outputs: Mapping[str, str]) -> RenderableType:
        """Stack outputs, as CloudFormation lists them."""
        table = Table(title=self.title("Stack outputs"))
        table.add_column("output")
        table.add_column("value", overflow="fold")
        for key, value in outputs.items():
            table.add_row(key, value)
        return table

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
        grid = Table.grid()
        grid.add_row(self.outputs_table(view["outputs"]))
        grid.add_row(counts)
        return grid

    def logs_table(self, views: Sequence[Mapping[str, Any]]) -> RenderableType:
        """Log lines, oldest first."""
        table = Table(title=self.title(f"Logs ({len(views)})"), show_lines=False)
        table.add_column("time", no_wrap=True)
        table.add_column("function")
        table.add_column("message", overflow="fold")
        for view in views:
            table.add_row(
                _cell(view.get("timestamp")), _cell(view.get("function")), view["message"]
            )
        return table

    def key_values(self, title: str, data: Mapping[str, Any]) -> RenderableType:
        """A small two-column table (demo summary, deploy results)."""
        table = Table(title=self.title(title), show_header=False)
        table.add_column("key")
        table.add_column("value", overflow="fold")
        for key, value in data.items():
            table.add_row(str(key), _cell(value))
        return table

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


def _short_time(stamp: Any) -> str:
    """ "2026-11-26T17:19:59.975Z" -> "11-26 17:19:59": the part a list needs, in fewer columns."""
    text = str(stamp or "")
    return f"{text[5:10]} {text[11:19]}" if len(text) >= 19 else _cell(stamp)


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
