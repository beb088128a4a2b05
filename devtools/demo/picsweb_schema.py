"""PICSWeb's tables (schema `picsweb`) for development, demos and tests.

In production PICSWeb owns these tables and they already exist; here the project creates them
from docs/picsweb-database.md. `picsweb_schema.sql` is idempotent and has no triggers.
"""

from __future__ import annotations

from importlib import resources

import asyncpg

from app.db.migrate import PICSWEB_TABLES

SCHEMA = "picsweb"
# Parents before children: the order to create in; reversed, the order to drop in.
TABLES: tuple[str, ...] = PICSWEB_TABLES
# An arbitrary, fixed key: "picsweb demo schema". Serialises concurrent creators. Distinct from
# the service's keys (app/db/migrate.py, app/jobs/leader.py): sharing the leader's once made
# creating these tables wait on a running leader.
PICSWEB_SCHEMA_LOCK_KEY = 0x0F11E5_0003


def schema_sql() -> str:
    """The DDL text shipped with this build."""
    return (
        resources.files("devtools.demo").joinpath("picsweb_schema.sql").read_text(encoding="utf-8")
    )


async def create_picsweb_tables(conn: asyncpg.Connection) -> None:
    """Create schema `picsweb` and its eight tables and indexes; harmless when they exist."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", PICSWEB_SCHEMA_LOCK_KEY)
        await conn.execute(schema_sql())


async def drop_picsweb_tables(conn: asyncpg.Connection) -> None:
    """Drop the eight tables (and their data); the schema `picsweb` itself stays."""
    names = ", ".join(f"{SCHEMA}.{table}" for table in reversed(TABLES))
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", PICSWEB_SCHEMA_LOCK_KEY)
        await conn.execute(f"DROP TABLE IF EXISTS {names} CASCADE")
