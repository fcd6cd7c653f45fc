"""`nonstop controlplane build` without a usable Go: one sentence, exit 2 (needs no Go, no binary: runs everywhere)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from nonstop.sandbox.real.build import build_key, module_files


def _build(tmp_path: Path, path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path, "NONSTOP_CACHE_DIR": str(tmp_path / "cache")}
    argv = [sys.executable, "-m", "nonstop", "controlplane", "build"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_without_go_it_says_what_to_install_and_that_embedded_needs_none(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    done = _build(tmp_path, str(empty))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "install Go ≥ 1.24" in done.stderr
    assert "embedded sandbox" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_old_go_is_refused_by_its_version(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    go = fake / "go"
    go.write_text("#!/bin/sh\necho go1.22.5\n")
    go.chmod(0o755)
    done = _build(tmp_path, f"{fake}:/usr/bin:/bin")
    assert done.returncode == 2
    assert "go1.22.5" in done.stderr
    assert "install Go ≥ 1.24" in done.stderr


def test_the_cache_key_follows_the_pins() -> None:
    files = module_files()
    assert build_key(files).startswith("v1.33.13-")
    changed = {**files, "go.sum": files["go.sum"] + b"example.com/x v1.0.0 h1:x=\n"}
    assert build_key(changed) != build_key(files)
    assert build_key(dict(files)) == build_key(files)
