"""`nonstop zoo` / `nonstop zoo run [CASE]...`: real rollout outages as drills, broken and fixed, one table.

Each case is a folder of `config/zoo/` (shipped with the package): `README.md` whose YAML front matter
says what the case must come out as —

    ---
    title: PID 1 ignores SIGTERM
    sources: [https://github.com/…/issues/212]
    broken: {verdict: fail, failingCheck: graceful-exit}
    fixed: {verdict: pass}
    ---

— then the mechanism, what users saw and the fix in prose; `broken.yaml` and `fixed.yaml` (the same
workload before and after the fix) and `drill.yaml` (one drill for both: the environment is the
drill's, the configuration under test the manifest's). `zoo run` drills each variant on the
embedded sandbox and lints both manifests: a hazard `nonstop lint` catches statically is one whose
rules fire on the broken manifest and not on the fixed one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console
from rich.table import Table

from nonstop.cli.drill import CONTROL_PLANE_HELP
from nonstop.errors import InputError

__all__ = ["Expectation", "ZooCase", "load_cases", "register"]

Variant = Literal["broken", "fixed"]
VARIANTS: tuple[Variant, ...] = ("broken", "fixed")


class Expectation(BaseModel):
    """What one variant of a case must come out as."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    verdict: Literal["pass", "fail", "inconclusive"]
    failing_check: Literal["error-budget", "endpoint-ordering", "graceful-exit"] | None = Field(
        default=None, alias="failingCheck"
    )
    """A check that must have failed (for a `fail` verdict: the check that names the hazard)."""

    def met_by(self, report: dict[str, Any]) -> bool:
        if report.get("verdict") != self.verdict:
            return False
        if self.failing_check is None:
            return True
        return any(c["name"] == self.failing_check and c["passed"] is False for c in report.get("checks", []))

    def describe(self) -> str:
        return self.verdict if self.failing_check is None else f"{self.verdict} on {self.failing_check}"


class _FrontMatter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    sources: list[str] = Field(min_length=1)
    broken: Expectation
    fixed: Expectation


@dataclass(frozen=True)
class ZooCase:
    name: str
    title: str
    sources: tuple[str, ...]
    expect: dict[Variant, Expectation]
    folder: Path

    def manifest(self, variant: Variant) -> Path:
        return self.folder / f"{variant}.yaml"

    @property
    def drill(self) -> Path:
        return self.folder / "drill.yaml"


def _front_matter(readme: Path) -> dict[str, Any]:
    text = readme.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        raise InputError(f"{readme}: a zoo case's README must start with YAML front matter between '---' lines")
    end = text.find("\n---", 4)
    if end < 0:
        raise InputError(f"{readme}: the front matter has no closing '---' line")
    try:
        data = yaml.safe_load(text[4:end])
    except yaml.YAMLError as exc:
        raise InputError(f"{readme}: the front matter is not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise InputError(f"{readme}: the front matter must be a YAML mapping")
    return data


def load_case(folder: Path) -> ZooCase:
    """One case folder; a missing file or bad front matter is an InputError naming it."""
    readme = folder / "README.md"
    for path in (readme, folder / "drill.yaml", folder / "broken.yaml", folder / "fixed.yaml"):
        if not path.is_file():
            raise InputError(f"zoo case {folder.name}: {path.name} is missing")
    try:
        meta = _FrontMatter.model_validate(_front_matter(readme))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InputError(f"{readme}: front matter field {where}: {first['msg']}") from exc
    return ZooCase(folder.name, meta.title, tuple(meta.sources), {"broken": meta.broken, "fixed": meta.fixed}, folder)


def load_cases(root: Traversable | Path | None = None) -> list[ZooCase]:
    """Every case of the zoo (the bundled `config/zoo/` by default), by name."""
    if root is None:
        from nonstop.bundled import config_dir

        root = config_dir().joinpath("zoo")
    base = Path(str(root))
    if not base.is_dir():
        raise InputError(f"{base}: no such zoo folder")
    folders = sorted(p for p in base.iterdir() if p.is_dir() and (p / "README.md").exists())
    return [load_case(folder) for folder in folders]


def _select(cases: list[ZooCase], names: list[str]) -> list[ZooCase]:
    if not names:
        return cases
    by_name = {case.name: case for case in cases}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise InputError(
            f"no zoo case named {', '.join(unknown)}; `nonstop zoo` lists them ({', '.join(by_name) or 'none'})"
        )
    return [by_name[name] for name in names]


def _lint_rules(manifest: Path) -> set[str]:
    from nonstop.lint.run import lint_paths

    return {located.finding.rule for located in lint_paths([str(manifest)]).findings}


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=140)


