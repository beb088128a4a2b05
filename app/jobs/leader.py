"""Only one process of the deployment calls OneFile: the holder of a Postgres advisory lock.

The lock lives on a dedicated connection. While it is held this process runs the worker pool;
the other replicas serve the API and wait. A watchdog pings that connection: when it is lost the
lock may pass to another replica, so the workers stop at once. A new leader waits a short grace
before its first call, so that the old leader's last calls and its own first ones keep the
quota's spacing (see app/onefile/quota.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from app.db import sql
from app.jobs.worker import INFRASTRUCTURE_ERRORS, WorkerPool
from app.metrics import Metrics

log = logging.getLogger("app.jobs")
Q = sql.load("jobs.sql")

LEADER_LOCK_KEY = 0x0F11E5_0002  # "onefile-sync OneFile workers"
CHANNEL = "onefile_sync_jobs"
# Anything that means "the lock's connection is gone or unusable".
CONNECTION_LOST: tuple[type[BaseException], ...] = (
    *INFRASTRUCTURE_ERRORS,
    asyncpg.PostgresError,
    TimeoutError,
)


class Leader:
    """Campaigns for the lock, runs the pool while it holds it, steps down when it loses it."""

    def __init__(
        self,
        *,
        dsn: str,
        make_pool: Callable[[], WorkerPool],
        metrics: Metrics | None = None,
        retry_interval: float = 2.0,
        watchdog_interval: float = 1.0,
        takeover_grace: float = 2.5,
    ) -> None:
        self._dsn = dsn
        self._make_pool = make_pool
        self._metrics = metrics
        self._retry = retry_interval
        self._watchdog = watchdog_interval
        self._grace = takeover_grace
        self.is_leader = False
        self.pool: WorkerPool | None = None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn, timeout=10)
                if await conn.fetchval(Q["try_leader_lock"], LEADER_LOCK_KEY):
                    await self._lead(conn, stop)
            except CONNECTION_LOST as exc:
                log.warning("leader connection failed", extra={"error_type": type(exc).__name__})
            finally:
                self._step_down()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), timeout=2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._retry)

    async def _lead(self, conn: asyncpg.Connection, stop: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=self._grace)
        if stop.is_set():
            return
        # Leader from here on: the workers run (health's "leader" means exactly that).
        self.is_leader = True
        if self._metrics is not None:
            self._metrics.is_leader.set(1)
        log.info("leadership taken: this process runs the OneFile workers")
        pool = self.pool = self._make_pool()
        await conn.add_listener(CHANNEL, lambda *_: pool.wake.set())
        pool_stop = asyncio.Event()
        pool_task = asyncio.create_task(pool.run(pool_stop), name="worker-pool")
        watchdog = asyncio.create_task(self._watch(conn), name="leader-watchdog")
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([pool_task, watchdog, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            pool_stop.set()
            if not stop.is_set():
                # Lost the lock's connection: another replica may lead now. Stop calling
                # OneFile at once; the jobs go back to the queue (or their leases run out).
                log.warning("leader connection lost: stopping the workers")
                pool.abort()
            with contextlib.suppress(asyncio.CancelledError):
                await pool_task
            watchdog.cancel()
            stopper.cancel()
            if pool_task.done() and not pool_task.cancelled():
                error = pool_task.exception()
                if error is not None:
                    raise error

    async def _watch(self, conn: asyncpg.Connection) -> None:
        while True:
            await asyncio.sleep(self._watchdog)
            try:
                await asyncio.wait_for(conn.fetchval(Q["ping"]), timeout=self._watchdog * 2)
            except CONNECTION_LOST:
                return

    def _step_down(self) -> None:
        if self.is_leader:
            log.info("leadership released")
        self.is_leader = False
        self.pool = None
        if self._metrics is not None:
            self._metrics.is_leader.set(0)
