"""What the service asks OneFile to create: plain values with Python names.

Enrolment and the exchange build these; only `app/onefile/wire.py` turns them into OneFile's
payloads. Drafts of people hold personal data: their `repr` shows ids only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class AssessorDraft:
    """A PICSWeb officer as a OneFile assessor (A4): name, email and MISID = ident."""

    first_name: str
    last_name: str
    email: str | None
    misid: str | None

    def __repr__(self) -> str:
        return f"AssessorDraft(misid={self.misid!r})"


@dataclass(frozen=True)
class LearnerDraft:
    """A PICSWeb learner as a OneFile learner (A6); blank optional values are None."""

    misid: str
    first_name: str
    last_name: str
    email: str | None
    default_assessor_id: int
    placement_id: int
    telephone: str | None = None
    mobile: str | None = None
    dob: dt.date | None = None
    uln: str | None = None
    nino: str | None = None
    start_date: dt.date | None = None
    planned_end_date: dt.date | None = None
    ethnicity: str | None = None
    sex: str | None = None
    disability: str | None = None

    def __repr__(self) -> str:
        return f"LearnerDraft(misid={self.misid!r})"


@dataclass(frozen=True)
class ReviewDraft:
    """A review to schedule (A8): a Visit, then a Review on it, from `start` to `end` (UTC)."""

    learner_id: int  # the OneFile learner
    assessor_id: int
    start: dt.datetime
    end: dt.datetime
