"""Time from the last old pod's exit to the drill's decision, and what the drill process does after it.

    .venv/bin/python bench/drill/time_to_verdict.py [--runs 5] [--replicas 3] [--cooldown 0]

Runs the user's command, `nonstop drill -f DRILL --sandbox --apply MANIFEST`, `--runs` times as a
subprocess (`--log-format json`): the demo's passing case (`config/drills/demo-after.yaml` on
`config/examples/after.yaml`) with `--replicas` replicas and `cooldownSeconds: --cooldown` (the
load the drill keeps sending after the window closes, which the budget judges: it is part of the
time to verdict by design, so the default is 0 and a second invocation with the demo's 2 shows it).

From each run's `report.json` and log lines (all stamped on this machine's clock):

- **time to verdict**: the timeline's decision entry (source `action`, "decision …", stamped once
  the decision was applied) minus the latest `exitedAt` of the old pods;
- its parts: exit → window closed (the timeline's "drill window closed"), the cool-down, window
  closed + cool-down → Locust exited (log "locust exited"), → judging (log "drill phase" judging:
  prober and watches stopped), → decision;
- **after the decision**: the decision entry → the drill process's exit as this bench sees it
  (reports written, the summary printed, the sandbox stopped, the interpreter gone), split at the
  report files' modification times (report.json first, then the HTML and JUnit renderings).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


def parse_ts(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value).timestamp()


def write_inputs(workdir: Path, *, replicas: int, cooldown: float) -> tuple[Path, Path]:
    drill = yaml.safe_load((REPO / "config/drills/demo-after.yaml").read_text())
    drill["spec"]["load"]["cooldownSeconds"] = cooldown
    docs = [d for d in yaml.safe_load_all((REPO / "config/examples/after.yaml").read_text()) if d]
    for doc in docs:
        if doc["kind"] == "Deployment":
            doc["spec"]["replicas"] = replicas
    drill_path, manifest_path = workdir / "drill.yaml", workdir / "after.yaml"
    drill_path.write_text(yaml.safe_dump(drill))
    manifest_path.write_text(yaml.safe_dump_all(docs))
    return drill_path, manifest_path


def log_time(lines: list[dict[str, Any]], event: str, **match: Any) -> float | None:
    for line in lines:
        if line.get("event") == event and all(line.get(k) == v for k, v in match.items()):
            return parse_ts(line.get("timestamp"))
    return None


def one_run(workdir: Path, index: int, drill_path: Path, manifest_path: Path) -> dict[str, Any]:
    report_dir = workdir / f"report-{index}"
    argv = [sys.executable, "-m", "nonstop", "--log-format", "json", "drill", "-f", str(drill_path),
            "--sandbox", "--apply", str(manifest_path), "--report-dir", str(report_dir)]  # fmt: skip
    started = time.time()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600, cwd=workdir)
    ended = time.time()
    lines = []
    for text in (done.stdout + "\n" + done.stderr).splitlines():
        if text.startswith("{"):
            with contextlib.suppress(ValueError):
                lines.append(json.loads(text))
    report = json.loads((report_dir / "report.json").read_text())
    exits = [parse_ts(p["exitedAt"]) for p in report["pods"] if p["role"] == "old"]
    last_exit = max(e for e in exits if e is not None) if exits and None not in exits else None
    actions = [(parse_ts(t["at"]), t["what"]) for t in report["timeline"] if t["source"] == "action"]
    window_closed = next((at for at, what in actions if what.startswith("drill window closed")), None)
    decided = next((at for at, what in actions if what.startswith("decision ")), None)
    return {
        "code": done.returncode,
        "verdict": report["verdict"],
        "old_pods": len(exits),
        "started": started,
        "last_exit": last_exit,
        "window_closed": window_closed,
        "locust_exited": log_time(lines, "locust exited"),
        "judging": log_time(lines, "drill phase", phase="judging"),
        "decided": decided,
        "report_json": (report_dir / "report.json").stat().st_mtime,
        "reports_done": max(f.stat().st_mtime for f in report_dir.iterdir()),
        "process_end": ended,
    }


def ms(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else (b - a) * 1000


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def stats(label: str, values: list[float | None]) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return f"{label:<42} no data"
    return f"{label:<42} median {statistics.median(got):7.0f} ms   max {max(got):7.0f} ms   (n={len(got)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--cooldown", type=float, default=0.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="nonstop-bench-ttv-") as tmp:
        workdir = Path(tmp)
        drill_path, manifest_path = write_inputs(workdir, replicas=args.replicas, cooldown=args.cooldown)
        for index in range(args.runs):
            run = one_run(workdir, index, drill_path, manifest_path)
            runs.append(run)
            print(f"run {index}: exit {run['code']} ({run['verdict']}), {run['old_pods']} old pods, "
                  f"time to verdict {fmt(ms(run['last_exit'], run['decided']))}, "
                  f"after the decision {fmt(ms(run['decided'], run['process_end']))}", flush=True)  # fmt: skip
    cool = args.cooldown * 1000
    print(f"\nload average {os.getloadavg()[0]:.1f}; cooldownSeconds {args.cooldown:g}; {args.replicas} replicas")
    print(stats("time to verdict (last exit → decision)", [ms(r["last_exit"], r["decided"]) for r in runs]))
    print(stats("  last exit → window closed", [ms(r["last_exit"], r["window_closed"]) for r in runs]))
    stopped = [ms(r["window_closed"], r["locust_exited"]) for r in runs]
    print(stats("  window closed + cool-down → Locust exited", [None if v is None else v - cool for v in stopped]))
    print(stats("  Locust exited → judging", [ms(r["locust_exited"], r["judging"]) for r in runs]))
    print(stats("  judging → decision applied", [ms(r["judging"], r["decided"]) for r in runs]))
    print(stats("after the decision → process exit", [ms(r["decided"], r["process_end"]) for r in runs]))
    print(stats("  decision → report.json written", [ms(r["decided"], r["report_json"]) for r in runs]))
    print(stats("  report.json → every rendering written", [ms(r["report_json"], r["reports_done"]) for r in runs]))
    print(stats("  last rendering → process exit", [ms(r["reports_done"], r["process_end"]) for r in runs]))
    print(stats("whole command", [ms(r["started"], r["process_end"]) for r in runs]))
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
