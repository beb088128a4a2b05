"""PICSWeb data access of the enrolment: the only code that runs picsweb_enrolment.sql.

PICSWeb's rows (app/picsweb/rows.py) in and out; the enrolment's own state (in progress,
finished) is the service's (app/store/). Each write is its own short statement (autocommit), so
a OneFile id is stored the moment OneFile answers and never waits for a long transaction to
commit; each is fenced (app/fencing.py): made for a job whose claim was taken back, it changes
nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from app.db import sql
from app.db.pool import Conn
from app.fencing import fenced_execute, fenced_fetchval
from app.picsweb.rows import (
    Learner,
    LearnerQualification,
    Officer,
    Organisation,
    Placement,
    Review,
)

Q = sql.load("picsweb_enrolment.sql")


async def read_learner_qualifications(
    db: Conn | asyncpg.Pool, learner_id: int
) -> list[LearnerQualification]:
    rows = await db.fetch(Q["learner_qualifications"], learner_id)
    return [LearnerQualification.from_row(r) for r in rows]


async def read_reviews(db: Conn | asyncpg.Pool, learner_id: int) -> list[Review]:
    return [Review.from_row(r) for r in await db.fetch(Q["reviews"], learner_id)]


def _wrote(status: str) -> bool:
    return status.endswith(" 1")


class EnrolmentRepo:
    """Reads and link writes of the enrolment. Never closes the pool it was given."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def _db(self, conn: Conn | None) -> Any:
        return self._pool if conn is None else conn

    # ---- the learner ---------------------------------------------------------------------

    async def learner(self, learner_id: int) -> Learner | None:
        row = await self._pool.fetchrow(Q["learner"], learner_id)
        return None if row is None else Learner.from_row(row)

    async def placements(self, learner_id: int) -> list[Placement]:
        rows = await self._pool.fetch(Q["placements"], learner_id)
        return [Placement.from_row(r) for r in rows]

    # Links return whether they wrote (False: linked already). With `conn`, they run on it:
    # inside the caller's transaction, which records what was written (app/store/history.py).

    async def link_learner(
        self, learner_id: int, onefile_user_id: int, conn: Conn | None = None
    ) -> bool:
        return _wrote(
            await fenced_execute(self._db(conn), Q["link_learner"], learner_id, onefile_user_id)
        )

    # ---- officers and organisations (linked under an entity lock) ----------------------

    @contextlib.asynccontextmanager
    async def entity_lock(self, key: str) -> AsyncIterator[Conn]:
        """Hold a session advisory lock on `key` across processes; yields its connection.

        A session lock, not a transaction: the link written under it commits at once. Should
        the unlock fail, the pool's reset on release (pg_advisory_unlock_all) frees it.
        """
        async with self._pool.acquire() as conn:
            await conn.execute(Q["entity_lock"], key)
            try:
                yield conn
            finally:
                with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError):
                    await conn.execute(Q["entity_unlock"], key)

    async def officer(self, officer_id: int, conn: Conn | None = None) -> Officer | None:
        row = await self._db(conn).fetchrow(Q["officer"], officer_id)
        return None if row is None else Officer.from_row(row)

    async def officers_of_learner(self, learner_id: int) -> dict[int, Officer]:
        """Every officer the learner's enrolment may upload (A4), by id: one statement."""
        rows = await self._pool.fetch(Q["officers_of_learner"], learner_id)
        return {r["id"]: Officer.from_row(r) for r in rows}

    async def link_officer(
        self, officer_id: int, onefile_user_id: int, conn: Conn | None = None
    ) -> bool:
        return _wrote(
            await fenced_execute(self._db(conn), Q["link_officer"], officer_id, onefile_user_id)
        )

    async def organisation(
        self, organisation_id: int, conn: Conn | None = None
    ) -> Organisation | None:
        row = await self._db(conn).fetchrow(Q["organisation"], organisation_id)
        return None if row is None else Organisation.from_row(row)

    async def link_organisation(
        self, organisation_id: int, placement_id: int, conn: Conn | None = None
    ) -> bool:
        return _wrote(
            await fenced_execute(
                self._db(conn), Q["link_organisation"], organisation_id, placement_id
            )
        )

    # ---- qualifications -----------------------------------------------------------------

    async def learner_qualifications(self, learner_id: int) -> list[LearnerQualification]:
        return await read_learner_qualifications(self._pool, learner_id)

    async def link_learning_aim(
        self, learner_qualification_id: int, aim_id: int, conn: Conn | None = None
    ) -> bool:
        return _wrote(
            await fenced_execute(
                self._db(conn), Q["link_learning_aim"], learner_qualification_id, aim_id
            )
        )

    # ---- reviews -------------------------------------------------------------------------

    async def reviews(self, learner_id: int) -> list[Review]:
        return await read_reviews(self._pool, learner_id)

    async def linked_review_ids(self, onefile_review_ids: list[int]) -> set[int]:
        """Which of these OneFile reviews a PICSWeb review already holds."""
        if not onefile_review_ids:
            return set()
        rows = await self._pool.fetch(Q["linked_review_ids"], onefile_review_ids)
        return {int(r["onefile_review_id"]) for r in rows}

    async def link_review(
        self, review_id: int, onefile_review_id: int, conn: Conn | None = None
    ) -> dt.datetime | None:
        """Store the OneFile id → the row's new updated_at; None when the review was linked
        meanwhile."""
        at: dt.datetime | None = await fenced_fetchval(
            self._db(conn), Q["link_review"], review_id, onefile_review_id
        )
        return at
