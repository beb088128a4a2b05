"""Request and response bodies of the public API.

Request bodies are strict: where the document says boolean, only `true`/`false`; where it
says integer, a JSON number without a fraction — `3`, and `3.0`, which JSON Schema counts as
an integer — never `"3"` or `true` (422 naming the field). Ids are Postgres bigints; their bound
is an exclusive maximum of 2^63 because FastAPI's document model stores bounds as floats, where
2^63 is exact and 2^63 − 1 is not (it would read 2^63).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, conlist

ID_BOUND = 2**63  # ids are < 2^63: Postgres bigint


def _json_integer(value: Any) -> Any:
    """A JSON number (3 or 3.0); a string or a boolean is not an integer here."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


# Lax int after the check above: accepts 3.0 (as 3), refuses 3.5.
LearnerId = Annotated[int, Strict(False), Field(gt=0, lt=ID_BOUND), BeforeValidator(_json_integer)]
MAX_REFRESH_LEARNERS = 1000


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    learner_ids: conlist(LearnerId, min_length=1, max_length=MAX_REFRESH_LEARNERS)  # type: ignore[valid-type]
    dry_run: bool = False


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    full: bool | None = Field(
        default=None,
        description="true: read every enrolled learner; false: only those changed on either "
        "side; absent or null: full when the last full run started more than "
        "FULL_SYNC_EVERY_DAYS ago (or none finished), else incremental.",
    )
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


HistoryValue = str | int | float | bool | None
MAX_HISTORY_LIMIT = 1000
DEFAULT_HISTORY_LIMIT = 100


class ChangeOut(BaseModel):
    """One field written by enrolment or the exchange (rule B11)."""

    at: dt.datetime
    job_id: int | None
    rule: str = Field(description="As in the exchange rules: A6, B2, …")
    side: Literal["picsweb", "onefile"]
    entity: str = Field(description="PICSWeb's table, or the OneFile entity.")
    entity_id: int = Field(description="The row's id on that side.")
    field: str = Field(description='"created" for a record created in OneFile.')
    old: HistoryValue
    new: HistoryValue = Field(description="For `created`: the OneFile id.")


class HistoryOut(BaseModel):
    learner_id: int
    changes: list[ChangeOut] = Field(description="Newest first.")
