"""PICSWeb's rows as the service reads them: one record type per row (docs/picsweb-database.md).

Enrolment, the daily exchange and the API's checks all read these same types; the rules in
app/exchange/ take them as plain data. Two values are derived by the reading query rather than
stored in the row, and say so: a learner qualification's `onefile_standard_id` (its catalogue
qualification's link) and `has_units` (any unit attached).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any, Self


class _FromRow:
    """Built from a query's row: the columns of this type, ignoring the others selected with
    them (such as the `learner_id` a batched read groups by)."""

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(**{f.name: row[f.name] for f in fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True)
class Officer(_FromRow):
    """picsweb.officers. Holds personal data: never log or report it."""

    id: int
    first_name: str
    surname: str
    ident: str | None
    email: str | None
    onefile_user_id: int | None

    def __repr__(self) -> str:  # keeps personal data out of tracebacks and debug output
        return f"Officer(id={self.id}, onefile_user_id={self.onefile_user_id})"


@dataclass(frozen=True)
class Organisation(_FromRow):
    """picsweb.organisations."""

    id: int
    name: str
    ident: str | None
    onefile_placement_id: int | None


@dataclass(frozen=True)
class Placement(_FromRow):
    """picsweb.placements (of one learner)."""

    id: int
    organisation_id: int
    type: str
    start_date: dt.date


@dataclass(frozen=True)
class Learner(_FromRow):
    """picsweb.learners. Holds personal data: never log or report it."""

    id: int
    first_name: str
    surname: str
    email: str | None
    telephone: str | None
    mobile: str | None
    dob: dt.date | None
    uln: str | None
    nino: str | None
    start_date: dt.date | None
    planned_end_date: dt.date | None
    main_officer_id: int | None
    ethnicity: str | None
    sex: str | None
    disability: str | None
    onefile_user_id: int | None

    def __repr__(self) -> str:
        return f"Learner(id={self.id}, onefile_user_id={self.onefile_user_id})"


@dataclass(frozen=True, kw_only=True)
class LearnerQualification(_FromRow):
    """picsweb.learner_qualifications, with its catalogue link and whether units are attached."""

    id: int
    qualification_id: int
    onefile_standard_id: int | None = None  # derived: the catalogue qualification's link
    start_date: dt.date | None = None
    planned_end_date: dt.date | None = None
    registration_number: str | None = None
    registration_date: dt.date | None = None
    achieved_date: dt.date | None = None
    claimed_date: dt.date | None = None
    certificate_applied_date: dt.date | None = None
    certificate_received_date: dt.date | None = None
    assessor_officer_id: int | None = None
    total_elements: int | None = None
    elements_done: int | None = None
    onefile_learning_aim_id: int | None = None
    has_units: bool = False  # derived: any picsweb.learner_qualification_units row


@dataclass(frozen=True, kw_only=True)
class Review(_FromRow):
    """picsweb.reviews."""

    id: int
    type: str
    planned_date: dt.date | None
    start_time: dt.time | None
    officer_id: int | None
    attended: str
    actual_date: dt.date | None = None
    trainee_signed_date: dt.date | None = None
    onefile_review_id: int | None
