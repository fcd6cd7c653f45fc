"""The tables under the timeline: pods (times relative to the rollout action), events, static findings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from nonstop.report.html.scale import Scale, clock, esc, stamp, ts
from nonstop.report.model import EventEntry, Report

__all__ = ["events_table", "lint_list", "pods_table", "result_class"]


def result_class(passed: bool | None) -> str:
    return {True: "ok", False: "bad", None: "unsure"}[passed]


def _cell_time(value: datetime | None, scale: Scale, suffix: str = "") -> str:
    if value is None:
        return '<td class="none">–</td>'
    return f'<td title="{esc(stamp(value))}">{esc(scale.rel(ts(value)) + suffix)}</td>'


def pods_table(report: Report, scale: Scale) -> str:
    minimum = report.ordering.min_serve_after_unready_seconds
    head = (
        "<tr><th>pod</th><th>role</th><th>created</th><th>ready</th><th>deletion</th><th>left endpoints</th>"
        "<th>last answered</th><th>stopped accepting</th><th>exited (code)</th>"
        f"<th>served after leaving endpoints{'' if minimum is None else f' (min {minimum:g} s)'}</th>"
        "<th>in order</th><th>failures</th><th>retries</th><th>exited by itself</th><th>why</th></tr>"
    )
    rows = []
    for pod in report.pods:
        serve = pod.serve_after_unready_seconds
        order = {True: '<span class="mark pass">yes</span>', False: '<span class="mark fail">no</span>', None: "–"}
        failures = str(pod.failures_attributed)
        if pod.failures_ambiguous:
            failures += f" ({pod.failures_ambiguous} shared)"
        row_class = "" if pod.ordering_ok is None else result_class(pod.ordering_ok)
        rows.append(
            f'<tr data-pod="{esc(pod.name)}" class="{row_class}">'
            f"<td>{esc(pod.name)}</td><td>{pod.role}</td>"
            + "".join(
                _cell_time(t, scale)
                for t in (
                    pod.created_at,
                    pod.ready_at,
                    pod.deleted_at,
                    pod.endpoint_unready_at,
                    pod.last_routed_at,
                    pod.stopped_accepting_at,
                )
            )
            + _cell_time(pod.exited_at, scale, "" if pod.exit_code is None else f" ({pod.exit_code})")
            + f"<td>{'–' if serve is None else f'{serve:.2f} s'}</td>"
            + f"<td>{order[pod.ordering_ok]}</td><td>{esc(failures)}</td><td>{pod.retries}</td>"
            + f'<td title="{esc(pod.graceful_exit_reason or "")}">{order[pod.graceful_exit]}</td>'
            + f"<td>{esc(pod.ordering_reason or '')}{'' if pod.measurable else ' (not measurable)'}"
            + ("" if pod.graceful_exit is not False else f"; {esc(pod.graceful_exit_reason or '')}")
            + "</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="15">no pod of the target was seen</td></tr>'
    return (
        '<section id="pods"><h2>Pods</h2><p class="hint">Times relative to the rollout action (t = 0); hover a '
        f'cell for the UTC time.</p><div class="scroll"><table><thead>{head}</thead><tbody>{body}</tbody></table>'
        "</div></section>"
    )


def events_table(events: Sequence[EventEntry], scale: Scale) -> str:
    rows = []
    for event in events:
        kind, _, name = event.object.partition("/")
        shown = f"{kind.lower()}/{name}" if name else event.object
        count = f" (x{event.count})" if event.count and event.count > 1 else ""
        rows.append(
            f'<tr class="{"warning" if (event.type or "").lower() == "warning" else ""}">'
            f'<td title="{esc(stamp(event.at))}">{clock(event.at)}</td><td>{esc(scale.rel(ts(event.at)))}</td>'
            f"<td>{esc(event.type or '')}</td><td>{esc(event.reason)}</td><td>{esc(shown)}</td>"
            f"<td>{esc(event.message)}{count}</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="6">no event was recorded</td></tr>'
    return (
        '<section id="events"><h2>Events</h2><p class="hint">As <code>kubectl get events '
        "--sort-by=.metadata.creationTimestamp</code> lists them.</p>"
        '<div class="scroll"><table class="events"><thead><tr><th>AT (UTC)</th><th>T</th><th>TYPE</th><th>REASON</th>'
        f"<th>OBJECT</th><th>MESSAGE</th></tr></thead><tbody>{body}</tbody></table></div></section>"
    )


def lint_list(report: Report) -> str:
    if not report.lint:
        return ""
    items = []
    for finding in report.lint:
        where = "/".join(str(finding[k]) for k in ("kind", "name") if finding.get(k))
        if finding.get("container"):
            where += f" container {finding['container']}"
        items.append(
            f'<li><span class="sev {esc(finding.get("severity", ""))}">{esc(finding.get("severity", ""))}</span> '
            f"<b>{esc(finding.get('rule', ''))}</b> {esc(where)}: {esc(finding.get('message', ''))}</li>"
        )
    return (
        f'<section id="lint"><details><summary>Static findings on the live objects ({len(report.lint)})</summary>'
        f"<ul>{''.join(items)}</ul></details></section>"
    )
