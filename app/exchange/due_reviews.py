"""Rule A8 (and B4, which is A8): which PICSWeb reviews are uploaded, and when they take place.

The one owner of "is this review due?", called by the enrolment, the daily exchange, the
enrolment pre-check (which officers A4 would upload) and the tooling that seeds demo data.

"In the future" is measured against the moment of the exchange, not the date
(docs/exchange-rules.md A8, revised 2026-11-29): the 02:30 nightly run uploads a review planned
for 10:00 the same day; at noon, one planned for 08:00 that morning is not uploaded. The planned
start is planned_date + start_time (09:00 when blank) in UK local time (Europe/London), turned
into an instant before comparing, so the clock changes are handled by the time zone database,
not by date arithmetic.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol
from zoneinfo import ZoneInfo

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
