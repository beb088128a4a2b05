"""Read-only questions the API asks PICSWeb before it queues work."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from app.db import sql

Q = sql.load("picsweb_lookup.sql")


@dataclass(frozen=True)
class LearnerState:
    id: int
    onefile_user_id: int | None
    enrolment_status: str | None  # None: never started here; 'in_progress'; 'finished'

    @property
    def enrolled(self) -> bool:
        """Linked to OneFile and not stopped half-way."""
        return self.onefile_user_id is not None and self.enrolment_status != "in_progress"


@dataclass(frozen=True)
class EnrolmentFacts:
    """Only what the enrolment pre-check reads; held briefly, never logged."""

    state: LearnerState
    email: str | None
    uln: str | None
    main_officer_id: int | None
    main_officer_found: bool
    has_placement: bool


class PicswebLookup:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def learners_state(self, ids: list[int]) -> dict[int, LearnerState]:
        rows = await self._pool.fetch(Q["learners_state"], ids)
        return {
            r["id"]: LearnerState(r["id"], r["onefile_user_id"], r["enrolment_status"])
            for r in rows
        }

    async def enrolment_facts(self, learner_id: int) -> EnrolmentFacts | None:
        r = await self._pool.fetchrow(Q["enrolment_facts"], learner_id)
        if r is None:
            return None
        return EnrolmentFacts(
            state=LearnerState(r["id"], r["onefile_user_id"], r["enrolment_status"]),
            email=r["email"],
            uln=r["uln"],
            main_officer_id=r["main_officer_id"],
            main_officer_found=r["main_officer_found"] is not None,
            has_placement=r["has_placement"],
        )
