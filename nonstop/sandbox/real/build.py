"""Build `nonstop-controlplane` (etcd + kube-apiserver + kube-controller-manager + kube-scheduler) with Go.

The same machinery builds the Argo Rollouts controller (`ensure_rollouts_built`, for
`sandbox up --with argo-rollouts`): `controlplane/argo-rollouts/` holds a module of its own
(go.mod and go.sum only) whose `tool` line names `github.com/argoproj/argo-rollouts/cmd/
rollouts-controller` at one pinned release, with the k8s.io staging `replace` lines copied from
that module's go.mod (a dependency's replaces do not apply to us). It is a separate module from
the control plane's (Kubernetes libraries v0.29 there, v0.33 here), built into
`~/.cache/nonstop/argo-rollouts/<key>/rollouts-controller` the same way; `rollouts_module_dir()`
is where Go keeps that release's source (its CRDs and RBAC manifests are read from there at
start-up, never committed).

Argo Workflows the same way (`ensure_workflows_built`, for `--with argo-workflows`):
`controlplane/argo-workflows/` pins `github.com/argoproj/argo-workflows/v3` with two `tool` lines,
`cmd/workflow-controller` and `cmd/argoexec`; one `go build` makes both into
`~/.cache/nonstop/argo-workflows/<key>/`, `argoexec` first and `workflow-controller` (the binary
whose presence means "built") renamed into place last.

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
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from nonstop.errors import ControlPlaneBuildError, GoMissingError

__all__ = [
    "ARGOEXEC_BINARY_NAME",
    "BINARY_NAME",
    "MIN_GO",
    "ROLLOUTS_BINARY_NAME",
    "WORKFLOWS_BINARY_NAME",
    "binary_path",
    "build_key",
    "cache_dir",
    "ensure_built",
    "ensure_rollouts_built",
    "ensure_workflows_built",
    "find_go",
    "kube_version",
    "module_files",
    "rollouts_binary_path",
    "rollouts_module_dir",
    "rollouts_version",
    "workflows_binary_path",
    "workflows_module_dir",
    "workflows_version",
]

BINARY_NAME = "nonstop-controlplane"
MIN_GO = (1, 24)
_MODULE_FILES = ("go.mod", "go.sum", "main.go")
_NO_GO_HINT = "the embedded sandbox (--control-plane embedded, the default) needs none of it"

Progress = Callable[[str], None]


def module_files() -> dict[str, bytes]:
    """go.mod, go.sum and main.go of the bundled Go module, by name."""
    return _CONTROLPLANE.files()


def kube_version(files: dict[str, bytes] | None = None) -> str:
    """The pinned k8s.io/kubernetes version, read from go.mod (e.g. `v1.33.13`)."""
    return _CONTROLPLANE.version(files or module_files())


def _required(files: dict[str, bytes], module: str) -> str:
    text = files["go.mod"].decode()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\d+\.\d+\.\d+)\b", text, re.MULTILINE)
    if match is None:
        raise ControlPlaneBuildError(f"the bundled go.mod does not require {module} at a release version")
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


def _rollouts_ldflags(version: str) -> str:
    # `--version` then says v1.8.5+unknown: the release, without a commit we do not know.
    return f"-s -w -X {ROLLOUTS_MODULE}/utils/version.version={version.removeprefix('v')}"


def _workflows_ldflags(version: str) -> str:
    # The controller's default executor image is quay.io/argoproj/argoexec:<version>; `version` says v3.7.3+unknown.
    return f"-s -w -X {WORKFLOWS_MODULE}.version={version} -X {WORKFLOWS_MODULE}.gitTreeState=clean"


@dataclass(frozen=True)
class _Program:
    """One Go program we build: its bundled module files, what to build, how to stamp and check it."""

    folder: str  # under cache_dir(), and under the bundled package (`""`: its root)
    binary: str
    names: tuple[str, ...]
    package: str  # the `go build` argument
    module: str  # the module whose version names the build
    ldflags: Callable[[str], str]
    version_argv: tuple[str, ...]
    version_ok: Callable[[str, str], bool]  # (printed, pinned) → the binary is the one we meant
    also: tuple[tuple[str, str], ...] = ()  # (binary, package): built by the same `go build`, beside it
    links: tuple[tuple[str, str], ...] = ()  # (path, target): symlinks of the release the module zip drops

    def files(self) -> dict[str, bytes]:
        root = resources.files("nonstop.bundled_controlplane")
        if self.folder != "controlplane":
            root = root.joinpath(self.folder)
        return {name: root.joinpath(name).read_bytes() for name in self.names}

    def version(self, files: dict[str, bytes]) -> str:
        return _required(files, self.module)

    def key(self, files: dict[str, bytes]) -> str:
        digest = hashlib.sha256()
        for name in self.names:
            digest.update(name.encode() + b"\0" + files[name] + b"\0")
        digest.update(self.ldflags(self.version(files)).encode())
        if self.links:  # only then: the other programs keep the keys they had
            digest.update(repr(self.links).encode())
        return f"{self.version(files)}-{digest.hexdigest()[:12]}"

    def path(self, files: dict[str, bytes] | None = None) -> Path:
        files = files or self.files()
        return cache_dir() / self.folder / self.key(files) / self.binary


ROLLOUTS_BINARY_NAME = "rollouts-controller"
ROLLOUTS_MODULE = "github.com/argoproj/argo-rollouts"
WORKFLOWS_BINARY_NAME = "workflow-controller"
ARGOEXEC_BINARY_NAME = "argoexec"
WORKFLOWS_MODULE = "github.com/argoproj/argo-workflows/v3"

_CONTROLPLANE = _Program(
    folder="controlplane",
    binary=BINARY_NAME,
    names=_MODULE_FILES,
    package=".",
    module="k8s.io/kubernetes",
    ldflags=_ldflags,
    version_argv=("version",),
    version_ok=lambda printed, pinned: printed == pinned,
)
_ROLLOUTS = _Program(
    folder="argo-rollouts",
    binary=ROLLOUTS_BINARY_NAME,
    names=("go.mod", "go.sum"),
    package=f"{ROLLOUTS_MODULE}/cmd/rollouts-controller",
    module=ROLLOUTS_MODULE,
    ldflags=_rollouts_ldflags,
    version_argv=("--version",),
    version_ok=lambda printed, pinned: printed.startswith(pinned),
)
_WORKFLOWS = _Program(
    folder="argo-workflows",
    binary=WORKFLOWS_BINARY_NAME,
    names=("go.mod", "go.sum"),
    package=f"{WORKFLOWS_MODULE}/cmd/workflow-controller",
    module=WORKFLOWS_MODULE,
    ldflags=_workflows_ldflags,
    version_argv=("version", "--short"),
    version_ok=lambda printed, pinned: pinned in printed,
    also=((ARGOEXEC_BINARY_NAME, f"{WORKFLOWS_MODULE}/cmd/argoexec"),),
    # In the repository signal_linux.go is a symlink to signal_darwin.go; module zips leave symlinks
    # out, so argoexec does not build on Linux from the module as the proxy serves it.
    links=(("workflow/executor/osspecific/signal_linux.go", "signal_darwin.go"),),
)


def build_key(files: dict[str, bytes] | None = None) -> str:
    """A hash of the module files and link flags: the cache folder of this exact build."""
    return _CONTROLPLANE.key(files or module_files())


def cache_dir() -> Path:
    """`$NONSTOP_CACHE_DIR`, else `$XDG_CACHE_HOME/nonstop`, else `~/.cache/nonstop`."""
    explicit = os.environ.get("NONSTOP_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "nonstop"


def binary_path(files: dict[str, bytes] | None = None) -> Path:
    """Where the binary of the current pins lives (it may not be built yet)."""
    return _CONTROLPLANE.path(files)


def rollouts_binary_path() -> Path:
    """Where the Argo Rollouts controller of the current pins lives (it may not be built yet)."""
    return _ROLLOUTS.path()


def workflows_binary_path() -> Path:
    """Where the Argo Workflows controller of the current pins lives (`argoexec` is beside it)."""
    return _WORKFLOWS.path()


def workflows_version() -> str:
    """The pinned github.com/argoproj/argo-workflows/v3 release (e.g. `v3.7.3`)."""
    return _WORKFLOWS.version(_WORKFLOWS.files())


def rollouts_version() -> str:
    """The pinned github.com/argoproj/argo-rollouts release (e.g. `v1.8.5`)."""
    return _ROLLOUTS.version(_ROLLOUTS.files())


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
    """The control plane binary for the current pins, built first if missing; progress lines go to `progress`.

    Raises GoMissingError without Go (or with an old one), ControlPlaneBuildError when Go fails.
    """
    return _ensure(_CONTROLPLANE, progress=progress, nice=nice, what="Kubernetes {version}, etcd")


def ensure_rollouts_built(*, progress: Progress | None = None, nice: int = 19) -> Path:
    """The Argo Rollouts controller for the current pins, built first if missing (as `ensure_built`)."""
    return _ensure(_ROLLOUTS, progress=progress, nice=nice, what="Argo Rollouts {version}")


def ensure_workflows_built(*, progress: Progress | None = None, nice: int = 19) -> Path:
    """workflow-controller and argoexec for the current pins, built first if missing (as `ensure_built`)."""
    return _ensure(_WORKFLOWS, progress=progress, nice=nice, what="Argo Workflows {version}, with argoexec")


def rollouts_module_dir() -> Path:
    """The pinned argo-rollouts release's source in GOMODCACHE (`go list -m -json`), downloaded if missing."""
    return _module_dir(_ROLLOUTS)


