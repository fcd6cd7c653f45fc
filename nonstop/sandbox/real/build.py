"""Build `nonstop-controlplane` (etcd + kube-apiserver + kube-controller-manager + kube-scheduler) with Go.

Where the Go module comes from: `controlplane/` in the checkout (go.mod, go.sum and our own
main.go; nothing fetched is committed) is installed as the data package
`nonstop.bundled_controlplane` (setup.py), so a wheel carries it too. The three files are copied
into the cache and built there, never in the checkout or site-packages:

    ~/.cache/nonstop/controlplane/<key>/src/{go.mod,go.sum,main.go}
    ~/.cache/nonstop/controlplane/<key>/nonstop-controlplane     the binary (renamed into place last)
    ~/.cache/nonstop/controlplane/<key>/build.log

`<key>` is a hash of the three files and the link flags, so the binary is rebuilt only when the
pins change. `$NONSTOP_CACHE_DIR` replaces `~/.cache/nonstop` (and `$XDG_CACHE_HOME` is honoured).
Go's own caches (GOCACHE, GOMODCACHE) stay where Go keeps them. A file lock lets two processes
ask for the same build at once: the second waits and then finds the binary.

The link flags stamp the Kubernetes version (`/version` then says v1.33.13, which the kubectl
version dispatcher needs to pick a matching kubectl).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

from nonstop.sandbox.real.errors import ControlPlaneBuildError, GoMissingError

__all__ = [
    "BINARY_NAME",
    "MIN_GO",
    "binary_path",
    "build_key",
    "cache_dir",
    "ensure_built",
    "find_go",
    "kube_version",
    "module_files",
]

BINARY_NAME = "nonstop-controlplane"
MIN_GO = (1, 24)
_MODULE_FILES = ("go.mod", "go.sum", "main.go")
_NO_GO_HINT = "the embedded sandbox (--control-plane embedded, the default) needs none of it"

Progress = Callable[[str], None]


def module_files() -> dict[str, bytes]:
    """go.mod, go.sum and main.go of the bundled Go module, by name."""
    root = resources.files("nonstop.bundled_controlplane")
    return {name: root.joinpath(name).read_bytes() for name in _MODULE_FILES}


def kube_version(files: dict[str, bytes] | None = None) -> str:
    """The pinned k8s.io/kubernetes version, read from go.mod (e.g. `v1.33.13`)."""
    text = (files or module_files())["go.mod"].decode()
    match = re.search(r"^\s*k8s\.io/kubernetes\s+(v\d+\.\d+\.\d+)\s*$", text, re.MULTILINE)
    if match is None:
        raise ControlPlaneBuildError("controlplane/go.mod does not require k8s.io/kubernetes at a release version")
    return match.group(1)


def _ldflags(version: str) -> str:
    major, minor = version.removeprefix("v").split(".")[:2]
    values = {"gitVersion": version, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"}
    stamps = [
        f"-X {package}.{key}={value}"
        for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for key, value in values.items()
    ]
    return " ".join(["-s", "-w", *stamps])


def build_key(files: dict[str, bytes] | None = None) -> str:
    """A hash of the module files and link flags: the cache folder of this exact build."""
    files = files or module_files()
    digest = hashlib.sha256()
    for name in _MODULE_FILES:
        digest.update(name.encode() + b"\0" + files[name] + b"\0")
    digest.update(_ldflags(kube_version(files)).encode())
    return f"{kube_version(files)}-{digest.hexdigest()[:12]}"


def cache_dir() -> Path:
    """`$NONSTOP_CACHE_DIR`, else `$XDG_CACHE_HOME/nonstop`, else `~/.cache/nonstop`."""
    explicit = os.environ.get("NONSTOP_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "nonstop"


def binary_path(files: dict[str, bytes] | None = None) -> Path:
    """Where the binary of the current pins lives (it may not be built yet)."""
    return cache_dir() / "controlplane" / build_key(files) / BINARY_NAME


def find_go() -> tuple[str, tuple[int, int]]:
    """The `go` on PATH and its (major, minor); GoMissingError when absent or older than MIN_GO."""
    want = f"Go ≥ {MIN_GO[0]}.{MIN_GO[1]}"
    go = shutil.which("go")
    if go is None:
        raise GoMissingError(
            f"the real control plane is built from Go modules and no `go` is on PATH: install {want} "
            f"(https://go.dev/dl/); {_NO_GO_HINT}"
        )
    try:
        out = subprocess.run(
            [go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60, check=True, env=_go_env()
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise GoMissingError(f"`{go} env GOVERSION` failed ({exc}): install {want}; {_NO_GO_HINT}") from exc
    match = re.match(r"go(\d+)\.(\d+)", out.strip())
    if match is None or (int(match.group(1)), int(match.group(2))) < MIN_GO:
        raise GoMissingError(
            f"{go} is {out.strip() or 'of unknown version'}, the pinned Kubernetes modules need {want}: "
            f"install {want} (https://go.dev/dl/); {_NO_GO_HINT}"
        )
    return go, (int(match.group(1)), int(match.group(2)))


def _go_env() -> dict[str, str]:
    # GOTOOLCHAIN=local: use the Go we checked, never download another toolchain behind the user's back.
    return {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"}


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no build log)"


def _run_logged(argv: list[str], *, cwd: Path, log_path: Path, on_line: Callable[[str], None], what: str) -> None:
    with log_path.open("a") as log:
        log.write(f"$ {' '.join(argv)}\n")
        log.flush()
        proc = subprocess.Popen(
            argv, cwd=cwd, env=_go_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for line in proc.stdout or ():
            log.write(line)
            on_line(line.rstrip("\n"))
        code = proc.wait()
    if code != 0:
        raise ControlPlaneBuildError(f"{what} failed with exit code {code} (log: {log_path}): {_log_tail(log_path)}")


def ensure_built(*, progress: Progress | None = None, nice: int = 19) -> Path:
    """The binary for the current pins, built first if missing; progress lines go to `progress`.

    Raises GoMissingError without Go (or with an old one), ControlPlaneBuildError when Go fails.
    """
    say = progress or (lambda _line: None)
    files = module_files()
    binary = binary_path(files)
    if binary.exists():
        return binary
    go, _ = find_go()
    folder = binary.parent
    with _locked(folder):
        if binary.exists():  # another process built it while we waited for the lock
            return binary
        source = folder / "src"
        source.mkdir(exist_ok=True)
        for name, body in files.items():
            (source / name).write_bytes(body)
        log_path = folder / "build.log"
        log_path.write_text("")
        version = kube_version(files)
        started = time.monotonic()
        say(f"building {BINARY_NAME} (Kubernetes {version}, etcd) with {go}; the first build takes tens of minutes")
        say("downloading Go modules (go mod download)…")
        _run_logged(
            [go, "mod", "download"], cwd=source, log_path=log_path, on_line=lambda _l: None, what="go mod download"
        )
        say(f"modules ready after {time.monotonic() - started:.0f} s; compiling (log: {log_path})")
        tmp = folder / f".{BINARY_NAME}.{os.getpid()}.tmp"
        argv = ["nice", "-n", str(nice)] if nice and shutil.which("nice") else []
        argv += [go, "build", "-v", "-trimpath", "-ldflags", _ldflags(version), "-o", str(tmp), "."]
        counter = _PackageCounter(say, started)
        _run_logged(argv, cwd=source, log_path=log_path, on_line=counter, what="go build")
        check = subprocess.run([str(tmp), "version"], capture_output=True, text=True, timeout=60, check=False)
        if check.stdout.strip() != version:
            raise ControlPlaneBuildError(
                f"the built {BINARY_NAME} reports version {check.stdout.strip() or check.stderr.strip()!r}, "
                f"not {version} (log: {log_path})"
            )
        tmp.replace(binary)
        say(f"built {binary} in {time.monotonic() - started:.0f} s")
    return binary


class _PackageCounter:
    """Turns `go build -v` package lines into a progress line every 15 s."""

    def __init__(self, say: Progress, started: float, every: float = 15.0) -> None:
        self.say = say
        self.started = started
        self.every = every
        self.count = 0
        self.last = time.monotonic()

    def __call__(self, line: str) -> None:
        if not line or " " in line.strip():
            return  # not a package path (a warning or an error; it is in the log)
        self.count += 1
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.say(f"compiling: {self.count} packages built or cached, {now - self.started:.0f} s, now {line}")
