"""Enrolment rules as pure functions: employer (A3), officers (A4), payloads (A6, A7), reviews
to upload (A8, decided in due_reviews.py).

No I/O here: plain PICSWeb records in, OneFile payloads and decisions out. PICSWeb dates and
times are UK local time (Europe/London); OneFile speaks UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from app.exchange.due_reviews import review_is_due, review_officer
from app.onefile import records
from app.onefile.drafts import AssessorDraft, LearnerDraft, ReviewDraft
from app.picsweb.rows import Learner, LearnerQualification, Officer, Placement, Review

WORK_PLACEMENT = "P"


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


# ---- A3: the employer -----------------------------------------------------------------------


def choose_employer(placements: Iterable[Placement]) -> Placement | None:
    """The most recent work placement (`P`), else the most recent of any type (A3).

    Most recent: the latest start_date, ties broken by the highest id.
    """
    rows = list(placements)
    work = [p for p in rows if p.type == WORK_PLACEMENT]
    candidates = work or rows
    if not candidates:
        return None
    return max(candidates, key=lambda p: (p.start_date, p.id))


# ---- A4: officers -----------------------------------------------------------------------


def officers_to_upload(
    main_officer_id: int | None,
    qualifications: Iterable[LearnerQualification],
    reviews: Iterable[Review],
) -> list[int]:
    """Officer ids in upload order, each once (A4): the main officer, the assessor of each
    uploaded qualification, the officer of each uploaded review."""
    ordered: dict[int, None] = {}
    if main_officer_id is not None:
        ordered[main_officer_id] = None
    for lq in qualifications:
        if lq.onefile_standard_id is not None and lq.assessor_officer_id is not None:
            ordered.setdefault(lq.assessor_officer_id)
    for review in reviews:
        officer = review_officer(review, main_officer_id)
        if officer is not None:
            ordered.setdefault(officer)
    return list(ordered)


def assessor_draft(officer: Officer) -> AssessorDraft:
    """A OneFile assessor: name, email and MISID = ident, nothing else (A4)."""
    return AssessorDraft(
        first_name=officer.first_name,
        last_name=officer.surname,
        email=_text(officer.email),
        misid=_text(officer.ident),
    )


# ---- A6: the learner ----------------------------------------------------------------------


def learner_misid(learner_id: int) -> str:
    return str(learner_id)


def learner_draft(learner: Learner, *, default_assessor_id: int, placement_id: int) -> LearnerDraft:
    """The OneFile learner (A6); blank optional values are left out."""
    return LearnerDraft(
        misid=learner_misid(learner.id),
        first_name=learner.first_name,
        last_name=learner.surname,
        email=_text(learner.email),
        default_assessor_id=default_assessor_id,
        placement_id=placement_id,
        telephone=_text(learner.telephone),
        mobile=_text(learner.mobile),
        dob=learner.dob,
        uln=_text(learner.uln),
        nino=_text(learner.nino),
        start_date=learner.start_date,
        planned_end_date=learner.planned_end_date,
        ethnicity=_text(learner.ethnicity),
        sex=_text(learner.sex),
        disability=_text(learner.disability),
    )


# ---- A7: qualifications ------------------------------------------------------------------


def split_qualifications(
    qualifications: Iterable[LearnerQualification],
) -> tuple[list[LearnerQualification], list[int]]:
    """(those available in OneFile, ids of the others) — the others are skipped (A7)."""
    rows = list(qualifications)
    uploadable = [lq for lq in rows if lq.onefile_standard_id is not None]
    skipped = [lq.id for lq in rows if lq.onefile_standard_id is None]
    return uploadable, skipped


# The learning-aim fields A7 sets from the learner qualification (same names on both sides).
AIM_FIELDS_SET: tuple[str, ...] = (*records.AIM_DATES, *records.AIM_TEXTS)


def aim_changes(
    lq: LearnerQualification, current: records.LearningAim | None = None
) -> dict[str, Any]:
    """The learning-aim fields A7 sets: those set in PICSWeb, by name.

    With the aim as OneFile holds it (`current`), only the fields whose value differs: a
    resumed enrolment changes nothing on an aim it already updated. Empty: no call is needed.
    """
    changes: dict[str, Any] = {}
    for name in AIM_FIELDS_SET:
        value = getattr(lq, name)
        if isinstance(value, str):
            value = _text(value)
        if value is None:
            continue
        if current is not None and current.has(name) and getattr(current, name) == value:
            continue
        changes[name] = value
    return changes


def reusable_aims(
    aims: Sequence[records.LearningAim], linked_aim_ids: Iterable[int]
) -> dict[int, list[records.LearningAim]]:
    """OneFile aims not linked to any of the learner's qualifications, by StandardID (oldest
    first): an aim assigned before a crash, waiting to be linked instead of assigned again."""
    linked = set(linked_aim_ids)
    free: dict[int, list[records.LearningAim]] = {}
    for aim in sorted(aims, key=lambda a: a.id):
        if aim.id not in linked and aim.standard_id is not None:
            free.setdefault(aim.standard_id, []).append(aim)
    return free


# ---- A8: reviews -----------------------------------------------------------------------


def reviews_to_upload(reviews: Iterable[Review], now: dt.datetime) -> tuple[list[Review], int]:
    """(due reviews not yet in OneFile, how many unlinked reviews are not eligible), `now`
    being the moment of the exchange (A8, due_reviews.py)."""
    due: list[Review] = []
    not_eligible = 0
    for review in reviews:
        if review.onefile_review_id is not None:
            continue
        if review_is_due(review, now):
            due.append(review)
        else:
            not_eligible += 1
    return due, not_eligible


def review_draft(
    *, learner_id: int, assessor_id: int, start: dt.datetime, end: dt.datetime
) -> ReviewDraft:
    """A review to upload: a Visit and a Review from `start` to `end` (A8)."""
    return ReviewDraft(learner_id=learner_id, assessor_id=assessor_id, start=start, end=end)


# ---- the whole enrolment ---------------------------------------------------------------


@dataclass(frozen=True)
class EnrolmentPlan:
    """What an enrolment uploads, decided from the learner's PICSWeb rows (read once) before
    OneFile is called; enrol.py carries it out, step by step and resumably."""

    main_officer_id: int  # A4: the learner's default assessor
    employer: Placement  # A3
    qualifications: list[LearnerQualification]  # A7: those available in OneFile
    qualifications_skipped: list[int]  # A7: the others
    due_reviews: list[Review]  # A8
    reviews_not_eligible: int  # unlinked reviews A8 does not upload


def plan_enrolment(
    learner: Learner,
    placements: Iterable[Placement],
    qualifications: Iterable[LearnerQualification],
    reviews: Iterable[Review],
    now: dt.datetime,
) -> EnrolmentPlan:
    """The enrolment of a learner that passed A1 (a main officer, a placement)."""
    assert learner.main_officer_id is not None  # A1
    employer = choose_employer(placements)
    assert employer is not None  # A1
    uploadable, skipped = split_qualifications(qualifications)
    due, not_eligible = reviews_to_upload(reviews, now)
    return EnrolmentPlan(
        main_officer_id=learner.main_officer_id,
        employer=employer,
        qualifications=uploadable,
        qualifications_skipped=skipped,
        due_reviews=due,
        reviews_not_eligible=not_eligible,
    )
