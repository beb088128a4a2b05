"""A small migration runner for the service's own schema (`onefile_sync`, never `picsweb`).

Numbered `.sql` files under app/db/migrations, each applied once in its own transaction and
recorded with a checksum; a file changed after it was applied stops start-up. Replicas that
start together serialise on a transaction-level advisory lock, so each file runs exactly once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from app.db import sql
from app.db.pool import Conn

log = logging.getLogger("app.db")

SCHEMA = "onefile_sync"
# An arbitrary, fixed key: "onefile-sync migrations".
MIGRATION_LOCK_KEY = 0x0F11E5_0001
_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
Q = sql.load("migrations.sql")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


class MigrationError(RuntimeError):
    """The schema cannot be brought up to date safely."""


def available() -> list[Migration]:
    """The migrations shipped with this build, in order."""
    found = []
    for entry in resources.files("app.db").joinpath("migrations").iterdir():
        m = _FILE.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a number")
    return found


async def migrate(conn: Conn) -> list[str]:
    """Apply what is missing; returns the names applied by this call."""
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute(Q["lock"], MIGRATION_LOCK_KEY)
        await conn.execute(Q["create_schema"])
        await conn.execute(Q["create_history"])
        done = {row["version"]: row for row in await conn.fetch(Q["history"])}
        for mig in available():
            row = done.get(mig.version)
            if row is not None:
                if row["checksum"] != mig.checksum:
                    raise MigrationError(
                        f"migration {mig.name} was changed after it was applied; "
                        "add a new migration instead"
                    )
                continue
            try:
                await conn.execute(mig.text)
            except asyncpg.PostgresError as exc:
                # The transaction rolls back whole; the server's message may quote values.
                raise MigrationError(
                    f"migration {mig.name} failed: {type(exc).__name__} (SQLSTATE {exc.sqlstate})"
                ) from exc
            await conn.execute(Q["record"], mig.version, mig.name, mig.checksum)
            applied_now.append(mig.name)
    if applied_now:
        log.info("migrations applied", extra={"count": len(applied_now)})
    return applied_now


# PICSWeb's tables (docs/picsweb-database.md), parents before children.
PICSWEB_TABLES = (
    "officers",
    "organisations",
    "learners",
    "placements",
    "qualifications",
    "learner_qualifications",
    "learner_qualification_units",
    "reviews",
)
# Columns added to PICSWeb's tables after they were first specified (table, column): a
# PICSWeb without them would fail later, mid-enrolment, with a database error instead.
PICSWEB_ADDED_COLUMNS = (("officers", "email"),)  # docs/picsweb-database.md, 2026-11-29


async def check_picsweb(conn: Conn) -> None:
    """Refuse to start when PICSWeb's tables are missing: the service never creates them."""
    present = {row["table_name"] for row in await conn.fetch(Q["picsweb_tables"])}
    missing = [t for t in PICSWEB_TABLES if t not in present]
    if missing:
        raise MigrationError(
            "PICSWeb tables missing in schema picsweb: "
            + ", ".join(missing)
            + " (is DATABASE_URL PICSWeb's database?)"
        )
    columns = {(r["table_name"], r["column_name"]) for r in await conn.fetch(Q["picsweb_columns"])}
    absent = [f"{t}.{c}" for t, c in PICSWEB_ADDED_COLUMNS if (t, c) not in columns]
    if absent:
        raise MigrationError(
            "PICSWeb columns missing in schema picsweb: "
            + ", ".join(absent)
            + " (docs/picsweb-database.md lists them)"
        )
