"""The Postgres job queue: priorities, leases, one sync at a time, the worker pool."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from app.jobs.models import Job, Outcome
from app.jobs.store import AlreadyActive, JobStore
from app.jobs.worker import Handler, JobContext, PoolConfig, WorkerPool
from tests.jobs.leadership import take_leadership


async def test_interactive_jobs_are_claimed_before_batch_work(pool: asyncpg.Pool) -> None:
    store = JobStore(pool)
    epoch = await take_leadership(pool)
    sync = await store.create("sync")
    refresh = await store.create("refresh", params={"learner_ids": [1]})
    first = await store.claim("w1", 10, epoch)
    second = await store.claim("w1", 10, epoch)
    assert first is not None and second is not None
    assert (first.id, second.id) == (refresh.id, sync.id)
    assert await store.claim("w1", 10, epoch) is None


async def test_never_two_syncs_at_once(pool: asyncpg.Pool) -> None:
    store = JobStore(pool)
    epoch = await take_leadership(pool)
    results = await asyncio.gather(
        *(store.create("sync") for _ in range(5)), return_exceptions=True
    )
    created = [r for r in results if isinstance(r, Job)]
    refused = [r for r in results if isinstance(r, AlreadyActive)]
    assert len(created) == 1
    assert len(refused) == 4
    assert all(r.job.id == created[0].id for r in refused)
    # once it has finished, the next sync may be queued
    job = await store.claim("w", 10, epoch)
    assert job is not None
    assert job.claim is not None
    await store.finish(job.id, job.claim, "succeeded", {})
    assert (await store.create("sync")).id != created[0].id


async def test_a_second_enrolment_of_the_same_learner_joins_the_first(pool: asyncpg.Pool) -> None:
    store = JobStore(pool)
    first = await store.create("enrol", learner_id=7)
    with pytest.raises(AlreadyActive) as err:
        await store.create("enrol", learner_id=7)
    assert err.value.job.id == first.id
    other = await store.create("enrol", learner_id=8)
    assert other.id != first.id


async def test_a_job_whose_worker_vanished_runs_again_once(pool: asyncpg.Pool) -> None:
    store = JobStore(pool)
    epoch = await take_leadership(pool)
    job = await store.create("refresh", params={"learner_ids": [1]})
    claimed = await store.claim("dead-worker", 0.3, epoch)  # then the process "dies": no heartbeat
    assert claimed is not None and claimed.id == job.id
    assert await store.claim("w2", 10, epoch) is None  # the lease still holds
    await asyncio.sleep(0.4)
    again = await asyncio.gather(*(store.claim(f"w{i}", 10, epoch) for i in range(3, 8)))
    taken = [j for j in again if j is not None]
    assert [j.id for j in taken] == [job.id]  # exactly one worker takes it over
    assert taken[0].attempts == 2
    # the dead worker can no longer finish or extend it
    assert claimed.claim is not None and taken[0].claim != claimed.claim
    assert not await store.heartbeat(job.id, claimed.claim, 10)
    assert await store.finish(job.id, claimed.claim, "succeeded", {}) is None


async def _unexpected(job: Job, ctx: JobContext) -> Outcome:
    raise AssertionError(f"no {job.kind} job was queued in this test")


def every_kind(**given: Handler) -> dict[str, Handler]:
    """The pool takes a handler for every kind; those a test does not queue must not run."""
    return {kind: given.get(kind, _unexpected) for kind in ("enrol", "refresh", "sync")}


async def _run_pool(pool_: WorkerPool, until: asyncio.Event, within: float = 10) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(pool_.run(stop))
    await asyncio.wait_for(until.wait(), within)
    stop.set()
    await task


async def test_worker_pool_runs_handlers_and_reports(pool: asyncpg.Pool) -> None:
    store = JobStore(pool)
    epoch = await take_leadership(pool)
    seen: set[str] = set()
    done = asyncio.Event()

    async def refresh(job: Job, ctx: JobContext) -> Outcome:
        seen.add("refresh")
        await ctx.progress(1, 2, force=True)
        await ctx.fail_learner(42, "OneFile POST LearningAim/Search (400): bad")
        await ctx.progress(2, 2, force=True)
        return Outcome("partial", {"exchanged": 1})

    async def sync(job: Job, ctx: JobContext) -> Outcome:
        seen.add("sync")
        done.set()
        return Outcome("succeeded", {})

    r = await store.create("refresh", params={"learner_ids": [41, 42]}, total=2)
    s = await store.create("sync")
    wp = WorkerPool(
        store=store,
        handlers=every_kind(refresh=refresh, sync=sync),
        owner="t",
        epoch=epoch,
        config=PoolConfig(slots=1, lease_seconds=5, poll_interval=0.05),
    )
    await _run_pool(wp, done)
    assert seen == {"refresh", "sync"}
    rj = await store.get(r.id)
    assert rj is not None
    assert rj.status == "partial"
    assert (rj.progress_done, rj.progress_total) == (2, 2)
    assert [(f.learner_id, f.reason) for f in rj.failures] == [
        (42, "OneFile POST LearningAim/Search (400): bad")
    ]
    sj = await store.get(s.id)
    assert sj is not None and sj.status == "succeeded" and sj.finished_at is not None


async def test_a_pool_without_a_handler_for_every_kind_refuses_to_start(
    pool: asyncpg.Pool,
) -> None:
    handlers = every_kind()
    del handlers["enrol"]
    with pytest.raises(ValueError, match="enrol"):
        WorkerPool(store=JobStore(pool), handlers=handlers, owner="t", epoch=1, config=PoolConfig())


async def test_a_crashing_handler_fails_cleanly(pool: asyncpg.Pool) -> None:
    store = JobStore(pool)
    epoch = await take_leadership(pool)
    done = asyncio.Event()

    async def boom(job: Job, ctx: JobContext) -> Outcome:
        done.set()
        raise ValueError("secret personal value")

    r = await store.create("refresh", params={"learner_ids": [1]})
    wp = WorkerPool(
        store=store,
        handlers=every_kind(refresh=boom),
        owner="t",
        epoch=epoch,
        config=PoolConfig(slots=2, poll_interval=0.05),
    )
    await _run_pool(wp, done)
    for _ in range(100):
        rj = await store.get(r.id)
        if rj is not None and rj.finished:
            break
        await asyncio.sleep(0.05)
    assert rj is not None and rj.status == "failed"
    assert "secret" not in (rj.error or "") and "ValueError" in (rj.error or "")


async def test_shutdown_releases_work_in_hand_to_the_queue(pool: asyncpg.Pool) -> None:
    store = JobStore(pool)
    epoch = await take_leadership(pool)
    started = asyncio.Event()

    async def slow(job: Job, ctx: JobContext) -> Outcome:
        started.set()
        await asyncio.sleep(60)
        return Outcome("succeeded")

    job = await store.create("sync")
    wp = WorkerPool(
        store=store,
        handlers=every_kind(sync=slow),
        owner="t",
        epoch=epoch,
        config=PoolConfig(slots=1, poll_interval=0.05, shutdown_grace=0.1),
    )
    await _run_pool(wp, started)
    after = await store.get(job.id)
    assert after is not None
    assert after.status == "queued"  # released, not lost, not failed
    again = await store.claim("next", 5, epoch)
    assert again is not None and again.id == job.id


async def test_a_job_interrupted_too_often_is_given_up(pool: asyncpg.Pool) -> None:
    store = JobStore(pool)
    epoch = await take_leadership(pool)
    job = await store.create("refresh", params={"learner_ids": [1]})
    for i in range(3):
        assert await store.claim(f"dead{i}", 0.01, epoch) is not None
        await asyncio.sleep(0.05)
    ran = asyncio.Event()

    async def handler(job: Job, ctx: JobContext) -> Outcome:
        ran.set()
        return Outcome("succeeded")

    wp = WorkerPool(
        store=store,
        handlers=every_kind(refresh=handler),
        owner="t",
        epoch=epoch,
        config=PoolConfig(slots=1, max_attempts=3, poll_interval=0.05),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(wp.run(stop))
    for _ in range(100):
        j = await store.get(job.id)
        if j is not None and j.finished:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    final = await store.get(job.id)
    assert final is not None and final.status == "failed"
    assert "interrupted" in (final.error or "")
    assert not ran.is_set()
