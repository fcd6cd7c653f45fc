"""One `nonstop lint` run: read every input, lint all objects together, keep where each finding came from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from checks.lint import LINTED_KINDS, SEVERITY_RANK, Finding, lint_objects, object_name, object_namespace
from nonstop.errors import InputError, TemplateError
from nonstop.lint.inputs import LoadedObject, expand_paths, load_text, read_source

__all__ = ["CheckedObject", "LintReport", "LocatedFinding", "lint_loaded", "lint_paths"]


@dataclass(frozen=True, slots=True)
class LocatedFinding:
    """A finding with the file and line of its object (both None for objects read from the API)."""

    finding: Finding
    file: str | None
    line: int | None

    def as_json(self) -> dict[str, object]:
        """CONTRACT.md's shape of one finding in `--format json`."""
        return self.finding.as_dict(file=self.file, line=self.line)


@dataclass(frozen=True, slots=True)
class CheckedObject:
    """One object the rules judged (a workload or a Service), for per-object output such as JUnit."""

    kind: str
    name: str
    namespace: str | None
    file: str | None
    line: int | None
    findings: tuple[LocatedFinding, ...]

    @property
    def ref(self) -> str:
        """`namespace/Kind/name`, or `Kind/name` without a namespace."""
        base = f"{self.kind}/{self.name}"
        return f"{self.namespace}/{base}" if self.namespace else base


@dataclass(slots=True)
class LintReport:
    """The findings of one run, the objects judged and the files read."""

    findings: list[LocatedFinding] = field(default_factory=list)
    objects: list[CheckedObject] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """One line per template file found in a folder and not linted (it must be rendered first)."""
    invalid: list[str] = field(default_factory=list)
    """One sentence per file found in a folder that could not be read or is not YAML (the run exits 2)."""

    def count(self, severity: str) -> int:
        """How many findings have this severity."""
        return sum(1 for f in self.findings if f.finding.severity == severity)

    def failed(self, fail_on: str) -> bool:
        """Whether any finding is at or above `fail_on` (`error`, `warning`; `never` never fails)."""
        if fail_on == "never":
            return False
        threshold = SEVERITY_RANK[fail_on]
        return any(SEVERITY_RANK[f.finding.severity] >= threshold for f in self.findings)

    def check_not_empty(self) -> None:
        """Raise InputError when templates were skipped and nothing else was left to lint.

        A CI gate on a chart folder must not pass silently because every manifest in it was a template.
        """
        if self.skipped and not self.objects:
            raise InputError(
                f"nothing to lint: {len(self.skipped)} template file(s) skipped and no workload, Service or "
                "PodDisruptionBudget in the rest; render the templates first, e.g. "
                "`helm template RELEASE CHART | nonstop lint -`"
            )


def lint_loaded(
    loaded: Sequence[LoadedObject], *, files: Sequence[str], require_pdb: bool = False, incomplete: Sequence[str] = ()
) -> LintReport:
    """Lint objects already read, all together (cross-object rules see every file); `incomplete` as in
    `checks.lint.lint_objects`.
    """
    findings = lint_objects([item.obj for item in loaded], require_pdb=require_pdb, incomplete=incomplete)
    report = LintReport(files=list(files))
    by_index: dict[int, list[LocatedFinding]] = {}
    for finding in findings:
        source = loaded[finding.index]
        located = LocatedFinding(finding, source.file, source.line)
        report.findings.append(located)
        by_index.setdefault(finding.index, []).append(located)
    for index, item in enumerate(loaded):
        if item.obj.get("kind") in LINTED_KINDS:
            report.objects.append(
                CheckedObject(
                    kind=str(item.obj["kind"]),
                    name=object_name(item.obj),
                    namespace=object_namespace(item.obj),
                    file=item.file,
                    line=item.line,
                    findings=tuple(by_index.get(index, ())),
                )
            )
    return report


def lint_paths(paths: Sequence[str], *, require_pdb: bool = False) -> LintReport:
    """Read files, folders (recursive `*.yaml`/`*.yml`) and `-` (stdin), then lint everything together.

    A template found in a folder (a file that fails to parse and holds `{{ }}`) is skipped and listed
    in `LintReport.skipped`; another file of a folder that cannot be read or parsed is listed in
    `LintReport.invalid` (the CLI exits 2 after the report); the rest is linted either way. Raises
    InputError (exit 2) for a missing path, or a file named directly (or stdin) that is unreadable,
    invalid YAML or a template, naming the file and line.
    """
    loaded: list[LoadedObject] = []
    names: list[str] = []
    skipped: list[str] = []
    invalid: list[str] = []
    for path, in_folder in expand_paths(paths):
        try:
            name, text = read_source(path)
            objects = load_text(name, text)
        except TemplateError as exc:
            if not in_folder:
                raise
            skipped.append(exc.skipped)
            continue
        except InputError as exc:
            if not in_folder:
                raise
            invalid.append(str(exc))
            continue
        names.append(name)
        loaded.extend(objects)
    incomplete = (
        [
            f"{len(skipped)} template file(s) of the input were skipped ({skipped[0].split(',', 1)[0]}"
            + (", …" if len(skipped) > 1 else "")
            + ")"
        ]
        if skipped
        else []
    )
    report = lint_loaded(loaded, files=names, require_pdb=require_pdb, incomplete=incomplete)
    report.skipped = skipped
    report.invalid = invalid
    return report
