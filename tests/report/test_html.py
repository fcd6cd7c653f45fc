"""report.html as a pure function of the Report: what a reader must find in it, and its size."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from report_factory import made_up_report

from checks.verdict import DrillProblem
from nonstop.report import EventEntry
from nonstop.report.html import render_html

SVG = "{http://www.w3.org/2000/svg}"


def _svg(page: str) -> ET.Element:
    """The timeline, parsed as XML (so it must be well-formed)."""
    match = re.search(r"<svg id=\"chart\".*?</svg>", page, re.DOTALL)
    assert match is not None
    return ET.fromstring(match.group(0))


def _lanes(page: str) -> dict[str, ET.Element]:
    return {g.get("data-pod", ""): g for g in _svg(page).iter(f"{SVG}g") if "lane" in (g.get("class") or "").split()}


def test_verdict_decision_and_check_summaries_come_first() -> None:
    """The verdict badge, the decision and every check's summary are in the header and checks, before the chart."""
    report = made_up_report(failures=40, serve_after=0.2)
    page = render_html(report)
    assert report.verdict == "fail"
    assert '<div class="badge">FAIL</div>' in page
    assert "decision <b>rollback</b> → action <b>rolled-back</b>" in page
    chart_at = page.index('<svg id="chart"')
    assert [check.passed for check in report.checks] == [False, False, True]
    for check in report.checks:
        position = page.index(check.summary.replace("<", "&lt;").replace(">", "&gt;"))
        assert position < chart_at
    assert "<title>nonstop: web-restart — FAIL</title>" in page


def test_inconclusive_reasons_no_check_shows_are_listed() -> None:
    """A reason beyond the checks (interrupted) is spelled out under the checks."""
    report = made_up_report(problems=(DrillProblem("interrupted", "SIGINT/SIGTERM after the rollout started"),))
    assert report.verdict == "inconclusive"
    page = render_html(report)
    assert '<div class="badge">INCONCLUSIVE</div>' in page
    assert "Why the verdict is inconclusive" in page
    assert "SIGINT/SIGTERM after the rollout started" in page


def test_one_lane_per_pod_even_with_no_failure() -> None:
    """A passing drill with 0 failures still draws a lane per pod, old and new, with each moment marked."""
    report = made_up_report()
    assert report.verdict == "pass"
    assert report.requests.failed == 0
    lanes = _lanes(render_html(report))
    assert set(lanes) == {p.name for p in report.pods}

    def moments(lane: ET.Element) -> set[str | None]:
        return {m.get("class") for m in lane.iter(f"{SVG}g") if "moment" in (m.get("class") or "")}

    old, new = lanes["web-old-0"], lanes["web-new-0"]
    assert {"moment deleted", "moment left", "moment stopped", "moment exited"} <= moments(old)
    assert "◀ created" in "".join(old.itertext())  # created an hour before the chart: marked at its edge
    assert {"moment created", "moment ready"} <= moments(new)
    assert "lane new" in (new.get("class") or "")
    assert all(r.get("class") != "lane-fail" for lane in lanes.values() for r in lane.iter(f"{SVG}rect"))


def test_the_gap_is_red_below_the_minimum_and_green_above() -> None:
    """The stretch between leaving the endpoints and stopping accepting is marked short (red) under the minimum."""
    short = _lanes(render_html(made_up_report(serve_after=0.2)))["web-old-0"]
    long = _lanes(render_html(made_up_report(serve_after=5.0)))["web-old-0"]
    short_gap = next(g for g in short.iter(f"{SVG}g") if (g.get("class") or "").startswith("gap"))
    long_gap = next(g for g in long.iter(f"{SVG}g") if (g.get("class") or "").startswith("gap"))
    assert short_gap.get("class") == "gap short"
    assert "0.20 s < 1 s" in "".join(short_gap.itertext())
    assert long_gap.get("class") == "gap ok"
    assert "5.00 s ≥ 1 s" in "".join(long_gap.itertext())