def workflows_module_dir() -> Path:
    """The pinned argo-workflows release's source in GOMODCACHE, downloaded if missing."""
    return _module_dir(_WORKFLOWS)


def _module_dir(program: _Program) -> Path:
    go, _ = find_go()
    module = program.module
    source = _source_dir(program, program.files())
    try:
        done = subprocess.run(
            [go, "list", "-m", "-json", module],
            cwd=source,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env=_go_env(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ControlPlaneBuildError(f"`go list -m {module}` failed: {exc}") from exc
    directory = ""
    if done.returncode == 0:
        directory = str(json.loads(done.stdout or "{}").get("Dir") or "")
    if not directory or not Path(directory).is_dir():
        raise ControlPlaneBuildError(
            f"`go list -m -json {module}` gave no source folder: {done.stderr.strip() or done.stdout[-300:]}"
        )
    return Path(directory)


def _source_dir(program: _Program, files: dict[str, bytes]) -> Path:
    """`<cache>/<folder>/<key>/src` with the module files written (the build and `go list` run there)."""
    source = program.path(files).parent / "src"
    source.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        target = source / name
        if not target.exists() or target.read_bytes() != body:
            target.write_bytes(body)
    return source


def _ensure(program: _Program, *, progress: Progress | None, nice: int, what: str) -> Path:
    say = progress or (lambda _line: None)
    files = program.files()
    binary = program.path(files)
    if binary.exists():
        return binary
    go, _ = find_go()
    folder = binary.parent
    with _locked(folder):
        if binary.exists():  # another process built it while we waited for the lock
            return binary
        source = _source_dir(program, files)
        log_path = folder / "build.log"
        log_path.write_text("")
        version = program.version(files)
        started = time.monotonic()
        label = what.format(version=version)
        say(f"building {program.binary} ({label}) with {go}; the first build takes minutes to tens of minutes")
        say("downloading Go modules (go mod download)…")
        _run_logged(
            [go, "mod", "download"], cwd=source, log_path=log_path, on_line=lambda _l: None, what="go mod download"
        )
        if program.links:
            source = _restore_links(program, go, source, folder / "build")
        say(f"modules ready after {time.monotonic() - started:.0f} s; compiling (log: {log_path})")
        out = folder / f".out.{os.getpid()}.tmp"
        out.mkdir(exist_ok=True)
        # One program: `-o <file>`. Several: `-o <folder>/`, where Go names each after its package's last element.
        tmp = out / (program.package.rsplit("/", 1)[-1] if program.also else program.binary)
        argv = ["nice", "-n", str(nice)] if nice and shutil.which("nice") else []
        argv += [go, "build", "-v", "-trimpath", "-ldflags", program.ldflags(version)]
        if program.also:
            argv += ["-o", f"{out}/", program.package, *(package for _, package in program.also)]
        else:
            argv += ["-o", str(tmp), program.package]
        counter = _PackageCounter(say, started)
        _run_logged(argv, cwd=source, log_path=log_path, on_line=counter, what="go build")
        check = subprocess.run(
            [str(tmp), *program.version_argv], capture_output=True, text=True, timeout=60, check=False
        )
        printed = check.stdout.strip()
        if not program.version_ok(printed, version):
            raise ControlPlaneBuildError(
                f"the built {program.binary} reports version {printed or check.stderr.strip()!r}, "
                f"not {version} (log: {log_path})"
            )
        for name, package in program.also:
            (out / package.rsplit("/", 1)[-1]).replace(folder / name)
        tmp.replace(binary)
        shutil.rmtree(out, ignore_errors=True)
        say(f"built {binary} in {time.monotonic() - started:.0f} s")
    return binary


def _restore_links(program: _Program, go: str, source: Path, build: Path) -> Path:
    """`build/`: our module again, its pinned dependency replaced by a copy of its source with `links` made.

    The copy is the module from GOMODCACHE (go.sum checked it when it was downloaded) minus its
    sdks/ and docs/, with each symlink the release's tree has and its zip lost; `go.mod` gains one
    `replace` to it. Nothing else changes: the checked-in go.mod and go.sum stay as they are.
    """
    listed = subprocess.run(
        [go, "list", "-m", "-json", program.module],
        cwd=source, capture_output=True, text=True, timeout=600, check=False, env=_go_env(),
    )  # fmt: skip
    origin = Path(str(json.loads(listed.stdout or "{}").get("Dir") or "")) if listed.returncode == 0 else None
    if origin is None or not origin.is_dir():
        raise ControlPlaneBuildError(f"`go list -m -json {program.module}` gave no source folder: {listed.stderr}")
    shutil.rmtree(build, ignore_errors=True)
    copy = build / "module"
    shutil.copytree(origin, copy, ignore=shutil.ignore_patterns("sdks", "docs"), copy_function=shutil.copyfile)
    for folder, _dirs, _files in os.walk(copy):  # GOMODCACHE's folders are read-only; ours need not be
        Path(folder).chmod(0o700)
    for path, target in program.links:
        (copy / path).symlink_to(target)
    replace = f"\nreplace {program.module} => ./module\n"
    (build / "go.mod").write_text((source / "go.mod").read_text() + replace)
    shutil.copyfile(source / "go.sum", build / "go.sum")
    return build


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
