"""A small, honest walker for the rendered Argo manifests: runs their steps on this machine.

What it does, as Argo does it:
- walks the entrypoint `steps` template group by group, in order; a group's steps run one after
  the other (Argo runs them in parallel; ours never depend on each other within a group);
- evaluates each step's `when` after substituting `{{...}}` (the govaluate subset our manifests
  use: quoted strings, numbers, `== != < <= > >=`, `&& || !`, parentheses);
- substitutes `{{workflow.parameters.*}}`, `{{workflow.name}}`, `{{inputs.parameters.*}}` and
  `{{steps.<name>.outputs.parameters.*}}` into arguments, command, args and env;
- runs each container template's command as a local process with the template's env, and reads
  its output parameters from the declared files (`valueFrom.default` when a file is missing; a
  missing file without default fails the step, as Argo does);
- stops after the first group with a failed step; the walk's phase is Failed then.

What it does not emulate, and says so: images (the local PATH runs instead), pods, volumes,
resources and deadlines (a plain timeout guards each process), retries (each step runs once),
daemon steps and `withSequence` (a step using them that would run raises `NotEmulated`), and
artifacts. Every path under `/tmp/nonstop` is remapped to a private directory per step, so walks
can run side by side; steps run in separate "pods" and share nothing but parameters.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["AnalysisRun", "NotEmulated", "StepRun", "Walk", "evaluate_when", "run_analysis_job", "walk"]

WORK_DIR = "/tmp/nonstop"
_REF = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")


class NotEmulated(Exception):
    """The manifest asks for something this walker does not emulate."""


@dataclass
class StepRun:
    name: str
    template: str
    phase: str  # Succeeded | Failed | Skipped
    exit_code: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""


@dataclass
class Walk:
    phase: str
    steps: list[StepRun]

    def ran(self) -> list[str]:
        """Names of the steps that ran (not skipped), in order."""
        return [s.name for s in self.steps if s.phase != "Skipped"]

    def step(self, name: str) -> StepRun:
        return next(s for s in self.steps if s.name == name)


def substitute(text: str, scope: dict[str, str]) -> str:
    """Replace every `{{ref}}` with its value; an unknown reference is an error, as in Argo."""

    def value(match: re.Match[str]) -> str:
        ref = match.group(1)
        if ref not in scope:
            raise KeyError(f"unresolved reference {{{{{ref}}}}}")
        return scope[ref]

    return _REF.sub(value, text)


# --- the `when` subset of govaluate --------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<str>'[^']*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|<=|>=|&&|\|\||[<>!()]))")


def _tokens(expr: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    expr = expr.rstrip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise NotEmulated(f"when expression {expr!r}: cannot read {expr[pos:]!r}")
        if m.group("str") is not None:
            out.append(("val", m.group("str")[1:-1]))
        elif m.group("num") is not None:
            out.append(("val", float(m.group("num"))))
        else:
            out.append(("op", m.group("op")))
        pos = m.end()
    return out


def evaluate_when(expr: str) -> bool:  # noqa: C901 — a small expression parser; its branches are the grammar's tokens
    """Evaluate a substituted `when` expression (our manifests' subset of govaluate)."""
    tokens = _tokens(expr)
    pos = 0

    def peek() -> tuple[str, Any] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, Any]:
        nonlocal pos
        token = tokens[pos]
        pos += 1
        return token

    def primary() -> Any:
        token = take()
        if token == ("op", "("):
            value = disjunction()
            if take() != ("op", ")"):
                raise NotEmulated(f"when expression {expr!r}: missing )")
            return value
        if token == ("op", "!"):
            return not primary()
        if token[0] != "val":
            raise NotEmulated(f"when expression {expr!r}: unexpected {token[1]!r}")
        return token[1]

    def comparison() -> Any:
        left = primary()
        token = peek()
        if token is not None and token[0] == "op" and token[1] in ("==", "!=", "<", "<=", ">", ">="):
            op = take()[1]
            right = primary()
            if op == "==":
                return left == right
            if op == "!=":
                return left != right
            if not (isinstance(left, float) and isinstance(right, float)):
                raise NotEmulated(f"when expression {expr!r}: {op} needs numbers")
            return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
        return left

    def conjunction() -> Any:
        value = comparison()
        while peek() == ("op", "&&"):
            take()
            right = comparison()
            value = bool(value) and bool(right)
        return value

    def disjunction() -> Any:
        value = conjunction()
        while peek() == ("op", "||"):
            take()
            right = conjunction()
            value = bool(value) or bool(right)
        return value

    result = disjunction()
    if pos != len(tokens):
        raise NotEmulated(f"when expression {expr!r}: trailing tokens")
    if not isinstance(result, bool):
        raise NotEmulated(f"when expression {expr!r} is not a boolean")
    return result


# --- running containers --------------------------------------------------------------------------


def _remap(text: str, work: Path) -> str:
    return text.replace(WORK_DIR, str(work))


