"""How fresh the exchanged data is: when the last sync of each final status finished.

Read from the jobs table at every scrape of /metrics (not counted in memory), so the figure
survives restarts and every replica reports the same one: alerts can then say "the last sync
failed" or "no sync has run to its end for a day" without counting events per process.
"""

from __future__ import annotations

import asyncpg

from app.db import sql

Q = sql.load("freshness.sql")


async def last_sync_times(pool: asyncpg.Pool) -> dict[str, float]:
    """Final status → finish time (seconds since the epoch) of the newest sync, dry runs aside."""
    rows = await pool.fetch(Q["last_sync_by_status"])
    return {row["status"]: float(row["finished"]) for row in rows}


async def last_full_sync_time(pool: asyncpg.Pool) -> float | None:
    """Finish time (seconds since the epoch) of the newest full sync that ran to its end."""
    finished = await pool.fetchval(Q["last_full_sync"])
    return None if finished is None else float(finished)
