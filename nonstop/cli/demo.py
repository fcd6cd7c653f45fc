"""`nonstop demo`: the seed's experiment on the embedded sandbox, before and after its fixes, side by side."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["CASES", "DemoCase", "register"]


@dataclass(frozen=True)
class DemoCase:
    name: str
    title: str
    manifest: str
    drill: str
    expect: str

    def came_out(self, report: dict[str, Any]) -> bool:
        """Did the drill come out as the seed's experiment says it must?"""
        checks = {c["name"]: c["passed"] for c in report["checks"]}
        if self.expect == "pass":
            old = [p for p in report["pods"] if p["role"] == "old" and p["orderingOk"] is not None]
            return (
                report["verdict"] == "pass"
                and report["requests"]["failed"] == 0
                and all(p["orderingOk"] for p in old)
                and report["action"] == "promoted"
            )
        if self.expect == "fail-ordering":
            return bool(report["verdict"] == "fail" and checks.get("endpoint-ordering") is False)
        return bool(report["verdict"] == "fail" and report["requests"]["failed"] > 0)


CASES = (
    DemoCase("before", "seed's before: 1 replica, no probe, no graceful shutdown", "examples/before.yaml",
             "drills/demo-before.yaml", "fail-lost-requests"),
    DemoCase("graceful-only", "graceful shutdown alone, 1 s data-plane lag", "examples/graceful-only.yaml",
             "drills/demo-graceful-only.yaml", "fail-ordering"),
    DemoCase("after", "seed's fix + preStop sleep", "examples/after.yaml", "drills/demo-after.yaml", "pass"),
)  # fmt: skip


def register(app: typer.Typer) -> None:
    @app.command(name="demo")
    def demo_command(
        report_dir: Annotated[Path, typer.Option("--report-dir", help="Where each case's report goes.")] = Path(
            "nonstop-demo"
        ),
        control_plane: Annotated[
            str,
            typer.Option(
                "--control-plane",
                help="embedded (our Python cluster, the default) or real (kube-apiserver & co. with our node; root).",
            ),
        ] = "embedded",
    ) -> None:
        """Run the seed's experiment on the embedded sandbox: three configurations, the same rollout under load."""
        from nonstop.bundled import config_file
        from nonstop.cli.drill import check_control_plane, run_drill_command

        check_control_plane(control_plane, sandbox=True)
        console = Console()
        if not console.is_terminal:
            console = Console(width=120)  # a log or a pipe: wide enough for the table, never folded mid-word
        results: list[tuple[DemoCase, dict[str, Any], bool]] = []
        for number, case in enumerate(CASES, 1):
            console.rule(f"[bold]case {number} of {len(CASES)}: {case.title}")
            out = report_dir / case.name
            run_drill_command(
                config_file(case.drill), sandbox=True, apply=[config_file(case.manifest)], kubeconfig=None,
                context=None, report_dir=out, dry_run=False, control_plane=control_plane,
            )  # fmt: skip
            report = json.loads((out / "report.json").read_text())
            results.append((case, report, case.came_out(report)))
        table = Table(title="nonstop demo — the same rollout under load, three configurations", header_style="bold")
        for column in ("case", "verdict", "failed / total", "old pods in order", "failing check", "action", "expected"):
            table.add_column(column, overflow="fold")
        for case, report, ok in results:
            req = report["requests"]
            old = [p for p in report["pods"] if p["role"] == "old" and p["orderingOk"] is not None]
            failing = ", ".join(c["name"] for c in report["checks"] if c["passed"] is False) or "-"
            table.add_row(
                case.name,
                report["verdict"],
                f"{req['failed']} / {req['total']}",
                f"{sum(1 for p in old if p['orderingOk'])} of {len(old)}",
                failing,
                report["action"],
                "[green]yes[/]" if ok else "[red]NO[/]",
            )
        console.print(table)
        all_ok = all(ok for _, _, ok in results)
        console.print(
            "[green]every case came out as expected[/]" if all_ok else "[red]a case did not come out as expected[/]"
        )
        raise typer.Exit(0 if all_ok else 1)
