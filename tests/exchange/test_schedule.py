"""app/exchange/schedule.py: which mode a sync runs in, case by case (no clock, no database)."""

from __future__ import annotations

import datetime as dt

import pytest

from app.exchange.schedule import ModeDecision, sync_mode

NOW = dt.datetime(2026, 11, 30, 2, 30, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
TICK = dt.timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("requested", "last_full_ago", "every_days", "expected"),
    [
        # Nobody asked: the schedule decides.
        (None, None, 1, ModeDecision("full", "no_previous_full")),
        (None, DAY + TICK, 1, ModeDecision("full", "full_due")),
        (None, DAY, 1, ModeDecision("incremental", "full_recent")),  # exactly at the boundary
        (None, DAY - TICK, 1, ModeDecision("incremental", "full_recent")),
        (None, dt.timedelta(minutes=15), 1, ModeDecision("incremental", "full_recent")),
        (None, 7 * DAY, 7, ModeDecision("incremental", "full_recent")),
        (None, 7 * DAY + TICK, 7, ModeDecision("full", "full_due")),
        (None, 3 * DAY, 7, ModeDecision("incremental", "full_recent")),
        # The caller's word overrides the schedule, both ways.
        (True, dt.timedelta(minutes=1), 1, ModeDecision("full", "requested")),
        (True, None, 1, ModeDecision("full", "requested")),
        (False, 30 * DAY, 1, ModeDecision("incremental", "requested")),
        (False, DAY - TICK, 1, ModeDecision("incremental", "requested")),
        # ... except that an incremental run needs a finished run to measure changes from.
        (False, None, 1, ModeDecision("full", "no_previous_full")),
    ],
)
def test_sync_mode(
    requested: bool | None,
    last_full_ago: dt.timedelta | None,
    every_days: int,
    expected: ModeDecision,
) -> None:
    last_full = None if last_full_ago is None else NOW - last_full_ago
    assert sync_mode(requested, last_full, NOW, every_days) == expected
