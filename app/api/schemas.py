"""Request and response bodies of the public API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, conlist

LearnerId = Annotated[int, Field(gt=0, le=2**63 - 1)]


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    learner_ids: conlist(LearnerId, min_length=1, max_length=1000)  # type: ignore[valid-type]
    dry_run: bool = False


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full: bool = Field(default=False, description="Read every enrolled learner, not only changes.")
    dry_run: bool = Field(default=False, description="Report what would change; write nothing.")


class Progress(BaseModel):
    done: int
    total: int | None


class FailureOut(BaseModel):
    learner_id: int
    reason: str


class JobOut(BaseModel):
    id: int
    kind: Literal["enrol", "refresh", "sync"]
    status: Literal["queued", "running", "succeeded", "partial", "failed"]
    progress: Progress
    failures: list[FailureOut]
    failure_count: int = Field(description="All failures; `failures` lists the first 1,000.")
    learner_id: int | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None
    attempts: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class ErrorOut(BaseModel):
    error: str
    message: str


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "down"]
    leader: bool
    quota: dict[str, Any] | None = None
    last_sync: dict[str, Any] | None = None
