"""Opening PICSWeb's database as start-up does: connect, find PICSWeb's tables, migrate ours.

The service's lifespan and the CLI's `check` and `migrate` take the same steps, and fail the
same way: a DatabaseProblem whose message names DATABASE_URL and the database it could not
use (app/db/target.py), never the password.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from app.db.migrate import MigrationError, check_picsweb, migrate
from app.db.pool import Conn, create_pool
from app.db.target import DatabaseProblem, DbTarget, connecting, parse_target

CONNECT_TIMEOUT = 10.0  # seconds, as the pool's own


async def _ready(conn: Conn, target: DbTarget, *, apply: bool) -> list[str]:
    """PICSWeb's tables are there; with `apply`, our migrations too (the names applied now)."""
    try:
        await check_picsweb(conn)
        return await migrate(conn) if apply else []
    except MigrationError as exc:
        raise DatabaseProblem(f"{target}: {exc}", unreachable=False) from None


async def open_database(
    dsn: str,
    *,
    size: int,
    on_query: Callable[[Any], None] | None = None,
    application_name: str = "onefile-sync",
) -> asyncpg.Pool:
    """The service's pool, once PICSWeb's tables are found and our schema is migrated."""
    target = parse_target(dsn)
    with connecting(target):
        pool = await create_pool(
            dsn, size=size, on_query=on_query, application_name=application_name
        )
    try:
        with connecting(target):
            async with pool.acquire() as conn:
                await _ready(conn, target, apply=True)
    except BaseException:
        await pool.close()
        raise
    return pool


async def _one_session(dsn: str, *, apply: bool) -> list[str]:
    target = parse_target(dsn)
    with connecting(target):
        conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT)
        try:
            return await _ready(conn, target, apply=apply)
        finally:
            await conn.close()


async def check_database(dsn: str) -> None:
    """Connect and look for PICSWeb's tables, changing nothing (`onefile-sync check`)."""
    await _one_session(dsn, apply=False)


async def migrate_database(dsn: str) -> list[str]:
    """Apply what is missing of our migrations (`onefile-sync migrate`); the names applied."""
    return await _one_session(dsn, apply=True)
