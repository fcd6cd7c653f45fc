"""The sdist, and the wheel pip builds from it, carry everything: the installed console script finds and lints its
bundled examples, the report page has its CSS and JavaScript, the real control plane its Go module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "nonstop", "checks", "workflows", "locustfiles", "config")
SOURCES += ("controlplane",)  # the Go module of the real control plane, shipped as package data

pytestmark = pytest.mark.slow


def _run(args: list[str], *, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, sdist: Path) -> Path:
    """A fresh virtualenv with nonstop installed from its sdist (pip builds the wheel from it; not editable).

    The dependencies are not downloaded again: a .pth file puts this environment's site-packages
    behind the new one's, the way `--system-site-packages` would (its own .pth hooks, such as the
    editable install of the checkout, are not run from there).
    """
    base = tmp_path_factory.mktemp("packaging")
    venv = base / "venv"
    created = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=base)
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=base)
    Path(purelib.stdout.strip(), "_nonstop_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(sdist)],
        cwd=base,
        timeout=540,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return venv


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The source distribution of a copy of the source tree, built by the project's own build backend."""
    base = tmp_path_factory.mktemp("sdist")
    source = base / "src"
    source.mkdir()
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(origin, source / name)
    builder = base / "builder"
    created = _run([sys.executable, "-m", "venv", str(builder)], cwd=base)
    assert created.returncode == 0, created.stderr
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    backend = _run([str(builder / "bin" / "pip"), "install", "--quiet", *requires], cwd=base, timeout=300)
    assert backend.returncode == 0, backend.stdout + backend.stderr
    dist = base / "dist"
    built = _run(
        [
            str(builder / "bin" / "python"),
            "-c",
            "import sys\nfrom setuptools import build_meta\nprint(build_meta.build_sdist(sys.argv[1]))",
            str(dist),
        ],
        cwd=source,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return dist / built.stdout.split()[-1]


def test_installed_package_is_the_copy_in_the_new_environment(installed: Path, tmp_path: Path) -> None:
    probe = _run(
        [str(installed / "bin" / "python"), "-c", "import nonstop, checks; print(nonstop.__file__, checks.__file__)"],
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    assert all(path.startswith(str(installed)) for path in probe.stdout.split())


def test_installed_console_script_lints_its_bundled_examples(installed: Path, tmp_path: Path) -> None:
    locate = _run(
        [
            str(installed / "bin" / "python"),
            "-c",
            (
                "from nonstop.bundled import config_file\n"
                "for name in ('before', 'after'): print(config_file(f'examples/{name}.yaml'))"
            ),
        ],
        cwd=tmp_path,
    )
    assert locate.returncode == 0, locate.stderr
    before, after = (Path(line) for line in locate.stdout.split())
    assert before.is_file()
    assert str(before).startswith(str(installed))
    nonstop = str(installed / "bin" / "nonstop")
    linted_before = _run([nonstop, "lint", str(before)], cwd=tmp_path)
    assert linted_before.returncode == 1, linted_before.stderr
    assert "readiness-probe-missing" in linted_before.stdout
    linted_after = _run([nonstop, "lint", "--format", "json", str(after)], cwd=tmp_path)
    assert linted_after.returncode == 0, linted_after.stderr
    assert '"rule": "single-replica"' in linted_after.stdout


def test_installed_package_carries_the_control_plane_go_module(installed: Path, tmp_path: Path) -> None:
    """A wheel can build the real control plane: its Go module files are package data, keyed as in the checkout."""
    from nonstop.sandbox.real.build import build_key, rollouts_binary_path

    probe = _run(
        [
            str(installed / "bin" / "python"),
            "-c",
            (
                "from importlib import resources\n"
                "from nonstop.sandbox.real.build import build_key\n"
                "root = resources.files('nonstop.bundled_controlplane')\n"
                "from nonstop.sandbox.real.build import rollouts_binary_path\n"
                "print(root.joinpath('go.mod')); print(build_key())\n"
                "print(root.joinpath('argo-rollouts', 'go.mod')); print(rollouts_binary_path().parent.name)"
            ),
        ],
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    go_mod, key, rollouts_go_mod, rollouts_key = probe.stdout.split()
    assert go_mod.startswith(str(installed))
    assert "k8s.io/kubernetes v1.33.13" in Path(go_mod).read_text()
    assert key == build_key()
    # the Argo Rollouts controller's module too (`--with argo-rollouts`), keyed as in the checkout
    assert rollouts_go_mod.startswith(str(installed))
    assert "tool github.com/argoproj/argo-rollouts/cmd/rollouts-controller" in Path(rollouts_go_mod).read_text()
    assert rollouts_key == rollouts_binary_path().parent.name


def test_installed_package_decodes_protobuf_bodies(installed: Path, tmp_path: Path) -> None:
    """The sandbox's protobuf field table (nonstop/sandbox/protobuf_types.json) is package data."""
    probe = _run(
        [
            str(installed / "bin" / "python"),
            "-c",
            (
                "from nonstop.sandbox import protobuf\n"
                "meta = b'\\x0a\\x02v1\\x12\\x09ConfigMap'\n"
                "body = b'k8s\\x00\\x0a' + bytes([len(meta)]) + meta + b'\\x12\\x06\\x0a\\x04\\x0a\\x02cm'\n"
                "print(protobuf.__file__); print(protobuf.decode(body)['metadata']['name'])"
            ),
        ],
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    module, name = probe.stdout.split()
    assert module.startswith(str(installed))
    assert name == "cm"


REPORT_ASSETS = ("nonstop/report/html/report.css", "nonstop/report/html/report.js")


def test_sdist_carries_the_report_pages_css_and_javascript(sdist: Path) -> None:
    """report.css and report.js are package data: in the sdist, byte for byte as in the checkout."""
    with tarfile.open(sdist) as archive:
        members = {name.split("/", 1)[1]: name for name in archive.getnames() if "/" in name}
        for asset in REPORT_ASSETS:
            assert asset in members, f"{asset} is not in {sdist.name}"
            extracted = archive.extractfile(members[asset])
            assert extracted is not None
            assert extracted.read() == (ROOT / asset).read_bytes()


def test_installed_package_renders_the_same_report_page(installed: Path, tmp_path: Path) -> None:
    """The wheel's render_html reads its CSS and JavaScript from the installed package: the checkout's page."""
    from nonstop.report import report_json
    from nonstop.report.html import render_html
    from tests.report.report_factory import made_up_report

    report = made_up_report(failures=40, serve_after=0.2)
    saved = tmp_path / "report.json"
    saved.write_text(report_json(report), encoding="utf-8")
    rendered = _run(
        [
            str(installed / "bin" / "python"),
            "-c",
            (
                "import sys\nfrom importlib import resources\nfrom pathlib import Path\n"
                "from nonstop.report import load_report\n"
                "from nonstop.report.html import render_html\n"
                "for name in ('report.css', 'report.js'):\n"
                "    print(resources.files('nonstop.report.html').joinpath(name))\n"
                "open(sys.argv[2], 'w', encoding='utf-8').write(render_html(load_report(Path(sys.argv[1]))))"
            ),
            str(saved),
            str(tmp_path / "report.html"),
        ],
        cwd=tmp_path,
    )
    assert rendered.returncode == 0, rendered.stderr
    assert all(path.startswith(str(installed)) for path in rendered.stdout.split())
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page == render_html(report)
    assert "--ok:#1a7f37" in page
    assert 'document.getElementById("chart")' in page
