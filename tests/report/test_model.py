"""report.json from realistic evidence: every CONTRACT.md key, valid against the published schema."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from checks import DrillProblem, DrillWindow, Judgement, PodTimeline, RequestSample, judge_drill
from nonstop.report import Report, build_report, format_timestamp

SCHEMA = json.loads((Path(__file__).parents[1] / "data" / "schemas" / "report.schema.json").read_text())
T0 = datetime(2026, 11, 27, 13, 0, 0, tzinfo=UTC).timestamp()

CONTRACT_POD_KEYS = {
    "name", "role", "createdAt", "readyAt", "wasServing", "deletedAt", "endpointUnreadyAt", "lastRoutedAt",
    "stoppedAcceptingAt", "exitedAt", "exitCode", "serveAfterUnreadySeconds", "failuresAttributed", "orderingOk",
}  # fmt: skip


@dataclass
class _ObservedTimelineEntry:
    """Shaped like the drill observer's own timeline entries (attributes, epoch seconds)."""

    at: float
    source: str
    what: str


def _restart_drill(*, fixed: bool) -> tuple[list[RequestSample], list[PodTimeline]]:
    """A `kubectl rollout restart` of 2 replicas under 50 req/s; unfixed, old pods exit at SIGTERM."""
    old = []
    new = []
    for i, deleted in enumerate((T0 + 3.0, T0 + 9.0)):
        stop = deleted + (5.0 if fixed else 0.01)
        old.append(
            PodTimeline(
                name=f"web-7d9c-old{i}",
                role="old",
                created_at=T0 - 600,
                ready_at=T0 - 598,
                was_serving=True,
                deleted_at=deleted,
                endpoint_unready_at=deleted + 0.004,
                last_routed_at=deleted + (0.98 if fixed else 0.0),
                stopped_accepting_at=stop,
                exited_at=stop + 0.1,
                exit_code=0 if fixed else 143,
            )
        )
        new.append(
            PodTimeline(
                name=f"web-5f6a-new{i}",
                role="new",
                created_at=deleted - 2.0,
                ready_at=deleted - 0.5,
                was_serving=True,
            )
        )
    samples = []
    for n in range(30 * 50):
        at = T0 - 5 + n * 0.02
        lost = not fixed and any(p.deleted_at and p.deleted_at <= at <= p.deleted_at + 1.0 for p in old)
        if lost and n % 2:
            samples.append(RequestSample(at=at, latency_ms=0.4, failure="refused"))
        else:
            samples.append(RequestSample(at=at, latency_ms=3.0 + n % 7, pod=old[n % 2].name, status=200))
    return samples, old + new


def _judge(samples: list[RequestSample], pods: list[PodTimeline], **kw: Any) -> Judgement:
    settings: dict[str, Any] = {
        "window": DrillWindow(start=T0, end=T0 + 15.0),
        "max_failure_ratio": 0.0,
        "max_p99_ms": None,
        "min_requests": 100,
        "min_serve_after_unready_seconds": 1.0,
        "expect_terminations": True,
        "series_start": T0 - 5,
        "series_end": T0 + 24.999,
    } | kw
    return judge_drill(samples, pods, **settings)


def _report(judgement: Judgement, **kw: Any) -> Report:
    return build_report(
        judgement,
        drill="web-restart",
        decision=kw.pop("decision", "promote" if judgement.verdict.verdict == "pass" else "rollback"),
        action=kw.pop("action", "promoted" if judgement.verdict.verdict == "pass" else "none"),
        events=[
            {"at": T0 + 9.01, "object": "Pod/web-7d9c-old1", "reason": "Killing", "message": "Stopping container web"},
            {
                "at": T0 + 3.01,
                "object": "Pod/web-7d9c-old0",
                "reason": "Killing",
                "message": "Stopping container web",
                "type": "Normal",
                "count": 1,
            },
        ],
        lint=[
            {
                "rule": "prestop-hook-missing",
                "severity": "warning",
                "kind": "Deployment",
                "name": "web",
                "namespace": "default",
                "container": "web",
                "file": None,
                "line": None,
                "message": "…",
            }
        ],
        timeline=kw.pop(
            "timeline",
            [
                _ObservedTimelineEntry(T0 + 3.0, "pod", "web-7d9c-old0 deleting"),
                {"at": T0, "source": "action", "what": "rollout restart of Deployment/web"},
            ],
        ),
        notes=["chaos skipped: restart sends SIGTERM to every old pod itself"],
        **kw,
    )


def test_a_passing_restart_report_has_every_contract_key_and_validates() -> None:
    samples, pods = _restart_drill(fixed=True)
    document = _report(_judge(samples, pods)).to_json_dict()
    jsonschema.validate(document, SCHEMA)
    assert set(SCHEMA["required"]) <= set(document)
    assert document["verdict"] == "pass"
    assert document["decision"] == "promote"
    assert document["action"] == "promoted"
    assert [c["name"] for c in document["checks"]] == ["error-budget", "endpoint-ordering", "graceful-exit"]
    assert document["checks"][1]["summary"] == "2 of 2 terminated pods served ≥ 1.0 s after leaving endpoints"
    assert set(document["requests"]) >= set(SCHEMA["properties"]["requests"]["required"])
    assert document["requests"]["failuresByClass"] == {}
    for pod in document["pods"]:
        assert set(pod) >= CONTRACT_POD_KEYS


