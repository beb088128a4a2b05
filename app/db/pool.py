"""The asyncpg pool: created by the lifespan, closed by it; nobody else owns one."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A connection of our own or one lent by the pool: repositories accept either.
Conn = asyncpg.Connection | PoolConnectionProxy


async def _init_connection(
    conn: asyncpg.Connection, on_query: Callable[[Any], None] | None = None
) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    if on_query is not None:
        conn.add_query_logger(on_query)


async def create_pool(
    dsn: str,
    *,
    size: int = 10,
    on_query: Callable[[Any], None] | None = None,
    application_name: str = "onefile-sync",
    **kwargs: Any,
) -> asyncpg.Pool:
    """A pool whose connections speak JSON natively; fails fast when the database is away.

    `on_query` is called after every statement (the metrics count them: batching is a
    property we measure, not one we hope for). `application_name` names this process's
    connections: a new leader terminates those of a deposed one (app/jobs/leader.py).
    """
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        init=partial(_init_connection, on_query=on_query),
        timeout=10,
        command_timeout=60,
        server_settings={"application_name": application_name},
        **kwargs,
    )
    assert pool is not None
    return pool
