"""Rule A8 (and B4, which is A8): which PICSWeb reviews are uploaded, when they take place, and
who assesses them.

The one owner of "is this review due?", called by the enrolment, the daily exchange, the
enrolment pre-check (which officers A4 would upload) and the tooling that seeds demo data; and
of the plan of a learner's uploads (`plan_uploads`), which the enrolment and the exchange both
carry out with uploads.upload_reviews.

"In the future" is measured against the moment of the exchange, not the date
(docs/exchange-rules.md A8, revised 2026-11-29): the 02:30 nightly run uploads a review planned
for 10:00 the same day; at noon, one planned for 08:00 that morning is not uploaded. The planned
start is planned_date + start_time (09:00 when blank) in UK local time (Europe/London), turned
into an instant before comparing, so the clock changes are handled by the time zone database,
not by date arithmetic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from app.onefile import records
from app.picsweb.rows import Review

UK = ZoneInfo("Europe/London")
NORMAL_REVIEW = "N"
ATTENDED_UNKNOWN = "U"
DEFAULT_REVIEW_START = dt.time(9, 0)
REVIEW_LENGTH = dt.timedelta(hours=1)


class ReviewFacts(Protocol):
    """What A8 reads of a PICSWeb review (any row type with these attributes)."""

    @property
    def type(self) -> str: ...
    @property
    def attended(self) -> str: ...
    @property
    def planned_date(self) -> dt.date | None: ...
    @property
    def start_time(self) -> dt.time | None: ...
    @property
    def onefile_review_id(self) -> int | None: ...


def planned_start(planned_date: dt.date, start_time: dt.time | None) -> dt.datetime:
    """The review's planned start as a UTC instant: date + time (09:00 when blank), UK local.

    A wall time skipped by the spring change (01:30 on the last Sunday of March) is read with
    the offset before the change (zoneinfo's fold=0), which lands in the hour after it, the
    reading a person would mean; a wall time repeated in October is its first occurrence.
    """
    local_time = (start_time or DEFAULT_REVIEW_START).replace(tzinfo=None)
    return dt.datetime.combine(planned_date, local_time, tzinfo=UK).astimezone(dt.UTC)


def review_times(
    planned_date: dt.date, start_time: dt.time | None
) -> tuple[dt.datetime, dt.datetime]:
    """UTC start and end of an uploaded review: the planned start, ending one hour later (A8)."""
    start = planned_start(planned_date, start_time)
    return start, start + REVIEW_LENGTH


def review_is_due(review: ReviewFacts, now: dt.datetime) -> bool:
    """A8: type `N`, attended `U`, not linked to OneFile yet, and a planned start later than
    `now` (an aware instant: the moment the exchange runs)."""
    return (
        review.type == NORMAL_REVIEW
        and review.attended == ATTENDED_UNKNOWN
        and review.onefile_review_id is None
        and review.planned_date is not None
        and planned_start(review.planned_date, review.start_time) > now
    )


def review_officer(review: Review, main_officer_id: int | None) -> int | None:
    """The review's assessor: its officer, else the learner's main officer (A8)."""
    return review.officer_id if review.officer_id is not None else main_officer_id


@dataclass(frozen=True)
class ReviewUpload:
    """A due PICSWeb review to become a OneFile review: a Visit and a Review created from
    `start` to `end` with `officer_id` as assessor — or, when OneFile already holds a review
    at that start that no PICSWeb review holds (created before a crash), that one (`found`)
    linked instead."""

    review_id: int
    officer_id: int
    start: dt.datetime
    end: dt.datetime
    found: int | None = None


def _upload_order(review: Review) -> tuple[Any, ...]:
    """Planned order: date, then time (a blank one first), then id."""
    return (review.planned_date, review.start_time is not None, review.start_time, review.id)


def plan_uploads(
    reviews: Sequence[Review],
    onefile_reviews: Sequence[records.Review],
    *,
    main_officer_id: int | None,
    now: dt.datetime,
    held_elsewhere: Collection[int] = (),
) -> tuple[list[ReviewUpload], list[int]]:
    """The learner's due reviews (A8) → (the uploads in planned order, the ids of those
    nobody can assess).

    `onefile_reviews`: the learner's OneFile reviews as read; `held_elsewhere`: those of them a
    PICSWeb review of another learner holds. A OneFile review at a due review's start that no
    PICSWeb review holds was created before a crash: it is linked, not created again (the
    oldest first).
    """
    held = {r.onefile_review_id for r in reviews if r.onefile_review_id is not None}
    held.update(held_elsewhere)
    free: dict[dt.datetime, list[int]] = {}
    for r in sorted({r.id: r for r in onefile_reviews}.values(), key=lambda r: r.id):
        if r.scheduled_for is not None and r.id not in held:
            free.setdefault(r.scheduled_for, []).append(r.id)
    uploads: list[ReviewUpload] = []
    without_officer: list[int] = []
    for review in sorted((r for r in reviews if review_is_due(r, now)), key=_upload_order):
        officer_id = review_officer(review, main_officer_id)
        if officer_id is None:
            without_officer.append(review.id)
            continue
        assert review.planned_date is not None  # review_is_due checked it
        start, end = review_times(review.planned_date, review.start_time)
        waiting = free.get(start)
        found = waiting.pop(0) if waiting else None
        uploads.append(ReviewUpload(review.id, officer_id, start, end, found))
    return uploads, without_officer
