"""Read-only questions the API and the enrolment ask PICSWeb before work is queued or done."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from app.db import sql
from app.db.pool import Conn
from app.picsweb.enrolment_repo import read_learner_qualifications, read_reviews
from app.picsweb.rows import LearnerQualification, Review

Q = sql.load("picsweb_lookup.sql")


@dataclass(frozen=True)
class OfficerContact:
    """An officer an enrolment may upload: is it linked to OneFile, and its email (A1)."""

    id: int
    linked: bool
    email: str | None

    def __repr__(self) -> str:  # the email stays out of tracebacks
        return f"OfficerContact(id={self.id}, linked={self.linked})"


@dataclass(frozen=True)
class EnrolmentFacts:
    """Only what the enrolment pre-check reads of PICSWeb; held briefly, never logged."""

    learner_id: int
    onefile_user_id: int | None
    email: str | None
    uln: str | None
    main_officer_id: int | None
    main_officer_found: bool
    has_placement: bool
    # What decides which officers A4 would upload, and those officers (A1, revised).
    qualifications: list[LearnerQualification] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    officers: dict[int, OfficerContact] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"EnrolmentFacts(learner_id={self.learner_id})"


class PicswebLookup:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def learner_links(self, ids: Sequence[int]) -> dict[int, int | None]:
        """For each of these learners that exists: its OneFile user id (None: not linked)."""
        rows = await self._pool.fetch(Q["learner_links"], list(ids))
        return {r["id"]: r["onefile_user_id"] for r in rows}

    async def enrolment_facts(self, learner_id: int) -> EnrolmentFacts | None:
        async with self._pool.acquire() as conn:
            r = await conn.fetchrow(Q["enrolment_facts"], learner_id)
            if r is None:
                return None
            officers = await officer_contacts(conn, learner_id)
            qualifications = await read_learner_qualifications(conn, learner_id)
            reviews = await read_reviews(conn, learner_id)
        return EnrolmentFacts(
            learner_id=r["id"],
            onefile_user_id=r["onefile_user_id"],
            email=r["email"],
            uln=r["uln"],
            main_officer_id=r["main_officer_id"],
            main_officer_found=r["main_officer_found"] is not None,
            has_placement=r["has_placement"],
            qualifications=qualifications,
            reviews=reviews,
            officers=officers,
        )


async def officer_contacts(conn: Conn | asyncpg.Pool, learner_id: int) -> dict[int, OfficerContact]:
    """Every officer the learner's enrolment may upload, by id (one statement)."""
    rows = await conn.fetch(Q["enrolment_officers"], learner_id)
    return {r["id"]: OfficerContact(r["id"], r["linked"], r["email"]) for r in rows}
