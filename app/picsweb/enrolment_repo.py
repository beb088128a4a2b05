"""PICSWeb data access of the enrolment: the only code that runs picsweb_enrolment.sql.

Plain records in and out. Each write is its own short statement (autocommit), so a OneFile id
is stored the moment OneFile answers and never waits for a long transaction to commit; each is
fenced (app/fencing.py): made for a job whose claim was taken back, it changes nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.db import sql
from app.db.pool import Conn
from app.fencing import fenced_execute, fenced_fetchval

Q = sql.load("picsweb_enrolment.sql")


@dataclass(frozen=True)
class LearnerRecord:
    """A learner as the enrolment reads it. Holds personal data: never log or report it."""

    id: int
    first_name: str
    surname: str
    email: str | None
    telephone: str | None
    mobile: str | None
    dob: dt.date | None
    uln: str | None
    nino: str | None
    start_date: dt.date | None
    planned_end_date: dt.date | None
    main_officer_id: int | None
    ethnicity: str | None
    sex: str | None
    disability: str | None
    onefile_user_id: int | None
    enrolment_status: str | None  # None, 'in_progress' or 'finished'
    main_officer_found: bool

    def __repr__(self) -> str:  # keeps personal data out of tracebacks and debug output
        return f"LearnerRecord(id={self.id}, onefile_user_id={self.onefile_user_id})"


@dataclass(frozen=True)
class PlacementRecord:
    id: int
    organisation_id: int
    type: str
    start_date: dt.date


@dataclass(frozen=True)
class OfficerRecord:
    """An officer as the enrolment reads it. Holds personal data: never log or report it."""

    id: int
    first_name: str
    surname: str
    ident: str | None
    email: str | None
    onefile_user_id: int | None

    def __repr__(self) -> str:
        return f"OfficerRecord(id={self.id}, onefile_user_id={self.onefile_user_id})"


@dataclass(frozen=True)
class OrganisationRecord:
    id: int
    name: str
    ident: str | None
    onefile_placement_id: int | None


@dataclass(frozen=True)
class LearnerQualificationRecord:
    id: int
    qualification_id: int
    onefile_standard_id: int | None
    start_date: dt.date | None
    planned_end_date: dt.date | None
    registration_number: str | None
    registration_date: dt.date | None
    achieved_date: dt.date | None
    claimed_date: dt.date | None
    certificate_applied_date: dt.date | None
    certificate_received_date: dt.date | None
    assessor_officer_id: int | None
    onefile_learning_aim_id: int | None


@dataclass(frozen=True)
class ReviewRecord:
    id: int
    type: str
    planned_date: dt.date | None
    start_time: dt.time | None
    officer_id: int | None
    attended: str
    onefile_review_id: int | None


def _rec(cls: type[Any], row: Any) -> Any:
    return cls(**dict(row))


async def read_learner_qualifications(
    db: Conn | asyncpg.Pool, learner_id: int
) -> list[LearnerQualificationRecord]:
    rows = await db.fetch(Q["learner_qualifications"], learner_id)
    return [_rec(LearnerQualificationRecord, r) for r in rows]


async def read_reviews(db: Conn | asyncpg.Pool, learner_id: int) -> list[ReviewRecord]:
    rows = await db.fetch(Q["reviews"], learner_id)
    return [_rec(ReviewRecord, r) for r in rows]


class EnrolmentRepo:
    """Reads and link writes of the enrolment. Never closes the pool it was given."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def _db(self, conn: Conn | None) -> Any:
        return self._pool if conn is None else conn

    # ---- the learner and its enrolment state -------------------------------------------

    async def learner(self, learner_id: int) -> LearnerRecord | None:
        row = await self._pool.fetchrow(Q["learner"], learner_id)
        return None if row is None else LearnerRecord(**dict(row))

    async def placements(self, learner_id: int) -> list[PlacementRecord]:
        rows = await self._pool.fetch(Q["placements"], learner_id)
        return [_rec(PlacementRecord, r) for r in rows]

    async def start_enrolment(self, learner_id: int, job_id: int) -> str | None:
        """Mark the enrolment in progress; the status it had before (None: never started)."""
        previous: str | None = await fenced_fetchval(
            self._pool, Q["start_enrolment"], learner_id, job_id
        )
        return previous

    async def finish_enrolment(
        self, learner_id: int, onefile_user_id: int, report: dict[str, Any]
    ) -> None:
        await fenced_execute(self._pool, Q["finish_enrolment"], learner_id, onefile_user_id, report)

    async def link_learner(self, learner_id: int, onefile_user_id: int) -> None:
        await fenced_execute(self._pool, Q["link_learner"], learner_id, onefile_user_id)

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

    async def officer(self, officer_id: int, conn: Conn | None = None) -> OfficerRecord | None:
        row = await self._db(conn).fetchrow(Q["officer"], officer_id)
        return None if row is None else _rec(OfficerRecord, row)

    async def link_officer(
        self, officer_id: int, onefile_user_id: int, conn: Conn | None = None
    ) -> None:
        await fenced_execute(self._db(conn), Q["link_officer"], officer_id, onefile_user_id)

    async def organisation(
        self, organisation_id: int, conn: Conn | None = None
    ) -> OrganisationRecord | None:
        row = await self._db(conn).fetchrow(Q["organisation"], organisation_id)
        return None if row is None else _rec(OrganisationRecord, row)

    async def link_organisation(
        self, organisation_id: int, placement_id: int, conn: Conn | None = None
    ) -> None:
        await fenced_execute(self._db(conn), Q["link_organisation"], organisation_id, placement_id)

    # ---- qualifications -----------------------------------------------------------------

    async def learner_qualifications(self, learner_id: int) -> list[LearnerQualificationRecord]:
        return await read_learner_qualifications(self._pool, learner_id)

    async def link_learning_aim(self, learner_qualification_id: int, aim_id: int) -> None:
        await fenced_execute(self._pool, Q["link_learning_aim"], learner_qualification_id, aim_id)

    # ---- reviews -------------------------------------------------------------------------

    async def reviews(self, learner_id: int) -> list[ReviewRecord]:
        return await read_reviews(self._pool, learner_id)

    async def linked_review_ids(self, onefile_review_ids: list[int]) -> set[int]:
        """Which of these OneFile reviews a PICSWeb review already holds."""
        if not onefile_review_ids:
            return set()
        rows = await self._pool.fetch(Q["linked_review_ids"], onefile_review_ids)
        return {int(r["onefile_review_id"]) for r in rows}

    async def link_review(self, review_id: int, onefile_review_id: int) -> bool:
        """Store the OneFile id; False when the review was linked meanwhile."""
        status = await fenced_execute(self._pool, Q["link_review"], review_id, onefile_review_id)
        return status.endswith(" 1")