def _run_container(
    container: dict[str, Any], scope: dict[str, str], *, env: dict[str, str], work: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    argv = [_remap(substitute(a, scope), work) for a in (*container.get("command", []), *container.get("args", []))]
    if not argv:
        raise NotEmulated("a container without command: the image's entrypoint is not emulated")
    process_env = dict(env)
    for item in container.get("env", []):
        if "value" not in item:
            raise NotEmulated(f"env {item['name']} uses valueFrom")
        process_env[item["name"]] = _remap(substitute(item["value"], scope), work)
    return subprocess.run(argv, env=process_env, cwd=work, capture_output=True, text=True, timeout=timeout, check=False)


def _outputs(template: dict[str, Any], work: Path) -> dict[str, str] | None:
    values: dict[str, str] = {}
    for param in template.get("outputs", {}).get("parameters", []):
        source = param.get("valueFrom", {})
        if "path" not in source:
            raise NotEmulated(f"output {param['name']} is not read from a file")
        path = Path(_remap(source["path"], work))
        if path.exists():
            values[param["name"]] = path.read_text(encoding="utf-8")
        elif "default" in source:
            values[param["name"]] = source["default"]
        else:
            return None
    return values


def walk(
    manifest: dict[str, Any],
    parameters: dict[str, str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    workflow_name: str = "walk",
) -> Walk:
    """Walk a WorkflowTemplate (or a Workflow with inline templates) from its entrypoint."""
    spec = manifest["spec"]
    templates = {t["name"]: t for t in spec["templates"]}
    scope: dict[str, str] = {"workflow.name": workflow_name}
    for param in spec.get("arguments", {}).get("parameters", []):
        if param["name"] in parameters:
            scope[f"workflow.parameters.{param['name']}"] = parameters[param["name"]]
        elif "value" in param:
            scope[f"workflow.parameters.{param['name']}"] = param["value"]
        else:
            raise KeyError(f"workflow parameter {param['name']} has no value")
    base_env = dict(os.environ if env is None else env)
    entry = templates[spec["entrypoint"]]
    if "steps" not in entry:
        raise NotEmulated("the entrypoint is not a steps template")
    runs: list[StepRun] = []
    for group in entry["steps"]:
        failed = False
        for step in group:
            template = templates[step["template"]]
            when = step.get("when")
            if when is not None and not evaluate_when(substitute(when, scope)):
                runs.append(StepRun(step["name"], template["name"], "Skipped"))
                continue
            if template.get("daemon") or "withSequence" in step or "withItems" in step or "withParam" in step:
                raise NotEmulated(f"step {step['name']}: daemons and loops are not emulated")
            if "container" not in template:
                raise NotEmulated(f"template {template['name']}: only container templates are emulated")
            local = dict(scope)
            args = {a["name"]: substitute(a["value"], scope) for a in step.get("arguments", {}).get("parameters", [])}
            for param in template.get("inputs", {}).get("parameters", []):
                if param["name"] not in args and "value" not in param:
                    raise KeyError(f"step {step['name']}: input {param['name']} has no value")
                local[f"inputs.parameters.{param['name']}"] = args.get(param["name"], param.get("value", ""))
            with tempfile.TemporaryDirectory(prefix=f"walk-{step['name']}-") as tmp:
                work = Path(tmp)
                done = _run_container(template["container"], local, env=base_env, work=work, timeout=timeout)
                outputs = _outputs(template, work)
            ok = done.returncode == 0 and outputs is not None
            run = StepRun(
                step["name"], template["name"], "Succeeded" if ok else "Failed", done.returncode, outputs or {},
                done.stdout, done.stderr,
            )  # fmt: skip
            runs.append(run)
            for key, value in run.outputs.items():
                scope[f"steps.{step['name']}.outputs.parameters.{key}"] = value
            failed = failed or not ok
        if failed:
            return Walk("Failed", runs)
    return Walk("Succeeded", runs)


@dataclass
class AnalysisRun:
    exit_code: int
    phase: str  # Successful | Failed, as the job metric reads the Job
    stdout: str
    stderr: str


def run_analysis_job(
    template: dict[str, Any], args: dict[str, str], *, env: dict[str, str] | None = None, timeout: float = 120
) -> AnalysisRun:
    """Run an AnalysisTemplate's job metric container locally; exit 0 is Successful, anything else Failed."""
    scope: dict[str, str] = {}
    for arg in template["spec"].get("args", []):
        value = args.get(arg["name"], arg.get("value"))
        if value is None:
            raise KeyError(f"analysis arg {arg['name']} has no value")
        scope[f"args.{arg['name']}"] = value
    (metric,) = template["spec"]["metrics"]
    (container,) = metric["provider"]["job"]["spec"]["template"]["spec"]["containers"]
    with tempfile.TemporaryDirectory(prefix="walk-analysis-") as tmp:
        done = _run_container(
            container, scope, env=dict(os.environ if env is None else env), work=Path(tmp), timeout=timeout
        )
    return AnalysisRun(done.returncode, "Successful" if done.returncode == 0 else "Failed", done.stdout, done.stderr)
