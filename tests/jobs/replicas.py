"""Replicas of the service's job side, in-process: each on its own event loop in a thread.

A replica here is what matters to leadership — its own pool of connections (its own
`application_name`), quota, `Leader` and worker pool — without HTTP. Because each has its own
loop, a test can freeze one completely, as SIGSTOP freezes a process: every task stops, its
sockets stay open, and nothing of it runs until the test lets it go. `make chaos` does the same
with real processes (devtools/chaos/harness.py).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg

from app.db.pool import create_pool
from app.jobs.leader import Leader, LeaderTiming
from app.jobs.models import Job, Outcome
from app.jobs.store import JobStore
from app.jobs.worker import Handler, JobContext, PoolConfig, WorkerPool
from app.onefile.quota import Quota

T = TypeVar("T")


@dataclass
class Call:
    """A OneFile call as the quota let it out (what OneFile would have received)."""

    replica: str
    job_id: int
    step: int
    at: float


@dataclass
class World:
    """What the replicas share: the calls they made and the freezes the test arms."""

    calls: list[Call] = field(default_factory=list)
    freeze_at_step: dict[str, int] = field(default_factory=dict)  # replica → step
    frozen: dict[str, threading.Event] = field(default_factory=dict)  # set when it froze
    thaw: dict[str, threading.Event] = field(default_factory=dict)  # set to let it go
    woke_and_stopped: dict[str, str] = field(default_factory=dict)  # replica → exception type

    def calls_of(self, replica: str) -> list[Call]:
        return [c for c in self.calls if c.replica == replica]


def stepping_handler(name: str, quota: Quota, world: World, steps: int) -> Handler:
    """A job of `steps` OneFile calls with a progress write after each; it blocks its whole
    loop (a freeze) at the step the test chose, and on waking first tries a write."""

    async def handler(job: Job, ctx: JobContext) -> Outcome:
        for step in range(steps):
            if world.freeze_at_step.get(name) == step:
                del world.freeze_at_step[name]
                world.frozen[name].set()
                world.thaw[name].wait()  # blocks this replica's loop: nothing of it runs
                try:
                    await ctx.fail_learner(100_000 + step, "written after waking")
                except BaseException as exc:
                    world.woke_and_stopped[name] = type(exc).__name__
                    raise
            await quota.acquire()
            world.calls.append(Call(name, job.id, step, time.monotonic()))
            await ctx.progress(step + 1, steps, force=True)
            await asyncio.sleep(0.02)
        return Outcome("succeeded", {"by": name})

    return handler


class Replica:
    """One replica on its own loop in a daemon thread."""

    def __init__(
        self,
        name: str,
        db_url: str,
        world: World,
        *,
        steps: int = 40,
        lease: float = 3.0,
        job_lease: float = 60.0,
    ) -> None:
        self.name = name
        self.app_name = f"test-replica-{name}"
        self._db_url = db_url
        self._world = world
        self._steps = steps
        self._timing = LeaderTiming(lease)
        self._job_lease = job_lease
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name=name)
        self._thread.start()
        self.leader: Leader | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._pool: asyncpg.Pool | None = None
        world.frozen[name] = threading.Event()
        world.thaw[name] = threading.Event()

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on this replica's loop; awaitable from the test's loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    async def start(self) -> None:
        await self.call(self._start())

    async def _start(self) -> None:
        pool = self._pool = await create_pool(self._db_url, size=4, application_name=self.app_name)
        store = JobStore(pool)
        quota = Quota(1000, 1.0)
        handler = stepping_handler(self.name, quota, self._world, self._steps)
        config = PoolConfig(
            slots=2, lease_seconds=self._job_lease, poll_interval=0.1, shutdown_grace=0.5
        )
        self.leader = Leader(
            dsn=self._db_url,
            make_pool=lambda epoch, fence: WorkerPool(
                store=store,
                handlers={"enrol": handler, "refresh": handler, "sync": handler},
                owner=self.name,
                config=config,
                epoch=epoch,
                leader_fence=fence,
            ),
            owner=self.name,
            app_name=self.app_name,
            on_term=quota.assume_previous_caller,
            timing=self._timing,
        )
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.leader.run(self._stop))

    @property
    def is_leader(self) -> bool:
        return self.leader is not None and self.leader.is_leader

    def freeze_at(self, step: int) -> None:
        self._world.freeze_at_step[self.name] = step

    def thaw(self) -> None:
        self._world.thaw[self.name].set()

    async def stop(self) -> None:
        self.thaw()
        if self._thread.is_alive():
            await self.call(self._shutdown())
            self.loop.call_soon_threadsafe(self.loop.stop)
        await asyncio.to_thread(self._thread.join, 10)
        if not self._thread.is_alive() and not self.loop.is_closed():
            self.loop.close()

    async def _shutdown(self) -> None:
        if self._stop is not None and self._task is not None:
            self._stop.set()
            await asyncio.wait_for(self._task, 10)
        if self._pool is not None:
            await self._pool.close()


async def crash(admin: asyncpg.Pool, replica: Replica) -> None:
    """What the database sees when a process dies: every connection of it closes (and the
    process itself never runs again — the caller keeps it frozen)."""
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        replica.app_name,
    )


async def wait_for(predicate: Callable[[], Awaitable[bool] | bool], within: float) -> float:
    """Poll until `predicate` holds; returns the seconds it took (raises after `within`)."""
    started = time.monotonic()
    while True:
        got = predicate()
        if not isinstance(got, bool):
            got = await got
        if got:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise TimeoutError(f"not within {within} s")
        await asyncio.sleep(0.05)
