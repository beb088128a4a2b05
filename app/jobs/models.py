"""The job record, as the queue stores it and the API shows it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

JobKind = Literal["enrol", "refresh", "sync"]
JobStatus = Literal["queued", "running", "succeeded", "partial", "failed"]
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "partial", "failed"})

PRIORITY_INTERACTIVE = 0
PRIORITY_BATCH = 1
PRIORITY_OF: dict[str, int] = {
    "enrol": PRIORITY_INTERACTIVE,
    "refresh": PRIORITY_INTERACTIVE,
    "sync": PRIORITY_BATCH,
}


@dataclass(frozen=True)
class Failure:
    learner_id: int
    reason: str


@dataclass(frozen=True)
class Job:
    id: int
    kind: JobKind
    status: JobStatus
    priority: int
    learner_id: int | None
    params: dict[str, Any]
    progress_done: int
    progress_total: int | None
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    failures: list[Failure] = field(default_factory=list)
    failure_count: int = 0
    claim: int | None = None  # the token of the current claim (app/jobs/worker.py)
    claim_epoch: int | None = None  # the leadership epoch it was claimed under

    @classmethod
    def from_row(cls, row: Any) -> Job:
        return cls(
            id=row["id"],
            kind=row["kind"],
            status=row["status"],
            priority=row["priority"],
            learner_id=row["learner_id"],
            params=row["params"] or {},
            progress_done=row["progress_done"],
            progress_total=row["progress_total"],
            result=row["result"],
            error=row["error"],
            attempts=row["attempts"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            claim=row["claim"],
            claim_epoch=row["claim_epoch"],
        )

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class Outcome:
    """What a job handler returns: the final status and a result without personal data."""

    status: Literal["succeeded", "partial", "failed"]
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
