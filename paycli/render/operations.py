"""Views of the stack and the operator's tools: outputs, status, logs, doctor, deploy dry run,
cost, audit, faults, validate and IAM."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from paycli.render.core import BaseRenderer, Col, cell


class OperationViews(BaseRenderer):
    """Tables and lines for the stack and the operator's commands."""

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
                cell(view.get("function")),
                cell(view.get("payment_id")),
                str(view["message"]),
            ]
            for view in views
        ]
        return self.fit_table(self.title(f"Logs ({len(views)})"), columns, rows)

    def key_values(self, title: str, data: Mapping[str, Any]) -> RenderableType:
        """A small two-column table (demo summary, deploy results)."""
        rows = [[str(key), cell(value)] for key, value in data.items()]
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
        rows = [
            (
                part["name"],
                f"{part['monthly_usd']:,.2f}",
                f"{part['per_million_usd']:,.2f}",
                part["usage"],
            )
            for part in view["components"]
        ]
        total = ("total", f"{view['monthly_usd']:,.2f}", f"{view['per_million_usd']:,.2f}", "")
        for index, column in enumerate(("component", "monthly USD", "per million USD", "usage")):
            cells = [row[index] for row in (*rows, total)]
            if "USD" in column:  # amounts are read whole: never cut to "349,999,…"
                bill.add_column(column, justify="right", no_wrap=True, min_width=_widest(cells))
            else:  # free text wraps between words, a word is never cut or folded
                bill.add_column(column, min_width=_longest_word(cells))
        for row in rows:
            bill.add_row(*row)
        bill.add_row(*total, style="bold")
        express = view["express"]
        lines = [
            f"Dominant: {view['dominant']}.",
            f"Express workflow: {express['monthly_usd']:,.2f} USD/month "
            f"({express['per_million_usd']:,.2f} per million; dominant {express['dominant']}). "
            "An operator would lose: " + "; ".join(express["operator_loses"]) + ".",
        ]
        capacity = view["capacity"]
        limits = Table(title="What binds first (default quotas)")
        quota_rows = [
            (
                limit["name"],
                "-" if limit["binds_at_per_s"] is None else f"{limit['binds_at_per_s']:,.0f}",
                "-" if limit["utilisation"] is None else f"{limit['utilisation']:.0%}",
                limit["answer"],
            )
            for limit in capacity["limits"]
        ]
        # Names in the answers (ThrottlingRateLimit, ReservedConcurrentExecutions) are copied
        # into templates: text wraps between words, never inside one (rich folded them).
        headers = ("limit", "binds at /s", "used", "design answer")
        columns = [[header, *(row[i] for row in quota_rows)] for i, header in enumerate(headers)]
        least = [_longest_word(cells) for cells in columns]
        natural = [_widest(cells) for cells in columns]
        room = self.out.width - (3 * len(headers) + 1) - natural[1] - natural[2]
        answer = max(least[3], min(natural[3], room - least[0]))
        name = max(least[0], min(natural[0], room - answer))
        widths = (name, natural[1], natural[2], answer)
        for header, width in zip(headers, widths, strict=True):
            limits.add_column(header, width=width)
        needed = sum(widths) + 3 * len(widths) + 1
        if needed > self.out.width:  # words alone are wider: overflow, never squeeze
            limits.width = needed
        for quota_row in quota_rows:
            limits.add_row(*quota_row)
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
        columns = [  # actions and ARNs are copied: whole, one per line, never folded
            Col("statement", whole=True),
            Col("needed by", wrap=True, shortest=16),  # --json (the document) lacks it
            Col("actions", whole=True),
            Col("resources", whole=True),
        ]
        rows = [
            [
                str(statement["Sid"]),
                reason,
                "\n".join(statement["Action"]),
                "\n".join(statement["Resource"]),
            ]
            for statement, reason in zip(document["Statement"], reasons, strict=True)
        ]
        return self.fit_table(title, columns, rows)


def _widest(cells: Sequence[str]) -> int:
    return max((cell_len(cell) for cell in cells), default=1)


def _longest_word(cells: Sequence[str]) -> int:
    return max((cell_len(word) for cell in cells for word in cell.split()), default=1)
