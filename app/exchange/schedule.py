"""Which kind of sync a run is: full (every enrolled learner) or incremental (changes only).

docs/service.md: `POST /sync` may say `{"full": true|false}`; without it the service decides.
The seed promises every learner read once a day, and whether OneFile's `LastModified` reveals
every change is not confirmed (docs/exchange-rules.md, part B's opening), so a run that nobody
asked a mode of is full when the last full run started more than `FULL_SYNC_EVERY_DAYS` ago,
or when none ever finished. Incremental runs in between cost a call or two on a quiet centre.

A run asked to be incremental is full all the same when no run ever finished: an incremental
run reads only what changed since the last finished run, and with none there is nothing to
measure "changed" against.

A pure function, so the whole table of cases is tested without a clock or a database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from app.store.service_store import SyncMode

# Why a run has its mode: in the job's result and in /metrics (onefile_sync_runs_total).
ModeReason = Literal[
    "requested",  # the caller said `full: true` or `full: false`
    "no_previous_full",  # no full run ever finished: everything must be read once
    "full_due",  # the last full run started more than FULL_SYNC_EVERY_DAYS ago
    "full_recent",  # the last full run is recent enough: only changes are read
    "resumed",  # a rerun of a crashed sync keeps the mode its first attempt chose
]
MODE_REASONS: tuple[ModeReason, ...] = (
    "requested",
    "no_previous_full",
    "full_due",
    "full_recent",
    "resumed",
)


@dataclass(frozen=True)
class ModeDecision:
    mode: SyncMode
    reason: ModeReason


def sync_mode(
    requested: bool | None,
    last_full_started: dt.datetime | None,
    now: dt.datetime,
    every_days: int,
) -> ModeDecision:
    """The mode of a sync starting at `now`; `requested` is the body's `full` (None: absent)."""
    if requested is True:
        return ModeDecision("full", "requested")
    if last_full_started is None:
        return ModeDecision("full", "no_previous_full")
    if requested is False:
        return ModeDecision("incremental", "requested")
    # "More than N days ago" (docs/service.md: "older than"): a full run exactly N days old
    # is still recent. The nightly CronJob asks for `full: true`, so no clock jitter around
    # the boundary can turn its run into an incremental one.
    if now - last_full_started > dt.timedelta(days=every_days):
        return ModeDecision("full", "full_due")
    return ModeDecision("incremental", "full_recent")
