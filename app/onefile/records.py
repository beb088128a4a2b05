"""OneFile's records and wire formats: the one place that knows OneFile's field names.

Names marked (assumed) in docs/onefile-api.md are marked here too; a correction found
against OneFile's beta server is a one-line change in this module.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

UTC = dt.UTC


def format_datetime(value: dt.datetime) -> str:
    """UTC ISO-8601 with milliseconds and Z, as OneFile writes it."""
    if value.tzinfo is None:
        raise ValueError("OneFile date-times must be timezone-aware")
    v = value.astimezone(UTC)
    return v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}Z"


def format_date(value: dt.date) -> str:
    """A date-only value: midnight UTC of that day."""
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
    """A date-only field arrives as midnight UTC; its UTC date is the date meant."""
    parsed = parse_datetime(value)
    return None if parsed is None else parsed.date()


class _Record(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


_RecordT = TypeVar("_RecordT", bound="_Record")


class User(_Record):
    id: int = Field(alias="ID")
    role: int | None = Field(default=None, alias="Role")
    misid: str | None = Field(default=None, alias="MISID")
    last_modified: dt.datetime | None = Field(default=None, alias="LastModified")

    @field_validator("misid", mode="before")
    @classmethod
    def _misid_text(cls, v: Any) -> str | None:
        return None if v is None or v == "" else str(v)

    @field_validator("last_modified", mode="before")
    @classmethod
    def _dt(cls, v: Any) -> dt.datetime | None:
        return parse_datetime(v)


class Placement(_Record):
    id: int = Field(alias="ID")
    name: str | None = Field(default=None, alias="Name")
    misid: str | None = Field(default=None, alias="MISID")

    @field_validator("misid", mode="before")
    @classmethod
    def _misid_text(cls, v: Any) -> str | None:
        return None if v is None or v == "" else str(v)


# LearningAim fields that carry dates, PICSWeb-side name → OneFile name.
AIM_DATE_FIELDS: dict[str, str] = {
    "start_date": "StartDate",
    "planned_end_date": "PlannedEnd",
    "registration_date": "RegistrationDate",
    "achieved_date": "AchievedDate",
    "claimed_date": "ClaimedDate",  # (assumed)
    "certificate_applied_date": "CertificateAppliedDate",
    "certificate_received_date": "CertificateReceivedDate",  # (assumed)
}
AIM_TEXT_FIELDS: dict[str, str] = {"registration_number": "RegistrationNumber"}


class LearningAim(_Record):
    id: int = Field(alias="ID")
    user_id: int = Field(alias="UserID")
    standard_id: int | None = Field(default=None, alias="StandardID")
    start_date: dt.date | None = Field(default=None, alias="StartDate")
    planned_end_date: dt.date | None = Field(default=None, alias="PlannedEnd")
    registration_number: str | None = Field(default=None, alias="RegistrationNumber")
    registration_date: dt.date | None = Field(default=None, alias="RegistrationDate")
    achieved_date: dt.date | None = Field(default=None, alias="AchievedDate")
    claimed_date: dt.date | None = Field(default=None, alias="ClaimedDate")  # (assumed)
    certificate_applied_date: dt.date | None = Field(default=None, alias="CertificateAppliedDate")
    certificate_received_date: dt.date | None = Field(
        default=None, alias="CertificateReceivedDate"
    )  # (assumed)
    total_elements: int | None = Field(default=None, alias="TotalElements")  # (assumed)
    elements_done: int | None = Field(default=None, alias="ElementsDone")  # (assumed)
    lead_assessor_id: int | None = Field(default=None, alias="LeadAssessorID")

    @field_validator(
        "start_date",
        "planned_end_date",
        "registration_date",
        "achieved_date",
        "claimed_date",
        "certificate_applied_date",
        "certificate_received_date",
        mode="before",
    )
    @classmethod
    def _date(cls, v: Any) -> dt.date | None:
        return parse_date(v)

    @field_validator("registration_number", mode="before")
    @classmethod
    def _text(cls, v: Any) -> str | None:
        return None if v is None or v == "" else str(v)


class Review(_Record):
    id: int = Field(alias="ID")
    learner_id: int = Field(alias="LearnerID")
    scheduled_for: dt.datetime | None = Field(default=None, alias="ScheduledFor")
    end_time: dt.datetime | None = Field(default=None, alias="EndTime")
    assessor_id: int | None = Field(default=None, alias="AssessorID")
    status: int | None = Field(default=None, alias="Status")
    started_on: dt.datetime | None = Field(default=None, alias="StartedOn")
    learner_signed_on: dt.datetime | None = Field(default=None, alias="LearnerSignedOn")

    @field_validator("scheduled_for", "end_time", "started_on", "learner_signed_on", mode="before")
    @classmethod
    def _dt(cls, v: Any) -> dt.datetime | None:
        return parse_datetime(v)


REVIEW_STATUS_SCHEDULED = 1
ROLE_LEARNER = 1
ROLE_ASSESSOR = 5
ASSIGN_LEVEL_LEAD = 3
