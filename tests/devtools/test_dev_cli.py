"""`onefile-sync-dev picsweb`: PICSWeb's tables and sample learners in a local database."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from typer.testing import CliRunner

from devtools.cli import cli
from devtools.loopback import fresh_database
from tests import pg


async def _learners(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM picsweb.learners"))
    finally:
        await conn.close()


def test_picsweb_creates_the_tables_once_and_never_overwrites(pg_admin: str) -> None:
    name = f"onefile_dev_cli_{uuid.uuid4().hex[:8]}"
    url = asyncio.run(fresh_database(pg_admin, name))
    runner = CliRunner()
    try:
        first = runner.invoke(cli, ["picsweb", "--learners", "5"], env={"DATABASE_URL": url})
        assert first.exit_code == 0, first.output
        assert "created with 5 sample learners" in first.output
        again = runner.invoke(cli, ["picsweb", "--learners", "9"], env={"DATABASE_URL": url})
        assert again.exit_code == 0, again.output
        assert "left as they are" in again.output
        assert asyncio.run(_learners(url)) == 5
    finally:
        asyncio.run(pg.drop(pg_admin, name))


def test_picsweb_without_a_database_is_one_line(pg_admin: str) -> None:
    missing = pg.with_database(pg_admin, f"onefile_missing_{uuid.uuid4().hex[:8]}")
    result = CliRunner().invoke(cli, ["picsweb"], env={"DATABASE_URL": missing})
    assert result.exit_code == 3
    assert result.output.strip() == "error: cannot use DATABASE_URL (InvalidCatalogNameError)"
    unset = CliRunner().invoke(cli, ["picsweb"], env={"DATABASE_URL": ""})
    assert unset.exit_code == 2
    assert "DATABASE_URL is not set" in unset.output
