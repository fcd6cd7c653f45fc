"""`report.html`: one self-contained page a person reads at a glance (verdict, why, timeline, pods, events).

`render_html(report)` is a pure function of the `Report`: no clock, no file, no network. The page
inlines its CSS, its SVG and a few lines of JavaScript (a time cursor and lane ↔ row highlighting),
so it opens from an Argo artifact or an email attachment. The timeline draws requests/s,
failures/s and p99 latency over the drill, then one lane per pod (created → ready → deletion →
left endpoints → stopped accepting → exited) with the gap between leaving the endpoints and
stopping accepting highlighted (red when shorter than the drill's minimum), the rollout actions
and Kubernetes events as markers, and the failures charged to each pod where they happened.
Failures are drawn from `failureBuckets` folded into at most `MAX_COLUMNS` columns, so a drill
with thousands of failures gives a page of the same size as one with none.

One job per module: `page` (the document, header and checks), `timeline` (the SVG and its
legend), `series` (requests/failures/p99 chart), `lanes` (one lane per pod), `tables` (pods,
events, static findings), `scale` (geometry, time formatting, escaping); `report.css` and
`report.js` are package data, read with `importlib.resources`.
"""

from nonstop.report.html.page import render_html

__all__ = ["render_html"]
