"""The asyncpg pool: created by the lifespan, closed by it; nobody else owns one."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A connection of our own or one lent by the pool: repositories accept either.
Conn = asyncpg.Connection | PoolConnectionProxy


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, size: int = 10, **kwargs: Any) -> asyncpg.Pool:
    """A pool whose connections speak JSON natively; fails fast when the database is away."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        init=_init_connection,
        timeout=10,
        command_timeout=60,
        server_settings={"application_name": "onefile-sync"},
        **kwargs,
    )
    assert pool is not None
    return pool
