"""OneFile's records as the service reads them, and how their values travel on the wire.

Records carry Python names; `app/onefile/wire.py` maps OneFile's field names onto them (the
only place those names are spelt). A record may be built from a thin search row that lacks
fields: pydantic's `model_fields_set` says which fields OneFile actually sent, and `has()`
asks it — an absent field is never the same as a null one (docs/onefile-api.md, "Paged
searches"). Code that needs a detail checks `has()` first, or reads a record the client
completed with a GET.

Dates (docs/onefile-api.md, Conventions): OneFile speaks UTC instants. A date-only value is
written as midnight UTC of the day; one read is the calendar date of that instant in UK time,
which is right whether OneFile serves 5 May as `2026-05-05T00:00:00Z` or as UK midnight,
`2026-05-04T23:00:00Z`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

UTC = dt.UTC
UK = ZoneInfo("Europe/London")


def format_datetime(value: dt.datetime) -> str:
    """UTC ISO-8601 with milliseconds and Z, as OneFile writes it."""
    if value.tzinfo is None:
        raise ValueError("OneFile date-times must be timezone-aware")
    v = value.astimezone(UTC)
    return v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}Z"


def format_date(value: dt.date) -> str:
    """A date-only value: midnight UTC of that day (as public clients write it)."""
    return format_datetime(dt.datetime(value.year, value.month, value.day, tzinfo=UTC))


def parse_datetime(value: Any) -> dt.datetime | None:
    """OneFile date-time (or null) → aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        text = str(value).strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # OneFile speaks UTC
    return parsed.astimezone(UTC)


def parse_date(value: Any) -> dt.date | None:
    """A date-only value: the calendar date of the instant in UK time (issue 15).

    A `date` (from our own cache) is already a calendar date and is kept as it is.
    """
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    parsed = parse_datetime(value)
    return None if parsed is None else parsed.astimezone(UK).date()


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    def has(self, *names: str) -> bool:
        """Did OneFile send every one of these fields (null counts as sent)?"""
        return all(name in self.model_fields_set for name in names)

    def missing(self, names: tuple[str, ...]) -> list[str]:
        return [name for name in names if name not in self.model_fields_set]


_RecordT = TypeVar("_RecordT", bound=_Record)


class User(_Record):
    id: int
    role: int | None = None
    misid: str | None = None
    last_modified: dt.datetime | None = None

    @field_validator("misid", mode="before")
    @classmethod
    def _misid_text(cls, v: Any) -> str | None:
        return _text(v)

    @field_validator("last_modified", mode="before")
    @classmethod
    def _dt(cls, v: Any) -> dt.datetime | None:
        return parse_datetime(v)


class Placement(_Record):
    id: int
    name: str | None = None
    misid: str | None = None
    active: bool | None = None

    @field_validator("misid", mode="before")
    @classmethod
    def _misid_text(cls, v: Any) -> str | None:
        return _text(v)


# The learning-aim fields the service reads, by kind (Python names).
AIM_DATES: tuple[str, ...] = (
    "start_date",
    "planned_end_date",
    "registration_date",
    "achieved_date",
    "claimed_date",
    "certificate_applied_date",
    "certificate_received_date",
)
AIM_TEXTS: tuple[str, ...] = ("registration_number",)
AIM_COUNTS: tuple[str, ...] = ("total_elements", "elements_done")
# What the exchange and the enrolment read of an aim: a row without all of them is thin.
AIM_DETAILS: tuple[str, ...] = (*AIM_DATES, *AIM_TEXTS, *AIM_COUNTS, "lead_assessor_id")


class LearningAim(_Record):
    """A learning aim; `served` is the record exactly as OneFile sent it (wire names), the
    base of a whole-record update."""

    id: int
    user_id: int | None = None
    standard_id: int | None = None
    status: int | None = None
    start_date: dt.date | None = None
    planned_end_date: dt.date | None = None
    registration_number: str | None = None
    registration_date: dt.date | None = None
    achieved_date: dt.date | None = None
    claimed_date: dt.date | None = None  # (assumed name: a setting)
    certificate_applied_date: dt.date | None = None
    certificate_received_date: dt.date | None = None  # (assumed name: a setting)
    total_elements: int | None = None  # (assumed name: a setting)
    elements_done: int | None = None  # (assumed name: a setting)
    lead_assessor_id: int | None = None
    served: dict[str, Any] = Field(default_factory=dict, repr=False)
    # `served` is the whole record (a GET, or a row holding every detail): only such an aim
    # may be written back, or a replacing OneFile would clear what a thin row left out.
    whole: bool = False

    @field_validator(*AIM_DATES, mode="before")
    @classmethod
    def _date(cls, v: Any) -> dt.date | None:
        return parse_date(v)

    @field_validator("registration_number", mode="before")
    @classmethod
    def _reg(cls, v: Any) -> str | None:
        return _text(v)

    @property
    def detailed(self) -> bool:
        """Holds every field the service reads (a full row or a GET), not a thin row."""
        return self.has(*AIM_DETAILS)


# What B5–B8 read of a review: a row without all of them is thin.
REVIEW_DETAILS: tuple[str, ...] = (
    "learner_id",
    "scheduled_for",
    "assessor_id",
    "started_on",
    "learner_signed_on",
)


class Review(_Record):
    id: int
    learner_id: int | None = None
    scheduled_for: dt.datetime | None = None
    end_time: dt.datetime | None = None
    assessor_id: int | None = None
    status: int | None = None
    started_on: dt.datetime | None = None
    learner_signed_on: dt.datetime | None = None

    @field_validator("scheduled_for", "end_time", "started_on", "learner_signed_on", mode="before")
    @classmethod
    def _dt(cls, v: Any) -> dt.datetime | None:
        return parse_datetime(v)

    @property
    def detailed(self) -> bool:
        return self.has(*REVIEW_DETAILS)
