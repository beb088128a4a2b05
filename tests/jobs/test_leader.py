"""One OneFile worker pool per deployment: the advisory-lock leader, and its hand-over."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg

from app.jobs.leader import Leader
from app.jobs.models import Job, Outcome
from app.jobs.store import JobStore
from app.jobs.worker import JobContext, PoolConfig, WorkerPool


def make_leader(db_url: str, store: JobStore, runs: list[str], name: str) -> Leader:
    async def handler(job: Job, ctx: JobContext) -> Outcome:
        runs.append(name)
        await asyncio.sleep(0.05)
        return Outcome("succeeded")

    return Leader(
        dsn=db_url,
        make_pool=lambda: WorkerPool(
            store=store,
            handlers={"refresh": handler},
            owner=name,
            config=PoolConfig(slots=2, lease_seconds=3, poll_interval=0.1, shutdown_grace=0.5),
        ),
        retry_interval=0.2,
        watchdog_interval=0.2,
        takeover_grace=0.1,
    )


async def wait_for(predicate: Callable[[], bool], within: float = 10.0) -> None:
    async def loop() -> None:
        while not predicate():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(loop(), within)


async def test_only_one_leader_and_hand_over_when_it_dies(db_url: str, pool: asyncpg.Pool) -> None:
    store = JobStore(pool)
    runs: list[str] = []
    a = make_leader(db_url, store, runs, "a")
    b = make_leader(db_url, store, runs, "b")
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    ta = asyncio.create_task(a.run(stop_a))
    await wait_for(lambda: a.is_leader)
    tb = asyncio.create_task(b.run(stop_b))
    await asyncio.sleep(0.5)
    assert a.is_leader
    assert not b.is_leader  # the lock is held: b serves the API only

    await store.create("refresh", params={"learner_ids": [1]})
    await wait_for(lambda: runs == ["a"])

    # a's database connection dies (a crashed replica, a network cut): b takes over
    await pool.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND query ILIKE '%pg_try_advisory_lock%' "
        "AND pid <> pg_backend_pid()"
    )
    stop_a.set()  # and a stays down
    await wait_for(lambda: b.is_leader, within=5)
    assert not a.is_leader
    await store.create("refresh", params={"learner_ids": [2]})
    await wait_for(lambda: runs == ["a", "b"])

    stop_b.set()
    await asyncio.gather(ta, tb)
    assert not b.is_leader
