"""Fenced claims: a runner whose claim has passed — by its clock or in the database — makes no
OneFile call and no write (app/fencing.py, app/jobs/worker.py)."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from app.db import sql
from app.fencing import Deadline, LeaseLost, current_fence, fenced_execute, fenced_transaction
from app.jobs.models import Job
from app.jobs.store import JobStore
from app.jobs.worker import JobContext, JobFence
from app.onefile.quota import Quota
from tests.jobs.leadership import take_leadership

LEADER = sql.load("leader.sql")
WRITE = "INSERT INTO onefile_sync.exchange_state (learner_id, last_job_id) VALUES ($1, $2)"


async def claimed(pool: asyncpg.Pool, lease: float = 60.0) -> tuple[JobStore, Job, int]:
    store = JobStore(pool)
    epoch = await take_leadership(pool)
    await store.create("sync")
    job = await store.claim("runner-1", lease, epoch)
    assert job is not None and job.claim is not None
    return store, job, epoch


def fence_of(store: JobStore, job: Job, *, until_in: float = 60.0) -> JobFence:
    assert job.claim is not None
    deadline = Deadline(until_in + 1, 1.0, sent_at=time.monotonic())
    return JobFence(job, job.claim, deadline, store, leader=None)


async def rows(pool: asyncpg.Pool) -> list[int]:
    return [r[0] for r in await pool.fetch("SELECT learner_id FROM onefile_sync.exchange_state")]


async def test_writes_for_a_claim_that_was_taken_back_change_nothing(pool: asyncpg.Pool) -> None:
    """The database decides, whatever the runner's clock says (here: far from its deadline)."""
    store, job, epoch = await claimed(pool)
    fence = fence_of(store, job)
    ctx = JobContext(job, store, fence, None)
    token = current_fence.set(fence)
    try:
        await fenced_execute(pool, WRITE, 1, job.id)  # still ours: lands
        # A new leader takes the job back (what a takeover does) and another runner claims it.
        await pool.execute(LEADER["take_back_jobs"], epoch + 1)
        again = await store.claim("runner-2", 60, epoch)
        assert again is not None and again.id == job.id and again.claim != job.claim
        with pytest.raises(LeaseLost):
            await fenced_execute(pool, WRITE, 2, job.id)
        with pytest.raises(LeaseLost):
            async with fenced_transaction(pool) as conn:
                await conn.execute(WRITE, 3, job.id)
        for write in (
            ctx.progress(5, 10, force=True),
            ctx.fail_learner(4, "stale"),
            ctx.learner_ok(1, had_failed=True),
        ):
            with pytest.raises(LeaseLost):
                await write
    finally:
        current_fence.reset(token)
    assert await rows(pool) == [1]
    assert await store.finish(job.id, job.claim, "succeeded", {}) is None
    await store.release(job.id, job.claim)
    now = await store.get(job.id)
    assert now is not None and now.status == "running" and now.claim == again.claim
    assert now.progress_done == 0 and now.failures == []


async def test_a_takeover_comes_strictly_before_or_after_a_write(pool: asyncpg.Pool) -> None:
    """The claim stays locked until the write commits: the takeover waits for it, and a write
    that starts after the takeover finds no claim."""
    store, job, epoch = await claimed(pool)
    fence = fence_of(store, job)
    token = current_fence.set(fence)
    try:
        async with fenced_transaction(pool) as conn:
            await conn.execute(WRITE, 1, job.id)
            takeover = asyncio.create_task(pool.fetch(LEADER["take_back_jobs"], epoch + 1))
            await asyncio.sleep(0.3)
            assert not takeover.done()  # waits for the write in flight
        assert [r["id"] for r in await takeover] == [job.id]
        with pytest.raises(LeaseLost):
            await fenced_execute(pool, WRITE, 2, job.id)
    finally:
        current_fence.reset(token)
    assert await rows(pool) == [1]


async def test_writes_in_flight_never_hold_up_the_jobs_own_heartbeat(pool: asyncpg.Pool) -> None:
    """Learners' transactions lock the claim one after another; the job's heartbeat and
    progress must go past them (a share lock starved the heartbeat of a 1,000-learner sync
    under load, and the runner stopped itself: `make test`, issue 13)."""
    store, job, _ = await claimed(pool)
    fence = fence_of(store, job)
    ctx = JobContext(job, store, fence, None)
    token = current_fence.set(fence)
    try:
        async with fenced_transaction(pool) as conn:
            await conn.execute(WRITE, 1, job.id)
            assert job.claim is not None
            assert await asyncio.wait_for(store.heartbeat(job.id, job.claim, 60), 5)
            await asyncio.wait_for(ctx.progress(1, 2, force=True), 5)
    finally:
        current_fence.reset(token)
    now = await store.get(job.id)
    assert now is not None and now.progress_done == 1


async def test_the_clock_fence_stops_calls_and_writes_without_asking_the_database(
    pool: asyncpg.Pool,
) -> None:
    """Past `lease − safety` since the last confirmed heartbeat, a runner neither calls OneFile
    nor writes — even though the database would still let it (its claim is current there)."""
    store, job, _ = await claimed(pool)
    assert job.claim is not None
    deadline = Deadline(0.3, 0.1, sent_at=time.monotonic())
    fence = JobFence(job, job.claim, deadline, store, leader=None)
    quota = Quota(1000, 1.0)
    token = current_fence.set(fence)
    try:
        await quota.acquire()
        await fenced_execute(pool, WRITE, 1, job.id)
        await asyncio.sleep(0.25)  # the runner "froze" past its deadline
        with pytest.raises(LeaseLost):
            await quota.acquire()
        with pytest.raises(LeaseLost):
            await fenced_execute(pool, WRITE, 2, job.id)
        assert quota.state().calls_in_window == 1
        deadline.renewed(time.monotonic())  # a confirmed heartbeat gives the time back
        await quota.acquire()
    finally:
        current_fence.reset(token)
    assert await rows(pool) == [1]
    assert await store.heartbeat(job.id, job.claim, 60)  # the database never said no


async def test_a_call_that_waited_past_the_deadline_is_not_sent() -> None:
    """The fence is checked again after the quota's wait: a 429 pause (or a freeze) that
    outlives the lease sends nothing."""

    class Fence:
        def __init__(self) -> None:
            self.until = time.monotonic() + 0.2

        def check(self) -> None:
            if time.monotonic() > self.until:
                raise LeaseLost("passed")

        async def guard(self, conn: object) -> None:
            self.check()

    quota = Quota(1000, 1.0)
    quota.pause(0.4)
    token = current_fence.set(Fence())
    try:
        with pytest.raises(LeaseLost):
            await quota.acquire()
    finally:
        current_fence.reset(token)
    assert quota.state().calls_in_window == 0
