"""The verdict table on the terminal: each check, the request counts, each old pod's ordering figures.

Works from the report's JSON shape (CONTRACT.md), so a saved report.json prints the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["print_summary"]

_VERDICT_STYLE = {"pass": "bold green", "fail": "bold red", "inconclusive": "bold yellow"}


def _mark(passed: bool | None) -> str:
    return {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[yellow]inconclusive[/]"}[passed]


def _exit(pod: dict[str, Any]) -> str:
    code = "-" if pod.get("exitCode") is None else str(pod["exitCode"])
    return code if pod.get("gracefulExit") is not False else f"[red]{code} killed[/]"


def print_summary(report: dict[str, Any], report_dir: Path | None = None, *, console: Console | None = None) -> None:
    """Print the verdict, the checks, the requests and the old pods' ordering as tables."""
    console = console or Console()
    verdict = report["verdict"]
    console.print(
        f"[{_VERDICT_STYLE.get(verdict, 'bold')}]{report['drill']}: {verdict.upper()}[/]  "
        f"decision [bold]{report['decision']}[/] → {report['action']}"
    )
    checks = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    checks.add_column("check")
    checks.add_column("result")
    checks.add_column("summary", overflow="fold")
    for check in report["checks"]:
        checks.add_row(check["name"], _mark(check["passed"]), check["summary"])
    console.print(checks)
    r = report["requests"]
    classes = ", ".join(f"{k} {v}" for k, v in sorted(r.get("failuresByClass", {}).items())) or "none"
    p50 = "-" if r.get("p50Ms") is None else f"{r['p50Ms']:.1f} ms"
    p99 = "-" if r.get("p99Ms") is None else f"{r['p99Ms']:.1f} ms"
    console.print(
        f"requests in the window: {r['total']} total, {r['failed']} failed ({r['failureRatio']:.2%}; {classes}), "
        f"p50 {p50}, p99 {p99}, unattributed {r.get('unattributedFailures', 0)}, retried {r.get('retried', 0)}"
    )
    old = [p for p in report["pods"] if p["role"] == "old"]
    if old:
        pods = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for column in ("old pod", "served after leaving endpoints", "in order", "failures", "retries", "exit"):
            pods.add_column(column)
        for pod in old:
            serve = pod.get("serveAfterUnreadySeconds")
            pods.add_row(
                pod["name"],
                "-" if serve is None else f"{serve:.2f} s",
                {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[pod.get("orderingOk")],
                str(pod.get("failuresAttributed", 0)),
                str(pod.get("retries", 0)),
                _exit(pod),
            )
        console.print(pods)
    for note in report.get("notes") or []:
        console.print(f"[dim]note: {note}[/]")
    if report_dir is not None:
        console.print(f"[dim]report: {report_dir / 'report.json'}[/]")
