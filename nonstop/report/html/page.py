"""The page itself: head, verdict header, checks, then the timeline and tables; CSS and JavaScript come from
report.css and report.js beside this module (package data).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from nonstop.report.html.scale import Scale, clock, esc, stamp, ts
from nonstop.report.html.tables import events_table, lint_list, pods_table, result_class
from nonstop.report.html.timeline import LEGEND, timeline_svg
from nonstop.report.model import Report

__all__ = ["render_html"]

_VERDICT_TEXT = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}


def render_html(report: Report) -> str:
    """The whole report.html for `report` (UTF-8 text)."""
    scale = Scale.of(report)
    verdict = report.verdict
    title = f"nonstop: {report.drill} — {_VERDICT_TEXT.get(verdict, verdict.upper())}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>\n{_asset('report.css')}</style></head>",
        f'<body class="verdict-{esc(verdict)}">',
        _header(report),
        _checks(report),
        '<section id="timeline"><h2>Timeline</h2>',
        timeline_svg(report, scale),
        LEGEND,
        "</section>",
        pods_table(report, scale),
        events_table(report.events, scale),
        lint_list(report),
        (
            '<footer>Rendered by nonstop from report.json. Times are UTC on the drill\'s clock; "t" counts from the '
            "rollout action.</footer>"
        ),
        f"<script>\n{_asset('report.js')}</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


@cache
def _asset(name: str) -> str:
    """report.css or report.js, shipped beside this module as package data."""
    return resources.files("nonstop.report.html").joinpath(name).read_text(encoding="utf-8")


def _header(report: Report) -> str:
    r = report.requests
    window = report.window
    if window.start is not None and window.end is not None:
        span = f"{stamp(window.start)} → {clock(window.end)} ({ts(window.end) - ts(window.start):.1f} s)"
    elif window.start is not None:
        span = f"{stamp(window.start)} → never closed"
    else:
        span = "the rollout never started"
    p50 = "–" if r.p50_ms is None else f"{r.p50_ms:.1f} ms"
    p99 = "–" if r.p99_ms is None else f"{r.p99_ms:.1f} ms"
    classes = ", ".join(f"{count} {name}" for name, count in sorted(r.failures_by_class.items()))
    failed = f"{r.failed} failed ({r.failure_ratio:.2%}{'; ' + classes if classes else ''})"
    return (
        '<header id="verdict">'
        f'<div class="badge">{esc(_VERDICT_TEXT.get(report.verdict, report.verdict))}</div>'
        f"<div><h1>{esc(report.drill)}</h1>"
        f'<p class="decision">decision <b>{esc(report.decision)}</b> → action <b>{esc(report.action)}</b></p>'
        f'<p class="facts">window {esc(span)} · {r.total} requests, {esc(failed)} · p50 {p50} · p99 {p99}'
        f" · unattributed failures {r.unattributed_failures}</p></div></header>"
    )


def _mark(passed: bool | None) -> str:
    if passed is None:
        return '<span class="mark inconclusive">inconclusive</span>'
    return '<span class="mark pass">pass</span>' if passed else '<span class="mark fail">FAIL</span>'


def _checks(report: Report) -> str:
    rows = "".join(
        f'<tr class="{result_class(c.passed)}"><td>{esc(c.name)}</td><td>{_mark(c.passed)}</td>'
        f"<td>{esc(c.summary)}</td></tr>"
        for c in report.checks
    )
    said = {f"{c.name}: {c.summary}" for c in report.checks}
    why = [reason for reason in report.verdict_reasons if reason not in said]
    parts = [
        '<section id="checks"><h2>Checks</h2>',
        f"<table><thead><tr><th>check</th><th>result</th><th>summary</th></tr></thead><tbody>{rows}</tbody></table>",
    ]
    if why:
        parts.append('<div class="why"><h3>Why the verdict is ' + esc(report.verdict) + "</h3><ul>")
        parts += [f"<li>{esc(reason)}</li>" for reason in why]
        parts.append("</ul></div>")
    if report.notes:
        parts.append('<div class="notes"><h3>Notes</h3><ul>')
        parts += [f"<li>{esc(note)}</li>" for note in report.notes]
        parts.append("</ul></div>")
    parts.append("</section>")
    return "".join(parts)
