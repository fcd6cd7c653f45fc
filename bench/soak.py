"""Soak: every demo case, N times in a row; the counts of verdicts and of runs that came out as expected.

    .venv/bin/python bench/soak.py [--runs 20] [--cases before,graceful-only,after] [--out nonstop-soak]

Each run is `nonstop drill --sandbox --apply <manifest>` as a subprocess (its own sandbox), exactly
what `nonstop demo` runs for that case; whether it came out as expected is `DemoCase.came_out`.
Runs go round-robin over the cases (before, graceful-only, after, before, …) so a slow period of
the shared machine touches every case alike. Every run keeps its report under
`<out>/<case>/<n>/report.json` with its stderr beside it: a run that did not come out as
expected is a bug to explain from those files, never a run to retry. Run by hand; never in CI.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from nonstop.bundled import config_file
from nonstop.cli.demo import CASES, DemoCase


def run_once(case: DemoCase, out: Path, timeout: float) -> tuple[int, dict[str, Any] | None, float]:
    """One drill of `case` into `out`; (exit code, report or None, wall seconds)."""
    out.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "nonstop", "--log-format", "json", "drill", "-f", str(config_file(case.drill)),
            "--sandbox", "--apply", str(config_file(case.manifest)), "--report-dir", str(out)]  # fmt: skip
    started = time.monotonic()
    try:
        done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=timeout)
        code, stderr = done.returncode, done.stderr
    except subprocess.TimeoutExpired as exc:
        code = -1
        stderr = (exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or "") + "\n(soak: timed out)"
    (out / "stderr.log").write_text(stderr)
    report_path = out / "report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return code, report, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per case (default 20)")
    parser.add_argument("--cases", default=",".join(c.name for c in CASES), help="comma-separated case names")
    parser.add_argument("--out", type=Path, default=Path("nonstop-soak"), help="where every run's report goes")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before one run counts as hung")
    args = parser.parse_args()
    wanted = [c for c in CASES if c.name in args.cases.split(",")]
    verdicts: dict[str, Counter[str]] = {c.name: Counter() for c in wanted}
    expected: dict[str, int] = dict.fromkeys(verdicts, 0)
    seconds: dict[str, list[float]] = {c.name: [] for c in wanted}
    unexpected: list[str] = []
    for n in range(1, args.runs + 1):
        for case in wanted:
            out = args.out / case.name / str(n)
            code, report, took = run_once(case, out, args.timeout)
            seconds[case.name].append(took)
            verdict = report["verdict"] if report else f"no report (exit {code})"
            ok = report is not None and case.came_out(report)
            verdicts[case.name][verdict] += 1
            expected[case.name] += ok
            line = f"{case.name} run {n}: exit {code}, {verdict}, {'as expected' if ok else 'NOT AS EXPECTED'}"
            if report:
                req = report["requests"]
                failing = ",".join(c["name"] for c in report["checks"] if c["passed"] is False) or "-"
                line += f" ({req['failed']}/{req['total']} failed, failing: {failing}, action {report['action']})"
            line += f" in {took:.0f} s"
            print(line, flush=True)
            if not ok:
                unexpected.append(str(out))
    print()
    print(f"{'case':<15} {'expect':<20} {'runs':>5} {'as expected':>12}  verdicts  (mean s/run)")
    for case in wanted:
        runs = sum(verdicts[case.name].values())
        counts = ", ".join(f"{v} {k}" for k, v in sorted(verdicts[case.name].items()))
        mean = sum(seconds[case.name]) / max(1, len(seconds[case.name]))
        print(f"{case.name:<15} {case.expect:<20} {runs:>5} {expected[case.name]:>12}  {counts}  ({mean:.0f} s)")
    if unexpected:
        print("\nruns that did not come out as expected (report.json and stderr.log there):")
        for path in unexpected:
            print(f"  {path}")
    return 1 if unexpected else 0


if __name__ == "__main__":
    raise SystemExit(main())
