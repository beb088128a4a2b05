"""What the enrolment and exchange handlers are given: built once by the lifespan."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from app.metrics import Metrics
from app.onefile.client import OneFileClient


def utcnow() -> dt.datetime:
    """The wall clock, as an aware UTC instant."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class ExchangeDeps:
    pool: asyncpg.Pool
    onefile: OneFileClient
    organisation_id: int  # ONEFILE_ORGANISATION_ID: the centre learners and visits belong to
    classroom_id: int  # ONEFILE_CLASSROOM_ID
    visit_type_id: int  # ONEFILE_VISIT_TYPE_ID
    learner_concurrency: int = 16  # learners exchanged side by side within one job
    full_sync_every_days: int = 1  # FULL_SYNC_EVERY_DAYS (app/exchange/schedule.py)
    history_retention_days: int = 730  # HISTORY_RETENTION_DAYS: pruned after each sync
    metrics: Metrics | None = None
    now: Callable[[], dt.datetime] = field(default=utcnow)  # injectable clock for tests