def test_failures_are_drawn_in_the_lane_of_the_pod_they_are_charged_to() -> None:
    """Failures answered by web-old-0 show in its lane, when they happened; unattributed ones get their own lane."""
    report = made_up_report(failures=300, serve_after=0.2, unattributed=20)
    page = render_html(report)
    lanes = _lanes(page)
    marks = [r for r in lanes["web-old-0"].iter(f"{SVG}rect") if r.get("class") == "lane-fail"]
    assert marks
    counted = [re.search(r": (\d+) failed", r.findtext(f"{SVG}title") or "") for r in marks]
    assert sum(int(m.group(1)) for m in counted if m) == 300
    assert not [r for r in lanes["web-new-0"].iter(f"{SVG}rect") if r.get("class") == "lane-fail"]
    assert "unattributed failures" in page
    assert report.requests.unattributed_failures == 20


def test_thousands_of_failures_keep_the_page_small() -> None:
    """5,000 failures are folded into columns: the page stays under 300 KB and close to a clean drill's size."""
    clean = render_html(made_up_report())
    noisy = render_html(made_up_report(failures=5000, serve_after=0.2, unattributed=500, old_pods=5))
    assert len(noisy.encode()) < 300_000
    assert len(noisy.encode()) < 3 * len(clean.encode())


def test_nothing_is_fetched_from_the_network() -> None:
    """No external stylesheet, script, image or font: everything is inline."""
    page = render_html(made_up_report(failures=10))
    assert not re.search(r"<(link|img|iframe)\b", page)
    assert not re.search(r"\bsrc=", page)
    assert not re.search(r"url\(", page)
    assert re.findall(r"https?://[^\"' )]+", page) == ["http://www.w3.org/2000/svg"]  # the SVG namespace only
    assert "<style>" in page
    assert "<script>" in page


def test_events_are_listed_like_kubectl_get_events() -> None:
    """Columns as kubectl shows them, objects as kind/name in lower case, oldest first, warnings included."""
    page = render_html(made_up_report())
    table = page[page.index('<table class="events">') :]
    assert "<th>TYPE</th><th>REASON</th><th>OBJECT</th><th>MESSAGE</th>" in table
    killing, unhealthy = table.index("Killing"), table.index("Unhealthy")
    assert table.index("ScalingReplicaSet") < killing < unhealthy
    assert "<td>pod/web-old-0</td>" in table
    assert '<tr class="warning">' in table


def test_text_from_the_cluster_is_escaped() -> None:
    """An event message or drill name with markup cannot inject HTML."""
    report = made_up_report(drill="web<script>alert(1)</script>")
    report.events.append(EventEntry(at=report.events[-1].at, object="Pod/x", reason="Bad", message="<img src=x>"))
    page = render_html(report)
    assert "<script>alert(1)" not in page
    assert "&lt;img src=x&gt;" in page
    _svg(page)  # still well-formed


def test_pods_table_has_the_ordering_figures() -> None:
    """Each pod's row has its served-after-unready figure, its in-order mark and its failures."""
    page = render_html(made_up_report(failures=7, serve_after=0.2))
    row = re.search(r'<tr data-pod="web-old-0".*?</tr>', page, re.DOTALL)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0))
    assert "0.20 s" in cells
    assert '<span class="mark fail">no</span>' in cells
    assert "7" in cells
    assert "(min 1 s)" in page


def test_rendering_is_deterministic() -> None:
    """Same report, same page (no clock, no randomness): a re-render from report.json matches."""
    report = made_up_report(failures=12)
    assert render_html(report) == render_html(report)


def test_a_drill_whose_rollout_never_started_still_renders() -> None:
    """No window, no request, no event: the page says so instead of failing, and the SVG stays well-formed."""
    report = made_up_report().model_copy(update={"series": [], "events": [], "timeline": [], "failure_buckets": []})
    report.window.start = None
    report.window.end = None
    page = render_html(report)
    assert "the rollout never started" in page
    assert "no request was recorded" in page
    assert "no event was recorded" in page
    assert set(_lanes(page)) == {p.name for p in report.pods}


def test_a_window_that_never_closed_is_said() -> None:
    """Inconclusive with the window still open: the header says it never closed."""
    report = made_up_report(problems=(DrillProblem("deadline-passed", "the window did not close"),))
    report.window.end = None
    page = render_html(report)
    assert "→ never closed" in page
    assert "drill window (never closed)" in page
    _svg(page)
