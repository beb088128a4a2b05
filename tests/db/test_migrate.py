"""Migrations of the service's own schema: once, in order, safe when replicas race."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from app.db.migrate import MigrationError, available, check_picsweb, migrate
from devtools.demo.picsweb_schema import create_picsweb_tables
from tests import pg


async def _fresh_db(admin: str) -> str:
    name = f"onefile_sync_m_{id(object()):x}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def test_three_replicas_starting_together_apply_each_migration_once(pg_admin: str) -> None:
    name = await _fresh_db(pg_admin)
    url = pg.with_database(pg_admin, name)
    try:
        conns = [await asyncpg.connect(url) for _ in range(3)]
        applied = await asyncio.gather(*(migrate(c) for c in conns))
        for c in conns:
            await c.close()
        names = [n for batch in applied for n in batch]
        assert sorted(names) == sorted(m.name for m in available())  # each exactly once
        conn = await asyncpg.connect(url)
        rows = await conn.fetch("SELECT version FROM onefile_sync.schema_migrations")
        await conn.close()
        assert len(rows) == len(available())
    finally:
        await pg.drop(pg_admin, name)


async def test_migrate_is_idempotent(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        assert await migrate(conn) == []


async def test_a_changed_migration_stops_start_up(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("UPDATE onefile_sync.schema_migrations SET checksum = 'x'")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(conn)


async def test_missing_picsweb_tables_are_named(pg_admin: str) -> None:
    name = await _fresh_db(pg_admin)
    try:
        conn = await asyncpg.connect(pg.with_database(pg_admin, name))
        await conn.execute("CREATE SCHEMA picsweb; CREATE TABLE picsweb.officers (id bigint)")
        with pytest.raises(MigrationError, match="learners") as err:
            await check_picsweb(conn)
        assert "officers" not in str(err.value).split("picsweb:")[1]
        await conn.close()
    finally:
        await pg.drop(pg_admin, name)


async def test_a_picsweb_without_officers_email_is_named(pg_admin: str) -> None:
    name = await _fresh_db(pg_admin)
    try:
        conn = await asyncpg.connect(pg.with_database(pg_admin, name))
        await create_picsweb_tables(conn)
        await conn.execute("ALTER TABLE picsweb.officers DROP COLUMN email")
        with pytest.raises(
            MigrationError, match=r"columns missing in schema picsweb: officers\.email"
        ):
            await check_picsweb(conn)
        await conn.close()
    finally:
        await pg.drop(pg_admin, name)


def test_migrations_never_touch_picsweb() -> None:
    for mig in available():
        code = "\n".join(line.split("--")[0] for line in mig.text.lower().splitlines())
        assert "picsweb" not in code, mig.name
