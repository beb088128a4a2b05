"""The service's own state against the migrated template database (schema onefile_sync)."""

from __future__ import annotations

import datetime as dt

import asyncpg

from app.store.history import Entry, HistoryStore
from app.store.service_store import ServiceStore

T0 = dt.datetime(2026, 11, 1, 2, 30, tzinfo=dt.UTC)


async def test_enrolment_status_follows_start_and_finish(pool: asyncpg.Pool) -> None:
    store = ServiceStore(pool)
    assert await store.enrolment_statuses([1, 2]) == {}
    assert await store.start_enrolment(1, job_id=10) is None
    assert await store.enrolment_statuses([1, 2]) == {1: "in_progress"}
    await store.finish_enrolment(1, 700, {"created": {}})
    assert await store.start_enrolment(2, job_id=11) is None
    assert await store.enrolment_statuses([1, 2]) == {1: "finished", 2: "in_progress"}


async def test_pending_learners_leave_out_enrolments_stopped_half_way(pool: asyncpg.Pool) -> None:
    store = ServiceStore(pool)
    await store.start_enrolment(3, job_id=5)  # half-way: not exchanged
    await store.mark_all_enrolled(20, [1, 2, 3])
    assert await store.count_pending(20) == 2
    batch = await store.pending_batch(20, after=0, limit=10)
    assert [(p.learner_id, p.had_failed) for p in batch] == [(1, False), (2, False)]
    await store.learner_failed(1, 20, "OneFile said no")
    assert await store.failed_in_job([1, 2], 20) == {1}
    assert [p.learner_id for p in await store.pending_batch(20, after=0, limit=10)] == [2]


async def test_marks_are_those_of_learners_exchanged_and_not_failed_since(
    pool: asyncpg.Pool,
) -> None:
    store = ServiceStore(pool)
    async with pool.acquire() as conn:
        await store.learner_exchanged(conn, 1, 30, T0)
        await store.learner_exchanged(conn, 2, 30, T0)
    await store.learner_failed(2, 31, "bad data")
    assert await store.rows_seen_marks() == ([1], [T0])
    await store.mark_picsweb_changed(32, [1, 2])
    assert await store.count_pending(32) == 2


async def test_sync_runs_give_the_last_starts(pool: asyncpg.Pool) -> None:
    store = ServiceStore(pool)
    assert await store.last_syncs() == (None, None)
    await store.start_sync_run(1, "full", False, T0)
    await store.finish_sync_run(1, "succeeded")
    later = T0 + dt.timedelta(hours=1)
    await store.start_sync_run(2, "incremental", False, later)
    await store.finish_sync_run(2, "partial")
    await store.start_sync_run(3, "full", True, later + dt.timedelta(hours=1))  # a dry run
    await store.finish_sync_run(3, "succeeded")
    assert await store.last_syncs() == (later, T0)


async def test_history_is_pruned_past_its_retention_in_bounded_deletes(
    pool: asyncpg.Pool,
) -> None:
    history = HistoryStore(pool)
    entries = [
        Entry(7, 1, "B2", "picsweb", "learner_qualifications", n, "registration_date", None,
              dt.date(2026, 1, n + 1))
        for n in range(5)
    ]  # fmt: skip
    async with pool.acquire() as conn:
        await history.record(conn, entries)
    await pool.execute(
        "UPDATE onefile_sync.history SET at = now() - interval '731 days' WHERE entity_id < 3"
    )
    assert await history.prune(730, batch=2) == 3  # two deletes of 2, then 1
    kept = await history.of_learner(7, limit=10)
    assert sorted(r.entity_id for r in kept) == [3, 4]
    assert kept[0].new == "2026-01-05"  # newest first; a date as written, ISO
