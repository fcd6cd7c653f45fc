"""The official Python client's end-to-end suite (kubernetes-client/python `kubernetes/e2e_test/`)
against a fresh embedded sandbox.

The suite is not ours and is never committed: point `--suite` at a checkout of
kubernetes-client/python, or at a bare git directory of one (the `fetch` tool's mirror, read with
`git archive`). Its tests import `kubernetes.e2e_test`, so the folder is added to the installed
`kubernetes` package's search path (nothing is written into site-packages). The suite finds the
cluster through `KUBECONFIG` (its `base.get_e2e_configuration`), which is set to the sandbox's.

    .venv/bin/python bench/client_e2e.py                                   # the whole suite
    .venv/bin/python bench/client_e2e.py --suite ~/src/python -- -k test_apps -x
    .venv/bin/python bench/client_e2e.py --junit e2e.xml                   # keep the per-test results

Exit code: pytest's (0 only when every test passed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from nonstop.sandbox.launcher import SandboxProcess

DEFAULT_SUITE = "/work/.mirror/kubernetes-client+python/repo"

PLUGIN = """\
import pathlib

import kubernetes

kubernetes.__path__.append(str(pathlib.Path(__file__).parent / "kubernetes"))
"""


def extract(suite: Path, ref: str, into: Path) -> Path:
    """Copy `kubernetes/e2e_test` from a checkout, or from a (bare) git directory at `ref`."""
    target = into / "kubernetes" / "e2e_test"
    if (suite / "kubernetes" / "e2e_test").is_dir():
        shutil.copytree(suite / "kubernetes" / "e2e_test", target)
        return target
    archive = subprocess.run(
        ["git", "--git-dir", str(suite), "archive", ref, "kubernetes/e2e_test"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default=os.environ.get("NONSTOP_CLIENT_E2E", DEFAULT_SUITE), type=Path)
    parser.add_argument("--ref", default="HEAD", help="commit of a git directory (default HEAD)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per test (default 120)")
    parser.add_argument("--junit", type=Path, help="write pytest's JUnit XML here")
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to pytest (e.g. -k test_apps -x)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nonstop-client-e2e-") as tmp:
        root = Path(tmp)
        tests = extract(args.suite.expanduser(), args.ref, root)
        (root / "nonstop_e2e_path.py").write_text(PLUGIN)
        (root / "pytest.ini").write_text("[pytest]\n")
        with SandboxProcess() as sandbox:
            print(f"sandbox at {sandbox.url}, kubeconfig {sandbox.kubeconfig}", flush=True)
            env = {**os.environ, "KUBECONFIG": str(sandbox.kubeconfig), "PYTHONPATH": str(root)}
            argv = [sys.executable, "-m", "pytest", "-c", str(root / "pytest.ini"), "--rootdir", str(root)]
            argv += ["-p", "nonstop_e2e_path", "-p", "no:cacheprovider", "--import-mode=importlib"]
            argv += ["--timeout", str(args.timeout), "-rA", "-q", str(tests)]
            if args.junit:
                argv += ["--junitxml", str(args.junit.resolve())]
            return subprocess.run([*argv, *args.pytest_args], env=env, cwd=root, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
