"""What the demo prints: plain words and tables for a person, never the API's internal keys.

The service's job results are made for programs (`learners.to_exchange`, `reviews_read`);
here each figure gets a sentence-case label, in the order a person asks about them: what was
looked at, what changed on each side, what it cost in OneFile calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from app.follow import SYNC_FIGURES, figure_rows

ENROL_OUTCOMES = {
    "succeeded": "Enrolled in OneFile",
    "partial": "Enrolled, some records left out",
    "failed": "Failed (enrolling again resumes)",
    "refused": "Refused: data missing in PICSWeb (rule A1)",
}


def _dig(result: Mapping[str, Any], path: str) -> Any:
    value: Any = result
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _table(title: str) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("how many", justify="right")
    return table


def generated_table(counts: Mapping[str, int]) -> Table:
    """The PICSWeb data the demo generated."""
    table = _table("PICSWeb: sample data generated")
    for key, label in (
        ("learners", "Learners"),
        ("officers", "Officers (assessors)"),
        ("organisations", "Employers"),
        ("placements", "Placements"),
        ("learner_qualifications", "Learner qualifications"),
        ("reviews", "Reviews"),
    ):
        table.add_row(label, f"{counts.get(key, 0):,}")
    return table


def enrolment_table(outcomes: Mapping[str, int], seconds: float, calls: int) -> Table:
    """How each learner's enrolment ended, and what it cost."""
    table = _table("Enrolment")
    table.add_row("Learners asked for", f"{sum(outcomes.values()):,}")
    for key, label in ENROL_OUTCOMES.items():
        if outcomes.get(key):
            table.add_row(label, f"{outcomes[key]:,}")
    for key, count in sorted(outcomes.items()):
        if key not in ENROL_OUTCOMES:
            table.add_row(f"Other answer ({key})", f"{count:,}")
    table.add_row("OneFile calls", f"{calls:,}")
    table.add_row("Time", f"{seconds:.1f} s")
    return table


def sync_table(label: str, job: Mapping[str, Any], calls: int, seconds: float) -> Table:
    """One sync, in words: which learners, what changed where, what it cost."""
    result: Mapping[str, Any] = job.get("result") or {}
    status = "finished" if job["status"] == "succeeded" else job["status"]
    table = _table(f"{label}: job {job['id']} {status} in {seconds:.1f} s")
    # The service's own words for its figures (app/follow.py), as `onefile-sync sync` prints them.
    for name, value in figure_rows(dict(result), SYNC_FIGURES):
        table.add_row(name, value)
    looked_at = _dig(result, "learners.to_exchange") or 0
    per = f"{calls / looked_at:.2f}" if looked_at else "none needed"
    table.add_row("OneFile calls per learner looked at", per)
    return table


@dataclass(frozen=True)
class Closing:
    """What the closing summary says."""

    learners: int
    enrolled: int
    refused: int
    syncs: Sequence[tuple[str, str, int]]  # (label, status, OneFile calls)
    seconds: float
    database: str  # where the data lives: a URL without any password
    data_dir: str | None  # the embedded Postgres's directory, when one was started
    simulator: str
    service: str


NEXT_STEPS = (
    ("onefile-sync-dev demo --learners 2000", "a bigger centre"),
    ("onefile-sync-dev simulate --realistic", "the simulator alone (PICSWeb developers)"),
    ('README.md, "Run it by hand"', "the service against the simulator, by hand"),
    ("make test", "the whole suite"),
)


def closing_lines(c: Closing) -> list[str]:
    """The demo's last words: what ran, the figures, where the data is, what to try next."""
    lines = [
        "",
        "Demo finished.",
        f"  What ran: PICSWeb asked the service to enrol {c.learners:,} generated learners in a",
        f"  simulated OneFile ({c.enrolled:,} enrolled, {c.refused:,} refused for missing data);",
        "  assessors then changed a third of them in OneFile, and the service synced twice:",
    ]
    for label, status, calls in c.syncs:
        lines.append(f"    {label}: {status}, {calls:,} OneFile calls")
    lines += [
        "  The second sync follows the first within seconds: every learner is still inside the",
        "  10-minute overlap of OneFile's change search, so each may be checked and read again.",
        "  Hours later, a centre where nothing changed costs one call.",
    ]
    lines += [
        f"  Total time: {c.seconds:.0f} s",
        "",
        "Where the data lives:",
        "  PICSWeb's tables and the service's own tables (schema onefile_sync) are in",
        f"  {c.database}",
    ]
    if c.data_dir:
        lines.append(f"  an embedded PostgreSQL whose files are in {c.data_dir} (stopped now)")
    lines += [
        f"  The OneFile simulator ran at {c.simulator}, the service at {c.service}:",
        "  both stopped with the demo.",
        "",
        "What to try next:",
    ]
    lines += [f"  {command:<40}{what}" for command, what in NEXT_STEPS]
    return lines
