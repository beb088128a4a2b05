"""Rule A8 against the moment of the exchange (app/exchange/due_reviews.py), clock changes too.

2026's clock changes: forward on Sunday 29 March (01:00 GMT → 02:00 BST), back on Sunday
25 October (02:00 BST → 01:00 GMT, so 01:00–01:59 happens twice).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from app.exchange.due_reviews import UK, planned_start, review_is_due, review_times
from app.onefile import records

D = dt.date
T = dt.time
JUNE_1 = D(2026, 6, 1)  # BST
DEC_1 = D(2026, 12, 1)  # GMT
MARCH_CHANGE = D(2026, 3, 29)
OCTOBER_CHANGE = D(2026, 10, 25)


@dataclass(frozen=True)
class Review:
    planned_date: D | None
    start_time: T | None = None
    type: str = "N"
    attended: str = "U"
    onefile_review_id: int | None = None


def uk(day: D, hour: int, minute: int = 0, *, fold: int = 0) -> dt.datetime:
    """A UK wall-clock moment as an aware instant."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=UK, fold=fold)


@pytest.mark.parametrize("day", [JUNE_1, DEC_1])
def test_at_0230_a_review_at_1000_the_same_day_is_uploaded(day: D) -> None:
    nightly = uk(day, 2, 30)
    assert review_is_due(Review(day, T(10, 0)), nightly)
    assert review_is_due(Review(day), nightly)  # blank: 09:00
    assert not review_is_due(Review(day, T(2, 0)), nightly)
    assert not review_is_due(Review(day - dt.timedelta(days=1), T(23, 0)), nightly)


@pytest.mark.parametrize("day", [JUNE_1, DEC_1])
def test_at_noon_this_mornings_review_is_not_uploaded_and_tonights_is(day: D) -> None:
    noon = uk(day, 12, 0)
    assert not review_is_due(Review(day, T(8, 0)), noon)
    assert not review_is_due(Review(day), noon)  # blank: 09:00, this morning
    assert not review_is_due(Review(day, T(12, 0)), noon)  # starting now is not "later"
    assert review_is_due(Review(day, T(12, 1)), noon)
    assert review_is_due(Review(day, T(23, 59)), noon)


@pytest.mark.parametrize("day", [JUNE_1, DEC_1])
def test_at_2330(day: D) -> None:
    late = uk(day, 23, 30)
    tomorrow = day + dt.timedelta(days=1)
    assert not review_is_due(Review(day, T(23, 15)), late)
    assert review_is_due(Review(day, T(23, 45)), late)
    assert review_is_due(Review(tomorrow, T(0, 15)), late)
    assert review_is_due(Review(tomorrow), late)


def test_at_2330_utc_in_summer_it_is_already_tomorrow_in_the_uk() -> None:
    """23:30 UTC on 1 June is 00:30 BST on 2 June: a review at 00:15 on 2 June has started."""
    now = dt.datetime(2026, 6, 1, 23, 30, tzinfo=dt.UTC)
    assert not review_is_due(Review(D(2026, 6, 2), T(0, 15)), now)
    assert review_is_due(Review(D(2026, 6, 2), T(0, 45)), now)


def test_october_change_a_review_at_0130_is_its_first_occurrence() -> None:
    """01:30 happens twice on 25 October; the review starts at the first (00:30 UTC, BST)."""
    review = Review(OCTOBER_CHANGE, T(1, 30))
    first = dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)
    assert planned_start(OCTOBER_CHANGE, T(1, 30)) == first
    assert review_is_due(review, uk(OCTOBER_CHANGE, 1, 15))  # 00:15 UTC
    assert not review_is_due(review, uk(OCTOBER_CHANGE, 1, 45))  # 00:45 UTC
    assert not review_is_due(review, uk(OCTOBER_CHANGE, 1, 15, fold=1))  # second 01:15, GMT
    # After the change, 09:00 is GMT: the blank review starts at 09:00 UTC.
    assert review_is_due(Review(OCTOBER_CHANGE), dt.datetime(2026, 10, 25, 8, 30, tzinfo=dt.UTC))
    assert not review_is_due(Review(OCTOBER_CHANGE), dt.datetime(2026, 10, 25, 9, 0, tzinfo=dt.UTC))


def test_march_change_a_blank_time_review_starts_at_0900_bst() -> None:
    """On 29 March 09:00 is BST (08:00 UTC): checked at 08:30 BST it is due, at 09:30 not."""
    review = Review(MARCH_CHANGE)
    assert planned_start(MARCH_CHANGE, None) == dt.datetime(2026, 3, 29, 8, 0, tzinfo=dt.UTC)
    assert review_is_due(review, uk(MARCH_CHANGE, 2, 30))  # the nightly run, after the jump
    assert review_is_due(review, dt.datetime(2026, 3, 29, 7, 30, tzinfo=dt.UTC))
    assert not review_is_due(review, dt.datetime(2026, 3, 29, 8, 30, tzinfo=dt.UTC))


def test_march_change_a_skipped_wall_time_lands_in_the_hour_after() -> None:
    """01:30 does not exist on 29 March: read as 02:30 BST (01:30 UTC)."""
    assert planned_start(MARCH_CHANGE, T(1, 30)) == dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)
    assert review_is_due(Review(MARCH_CHANGE, T(1, 30)), uk(MARCH_CHANGE, 0, 59))


@pytest.mark.parametrize(
    "review",
    [
        Review(JUNE_1, T(10, 0), type="P"),
        Review(JUNE_1, T(10, 0), attended="Y"),
        Review(JUNE_1, T(10, 0), attended="N"),
        Review(JUNE_1, T(10, 0), onefile_review_id=77),  # in OneFile already
        Review(None),
    ],
)
def test_only_unlinked_normal_reviews_not_yet_attended(review: Review) -> None:
    assert not review_is_due(review, uk(JUNE_1, 2, 30))


@pytest.mark.parametrize(
    ("day", "start", "utc"),
    [
        (D(2025, 6, 15), T(14, 0), "2025-06-15T13:00:00.000Z"),  # BST
        (D(2025, 1, 15), T(14, 0), "2025-01-15T14:00:00.000Z"),  # GMT
        (D(2025, 6, 15), None, "2025-06-15T08:00:00.000Z"),  # blank: 09:00 local
        (D(2025, 1, 15), None, "2025-01-15T09:00:00.000Z"),
        (D(2025, 3, 30), T(10, 0), "2025-03-30T09:00:00.000Z"),  # clocks went forward
        (D(2025, 10, 26), T(10, 0), "2025-10-26T10:00:00.000Z"),  # clocks went back
    ],
)
def test_review_times_uk_local_to_utc_one_hour_long(day: D, start: T | None, utc: str) -> None:
    begin, end = review_times(day, start)
    assert records.format_datetime(begin) == utc
    assert end - begin == dt.timedelta(hours=1)