def test_a_failing_restart_report_validates_and_charges_the_old_pods() -> None:
    samples, pods = _restart_drill(fixed=False)
    document = _report(_judge(samples, pods)).to_json_dict()
    jsonschema.validate(document, SCHEMA)
    assert document["verdict"] == "fail"
    assert document["decision"] == "rollback"
    assert [c["passed"] for c in document["checks"]] == [False, False, True]
    assert document["requests"]["failuresByClass"] == {"refused": document["requests"]["failed"]}
    assert document["requests"]["unattributedFailures"] == 0
    old = {p["name"]: p for p in document["pods"] if p["role"] == "old"}
    assert sum(p["failuresAttributed"] for p in old.values()) == document["requests"]["failed"]
    assert all(p["orderingOk"] is False for p in old.values())
    assert document["verdictReasons"][0].startswith("error-budget: ")


def test_an_inconclusive_report_has_null_window_end_and_validates() -> None:
    samples, pods = _restart_drill(fixed=True)
    judgement = _judge(
        samples,
        pods,
        window=DrillWindow(start=T0, end=None),
        problems=[DrillProblem("interrupted", "SIGTERM after the rollout started")],
    )
    document = _report(judgement, decision="rollback", action="none").to_json_dict()
    jsonschema.validate(document, SCHEMA)
    assert document["verdict"] == "inconclusive"
    assert document["window"]["end"] is None
    assert document["verdictReasons"] == ["interrupted: SIGTERM after the rollout started"]


def test_timestamps_are_rfc3339_with_milliseconds_in_utc() -> None:
    samples, pods = _restart_drill(fixed=True)
    document = _report(_judge(samples, pods)).to_json_dict()
    assert document["window"]["start"] == "2026-11-27T13:00:00.000Z"
    assert document["window"]["end"] == "2026-11-27T13:00:15.000Z"
    old0 = next(p for p in document["pods"] if p["name"] == "web-7d9c-old0")
    assert old0["endpointUnreadyAt"] == "2026-11-27T13:00:03.004Z"
    assert format_timestamp(datetime.fromtimestamp(T0 + 0.0005, UTC)) in {
        "2026-11-27T13:00:00.000Z",
        "2026-11-27T13:00:00.001Z",
    }


def test_pods_not_judged_have_null_ordering_fields() -> None:
    samples, pods = _restart_drill(fixed=True)
    document = _report(_judge(samples, pods)).to_json_dict()
    new = [p for p in document["pods"] if p["role"] == "new"]
    assert len(new) == 2
    assert all(p["serveAfterUnreadySeconds"] is None and p["orderingOk"] is None for p in new)
    assert [p["role"] for p in document["pods"]] == ["old", "old", "new", "new"]


def test_series_has_one_bucket_per_second_of_the_drill() -> None:
    samples, pods = _restart_drill(fixed=True)
    document = _report(_judge(samples, pods)).to_json_dict()
    assert len(document["series"]) == 30
    assert sum(b["requests"] for b in document["series"]) == len(samples)
    assert document["series"][0]["at"] == "2026-11-27T12:59:55.000Z"


def test_events_and_timeline_are_sorted_by_time_and_shaped_as_the_contract() -> None:
    samples, pods = _restart_drill(fixed=True)
    document = _report(_judge(samples, pods)).to_json_dict()
    assert [e["object"] for e in document["events"]] == ["Pod/web-7d9c-old0", "Pod/web-7d9c-old1"]
    assert set(document["events"][0]) >= {"at", "object", "reason", "message"}
    assert [t["source"] for t in document["timeline"]] == ["action", "pod"]
    assert document["lint"][0]["rule"] == "prestop-hook-missing"


def test_a_report_reads_back_to_the_same_json() -> None:
    samples, pods = _restart_drill(fixed=False)
    report = _report(_judge(samples, pods))
    again = Report.model_validate_json(json.dumps(report.to_json_dict()))
    assert again.to_json_dict() == report.to_json_dict()


def test_an_unknown_timeline_source_is_rejected() -> None:
    samples, pods = _restart_drill(fixed=True)
    with pytest.raises(ValidationError, match="source"):
        _report(_judge(samples, pods), timeline=[{"at": T0, "source": "kubelet", "what": "x"}])


def test_the_schema_rejects_what_the_contract_forbids() -> None:
    """The copied schema is strict enough to catch a wrong report (guards the validation tests above)."""
    samples, pods = _restart_drill(fixed=True)
    document = _report(_judge(samples, pods)).to_json_dict()
    document["verdict"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)
