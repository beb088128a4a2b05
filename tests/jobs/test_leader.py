"""Leadership (app/jobs/leader.py): one leader; hand-over after a crash, a freeze, a shutdown.

Replicas run in-process on loops of their own (tests/jobs/replicas.py), so that a test can
freeze one entirely, as SIGSTOP freezes a process. Leases are short (3 s) and the jobs' own
claims long (60 s): a job that resumes within seconds was taken back by the new leader, not
left to its claim's expiry. `make chaos` measures the same with real processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from app.jobs.store import JobStore
from tests.jobs.replicas import Replica, World, crash, wait_for

JOB_LEASE = 60.0
LEASE = 3.0  # the replicas' leadership lease (tests/jobs/replicas.py)


@pytest.fixture
async def replicas(db_url: str) -> AsyncIterator[tuple[World, Replica, Replica]]:
    world = World()
    a = Replica("a", db_url, world, job_lease=JOB_LEASE)
    b = Replica("b", db_url, world, job_lease=JOB_LEASE)
    try:
        yield world, a, b
    finally:
        await asyncio.gather(a.stop(), b.stop())


async def leading(a: Replica, b: Replica) -> None:
    await a.start()
    await wait_for(lambda: a.is_leader, within=20)
    await b.start()
    await asyncio.sleep(0.5)
    assert a.is_leader and not b.is_leader  # the lock and the lease are held: b waits


async def test_one_leader_and_a_clean_hand_over_on_shutdown(
    pool: asyncpg.Pool, replicas: tuple[World, Replica, Replica]
) -> None:
    world, a, b = replicas
    await leading(a, b)
    store = JobStore(pool)
    first = await store.create("sync")
    await wait_for(lambda: len(world.calls_of("a")) == 40, within=30)
    await wait_for(lambda: job_status(store, first.id, "succeeded"), within=10)

    # a's epoch as it stops, not a literal 1: on a loaded machine a renewal may come late enough
    # for a to lose and win its lease again before this point, which is not what this tests.
    assert a.leader is not None and a.leader.term is not None
    epoch = a.leader.term.epoch
    await a.stop()  # SIGTERM: the lease is resigned, nothing waits for it to expire
    await wait_for(lambda: b.is_leader, within=10)
    assert b.leader is not None and b.leader.term is not None
    assert b.leader.term.previous == "ended"
    assert b.leader.term.epoch == epoch + 1  # b followed a directly
    second = await store.create("sync")
    await wait_for(lambda: job_status(store, second.id, "succeeded"), within=30)
    assert len(world.calls_of("b")) == 40


async def job_status(store: JobStore, job_id: int, status: str) -> bool:
    job = await store.get(job_id)
    return job is not None and job.status == status


async def test_after_a_crash_the_new_leader_takes_the_job_back_at_once(
    pool: asyncpg.Pool, replicas: tuple[World, Replica, Replica]
) -> None:
    world, a, b = replicas
    await leading(a, b)
    store = JobStore(pool)
    job = await store.create("sync")
    a.freeze_at(10)
    await wait_for(world.frozen["a"].is_set, within=30)
    frozen_at = time.monotonic()
    await crash(pool, a)  # its connections close; a itself never runs again (still frozen)

    resumed = await wait_for(lambda: bool(world.calls_of("b")), within=JOB_LEASE / 3)
    assert b.leader is not None and b.leader.term is not None
    assert b.leader.term.previous == "session lost"
    assert b.leader.term.jobs_taken_back == 1
    await wait_for(lambda: job_status(store, job.id, "succeeded"), within=30)
    done = await store.get(job.id)
    assert done is not None and done.result == {"by": "b"} and done.attempts == 2
    print(f"crash: b's first call {resumed:.2f} s after a's connections closed")

    # If it ever woke — later than its lease, as a crashed process would — nothing more
    # from a: its own clock stops it before any write reaches the (closed) connections.
    await asyncio.sleep(max(0.0, frozen_at + LEASE - time.monotonic()))
    a.thaw()
    await wait_for(lambda: "a" in world.woke_and_stopped, within=10)
    assert world.woke_and_stopped["a"] == "LeaseLost"
    assert [c.step for c in world.calls_of("a")] == list(range(10))
    assert max(c.at for c in world.calls_of("a")) < min(c.at for c in world.calls_of("b"))


async def test_a_frozen_leader_is_deposed_and_on_waking_calls_and_writes_nothing(
    pool: asyncpg.Pool, replicas: tuple[World, Replica, Replica]
) -> None:
    """SIGSTOP in miniature: a keeps its session (and the lock) while it sleeps, yet b leads
    once a's lease has expired, and the job runs once."""
    world, a, b = replicas
    await leading(a, b)
    store = JobStore(pool)
    job = await store.create("sync")
    a.freeze_at(10)
    await wait_for(world.frozen["a"].is_set, within=30)

    resumed = await wait_for(lambda: bool(world.calls_of("b")), within=JOB_LEASE / 3)
    assert b.leader is not None and b.leader.term is not None
    assert b.leader.term.previous == "ended"  # a's lease ran out; b deposed it
    assert b.leader.term.jobs_taken_back == 1
    await wait_for(lambda: job_status(store, job.id, "succeeded"), within=30)
    print(f"freeze: b's first call {resumed:.2f} s after a froze")

    a.thaw()  # SIGCONT
    await wait_for(lambda: "a" in world.woke_and_stopped, within=10)
    await wait_for(lambda: not a.is_leader, within=10)
    assert world.woke_and_stopped["a"] == "LeaseLost"  # its first write after waking
    assert [c.step for c in world.calls_of("a")] == list(range(10))  # no call after waking
    assert [c.step for c in world.calls_of("b")] == list(range(40))
    assert max(c.at for c in world.calls_of("a")) < min(c.at for c in world.calls_of("b"))
    done = await store.get(job.id)
    assert done is not None and done.status == "succeeded" and done.result == {"by": "b"}
    assert done.failures == []  # a's write after waking never landed
    assert b.is_leader
