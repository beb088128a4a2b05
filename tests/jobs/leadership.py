"""Leadership for tests that drive the queue without a `Leader`: a lease row of their own."""

from __future__ import annotations

import asyncpg

from app.db import sql

Q = sql.load("leader.sql")


async def take_leadership(pool: asyncpg.Pool, lease: float = 3600.0) -> int:
    """The epoch of a fresh, long lease: what `JobStore.claim` and `WorkerPool` need."""
    epoch: int = await pool.fetchval(Q["take_leadership"], "test", None, lease)
    return epoch
