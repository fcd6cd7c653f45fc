"""The real control plane's costs: cold build, cached (no-op) build, cold start to /readyz and to ready.

    .venv/bin/python bench/controlplane.py             # cached build + 3 cold starts
    .venv/bin/python bench/controlplane.py --cold      # also a cold build (tens of minutes)

A cold build here means: an empty Go build cache (a temporary GOCACHE, so the machine's own
cache, which other builds share, is left alone; the module cache is kept: downloading measures the
network, not us) and an empty nonstop cache (a temporary NONSTOP_CACHE_DIR). "Start" is a fresh control plane each time
(new PKI, empty etcd): to kube-apiserver /readyz, and to "ready" (kcm and scheduler healthy, the
`default` ServiceAccount exists, admin kubeconfig written). Prints one Markdown table row.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from nonstop.sandbox.real.build import ensure_built, find_go
from nonstop.sandbox.real.controlplane import RealControlPlane


def cold_build() -> float:
    find_go()
    saved = {key: os.environ.get(key) for key in ("GOCACHE", "NONSTOP_CACHE_DIR")}
    with tempfile.TemporaryDirectory(prefix="bench-gocache-") as scratch:
        os.environ["GOCACHE"] = f"{scratch}/go-build"
        os.environ["NONSTOP_CACHE_DIR"] = f"{scratch}/nonstop"
        try:
            started = time.monotonic()
            ensure_built(progress=print)
            return time.monotonic() - started
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def start_times(binary: Path, runs: int) -> list[tuple[float, float]]:
    out = []
    for _ in range(runs):
        marks: dict[str, float] = {}
        started = time.monotonic()

        def on_progress(line: str, marks: dict[str, float] = marks, started: float = started) -> None:
            if line.startswith("kube-apiserver ready"):
                marks["readyz"] = time.monotonic() - started

        with tempfile.TemporaryDirectory(prefix="bench-controlplane-") as workdir:
            plane = RealControlPlane(binary=binary, workdir=Path(workdir), progress=on_progress, startup_timeout=300)
            plane.start()
            ready = time.monotonic() - started
            plane.stop()
        out.append((marks["readyz"], ready))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold", action="store_true", help="time a cold build first (empties GOCACHE)")
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    cold = f"{cold_build():.0f} s" if args.cold else "(not run)"
    started = time.monotonic()
    binary = ensure_built()
    warm = time.monotonic() - started
    starts = start_times(binary, args.starts)
    readyz = ", ".join(f"{r:.1f}" for r, _ in starts)
    ready = ", ".join(f"{t:.1f}" for _, t in starts)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    print("| date | machine | cold build | cached build | start → /readyz (s) | start → ready (s) |")
    print("|---|---|---|---|---|---|")
    print(f"| {time.strftime('%Y-%m-%d')} | {machine} | {cold} | {warm * 1000:.0f} ms | {readyz} | {ready} |")


if __name__ == "__main__":
    main()
