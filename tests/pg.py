"""Test databases: TEST_DATABASE_URL when set, else an embedded server; one clone per test.

A template database is prepared once per session (PICSWeb's tables from the demo DDL, then the
service's migrations); each test gets `CREATE DATABASE … TEMPLATE …`, which takes a few tens of
milliseconds and isolates it completely.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from devtools.demo.embedded import embedded_postgres
from devtools.loopback import prepared_database
from devtools.loopback import with_database as with_database  # re-exported for the tests


@contextlib.contextmanager
def admin_url() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    root = Path(__file__).resolve().parent.parent
    with embedded_postgres(root / ".pgdata" / "tests") as embedded:
        yield embedded


async def create_template(admin: str) -> str:
    name = f"onefile_sync_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    await prepared_database(admin, name)
    return name


async def clone(admin: str, template: str) -> str:
    name = f"onefile_sync_t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return name


async def drop(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
