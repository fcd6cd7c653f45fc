"""`nonstop report REPORT.json [--out FILE]`: re-render report.html from a saved report.json."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from report_factory import made_up_report

from nonstop.cli import main
from nonstop.report import write_report


def test_renders_beside_the_json_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --out the page lands beside report.json, the same page the drill wrote."""
    write_report(made_up_report(failures=5, serve_after=0.2), tmp_path)
    written = (tmp_path / "report.html").read_text(encoding="utf-8")
    (tmp_path / "report.html").unlink()
    main(["report", str(tmp_path / "report.json")])
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == written
    assert capsys.readouterr().out.strip() == str(tmp_path / "report.html")


def test_out_chooses_the_file(tmp_path: Path) -> None:
    """--out writes the page where asked."""
    write_report(made_up_report(), tmp_path)
    out = tmp_path / "elsewhere.html"
    main(["report", str(tmp_path / "report.json"), "--out", str(out)])
    assert '<div class="badge">PASS</div>' in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "cannot read the report"),
        ("not json at all", "is not a nonstop report.json"),
        ('{"drill": "x"}', "is not a nonstop report.json: verdict"),
    ],
)
def test_a_bad_report_is_one_sentence_and_exit_2(tmp_path: Path, content: str | None, said: str) -> None:
    """A missing, malformed or foreign file: exit 2, one line naming the file, no traceback."""
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "nonstop", "report", str(path)], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert said in lines[0]
    assert str(path) in lines[0]
    assert "Traceback" not in done.stderr


def test_an_unwritable_out_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    """--out into a folder that does not exist: exit 2 naming it."""
    write_report(made_up_report(), tmp_path)
    missing = tmp_path / "no" / "such" / "dir" / "page.html"
    done = subprocess.run([sys.executable, "-m", "nonstop", "report", str(tmp_path / "report.json"), "--out",
                           str(missing)], capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2
    assert f"cannot write {missing}" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