_ZOO_DIR = typer.Option("--zoo-dir", help="A folder of cases like config/zoo/ (default: the bundled zoo).")


def register(app: typer.Typer) -> None:
    zoo_app = typer.Typer(
        help="The hazard zoo: real rollout outages as drills, broken and fixed.", invoke_without_command=True
    )
    app.add_typer(zoo_app, name="zoo")

    @zoo_app.callback()
    def zoo_list(ctx: typer.Context, zoo_dir: Annotated[Path | None, _ZOO_DIR] = None) -> None:
        """List the zoo's cases (`nonstop zoo run` runs them)."""
        ctx.obj = zoo_dir
        if ctx.invoked_subcommand is not None:
            return
        table = Table(title="nonstop zoo — `nonstop zoo run [CASE]...` runs them", header_style="bold")
        for column in ("case", "hazard", "broken", "fixed", "source"):
            table.add_column(column, overflow="fold")
        for case in load_cases(zoo_dir):
            table.add_row(
                case.name, case.title, case.expect["broken"].describe(), case.expect["fixed"].describe(),
                case.sources[0],
            )  # fmt: skip
        _console().print(table)

    @zoo_app.command(name="run")
    def zoo_run(
        ctx: typer.Context,
        cases: Annotated[list[str] | None, typer.Argument(help="Case names (default: every case).")] = None,
        report_dir: Annotated[
            Path, typer.Option("--report-dir", help="Each variant's report goes to DIR/<case>/<variant>/.")
        ] = Path("nonstop-zoo"),
        control_plane: Annotated[str, typer.Option("--control-plane", help=CONTROL_PLANE_HELP)] = "embedded",
    ) -> None:
        """Drill every case's broken and fixed variant on the sandbox; exit 0 when all came out as said."""
        from nonstop.cli.drill import check_control_plane, run_drill_command

        check_control_plane(control_plane, sandbox=True)
        selected = _select(load_cases(ctx.obj), list(cases or []))
        console = _console()
        rows: list[tuple[ZooCase, Variant, dict[str, Any], bool, str]] = []
        for number, case in enumerate(selected, 1):
            caught = sorted(_lint_rules(case.manifest("broken")) - _lint_rules(case.manifest("fixed")))
            for variant in VARIANTS:
                console.rule(f"[bold]case {number} of {len(selected)}: {case.name} ({variant}) — {case.title}")
                out = report_dir / case.name / variant
                run_drill_command(
                    case.drill, sandbox=True, apply=[case.manifest(variant)], kubeconfig=None, context=None,
                    report_dir=out, dry_run=False, quiet=True, control_plane=control_plane,
                )  # fmt: skip
                report = json.loads((out / "report.json").read_text())
                lint = (", ".join(caught) or "no") if variant == "broken" else ""
                rows.append((case, variant, report, case.expect[variant].met_by(report), lint))
        table = Table(title="nonstop zoo — real rollout outages, broken and fixed", header_style="bold")
        for column in ("case", "variant", "verdict", "failing check", "failed / total", "lint catches", "as said"):
            table.add_column(column, overflow="fold")
        for case, variant, report, ok, lint in rows:
            req = report["requests"]
            failing = ", ".join(c["name"] for c in report["checks"] if c["passed"] is False) or "-"
            table.add_row(
                case.name if variant == "broken" else "", variant, report["verdict"], failing,
                f"{req['failed']} / {req['total']}", lint,
                "[green]yes[/]" if ok else f"[red]NO[/] (said: {case.expect[variant].describe()})",
            )  # fmt: skip
        console.print(table)
        all_ok = all(ok for *_, ok, _ in rows)
        console.print(
            f"[green]all {len(rows)} runs came out as their READMEs say[/]"
            if all_ok
            else "[red]a case did not come out as its README says[/]"
        )
        raise typer.Exit(0 if all_ok else 1)
