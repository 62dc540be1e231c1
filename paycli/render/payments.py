"""Views of the payment pipeline's nouns: payments, accounts, the DLQ and executions."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from paycli.render.core import BaseRenderer, Cell, Col, cell, money, status_text


class PaymentViews(BaseRenderer):
    """Tables, panels and lines for payments, accounts, the DLQ and executions."""

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
        table.add_row("account", cell(view.get("account_id")))
        table.add_row("created", cell(view.get("created_at")))
        if view.get("idempotency_key"):
            table.add_row("idempotency key", str(view["idempotency_key"]))
        if view.get("error"):
            table.add_row("error", str(view["error"]))
        if view.get("cause"):
            table.add_row("cause", str(view["cause"]))
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
                cell(view.get("account_id")),
                cell(view.get("reason")),
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
                cell(view.get("payment_id")),
                cell(view.get("error")),
                self.time(view.get("sent_at")),
                cell(view.get("receive_count")),
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
        columns = [  # state and error names are what people search for: never folded
            Col("state", whole=True),
            Col("type", drop=1),
            self.time_col("entered", drop=3),
            Col("attempts", drop=2),
            Col("result", whole=True),
        ]
        rows: list[list[Cell]] = []
        for step in view["steps"]:
            failing = step["state"] == view.get("failed_state")
            result = Text(f"{step['error']}" if step["failed"] else "ok")
            if step["failed"]:
                result.stylize("red")
            rows.append([
                Text(step["state"], style="bold red" if failing else ""),
                step["type"],
                self.time(step["entered"]),
                cell(step["attempts"] or ""),
                result,
            ])  # fmt: skip
        table = self.fit_table(
            self.title(f"Execution {view['name']}"),
            columns,
            rows,
            caption=_execution_caption(view),
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
