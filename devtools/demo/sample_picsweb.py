"""PICSWeb's tables with sample learners in a local database: `onefile-sync-dev picsweb`."""

from __future__ import annotations

import asyncpg

from devtools.demo.generate import generate_picsweb
from devtools.demo.picsweb_schema import create_picsweb_tables


async def create_sample_picsweb(url: str, *, learners: int, seed: int) -> int | None:
    """Create the tables (harmless when they exist) and generate `learners` learners into
    them; None, writing nothing, when they already hold learners (someone's data)."""
    conn = await asyncpg.connect(url)
    try:
        await create_picsweb_tables(conn)
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM picsweb.learners)"):
            return None
        summary = await generate_picsweb(conn, learners=learners, seed=seed)
    finally:
        await conn.close()
    return summary.learners
