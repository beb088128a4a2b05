"""PICSWeb's side of the daily exchange: the only code that runs picsweb_exchange.sql.

Reads are batched (one statement per table per batch of learners); a learner's writes happen
in one transaction, on a connection the caller opens (with the service's own state for that
learner, app/store/), and touch only rows whose values change, so `updated_at` stays put on a
day with no change (B10). Nothing here names the service's schema.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.db import sql
from app.db.pool import Conn
from app.picsweb.rows import Learner, LearnerQualification, Review

Q = sql.load("picsweb_exchange.sql")

QUALIFICATION_FIELDS = (
    "total_elements",
    "elements_done",
    "registration_number",
    "registration_date",
    "certificate_applied_date",
    "certificate_received_date",
)
REVIEW_FIELDS = ("attended", "actual_date", "officer_id", "trainee_signed_date")
NEW_REVIEW_FIELDS = (
    "type",
    "planned_date",
    "start_time",
    "officer_id",
    "attended",
    "actual_date",
    "trainee_signed_date",
    "onefile_review_id",
)

Change = tuple[Any, Any]  # (old, new)


class ReviewAlreadyLinked(Exception):
    """A OneFile review is already linked to a PICSWeb review of another learner (bad data)."""


@dataclass(frozen=True)
class LearnerRows:
    """One learner's PICSWeb rows, as read before talking to OneFile."""

    learner: Learner
    qualifications: list[LearnerQualification]
    reviews: list[Review]
    seen_at: dt.datetime | None  # highest updated_at of its rows when read


def _set_args(fields: Sequence[str], changes: dict[str, Change]) -> list[Any]:
    args: list[Any] = []
    for name in fields:
        args += [name in changes, changes[name][1] if name in changes else None]
    return args


class ExchangeRepo:
    """PICSWeb queries of the daily exchange; never closes the pool it was given."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # ---- who to exchange -------------------------------------------------------------------

    async def linked_learners(self) -> list[int]:
        """Every learner linked to OneFile, by id."""
        return [r["id"] for r in await self._pool.fetch(Q["linked_learners"])]

    async def learners_of_users(self, user_ids: Sequence[int]) -> list[tuple[int, int]]:
        """(learner id, OneFile user id) of the learners linked to these OneFile users."""
        rows = await self._pool.fetch(Q["learners_of_users"], list(user_ids))
        return [(r["id"], r["onefile_user_id"]) for r in rows]

    async def changed_learners(
        self, marked: Sequence[int], marks: Sequence[dt.datetime]
    ) -> list[int]:
        """Linked learners with no mark (`marked`, `marks`: the service's high-water marks),
        or with a row updated past theirs."""
        rows = await self._pool.fetch(Q["changed_learners"], list(marked), list(marks))
        return [r["id"] for r in rows]

    # ---- batched reads ---------------------------------------------------------------------

    async def learners(self, ids: Sequence[int]) -> list[Learner]:
        """These learners (those that still exist), by id."""
        return [Learner.from_row(r) for r in await self._pool.fetch(Q["learners"], list(ids))]

    async def load(self, learners: Sequence[Learner]) -> list[LearnerRows]:
        """The rows of a batch of learners: three statements, whatever its size."""
        ids = [lr.id for lr in learners]
        async with self._pool.acquire() as conn:
            seen = {r["id"]: r["seen_at"] for r in await conn.fetch(Q["picsweb_seen"], ids)}
            quals: dict[int, list[LearnerQualification]] = {i: [] for i in ids}
            for r in await conn.fetch(Q["qualifications_of"], ids):
                quals[r["learner_id"]].append(LearnerQualification.from_row(r))
            reviews: dict[int, list[Review]] = {i: [] for i in ids}
            for r in await conn.fetch(Q["reviews_of"], ids):
                reviews[r["learner_id"]].append(Review.from_row(r))
        return [LearnerRows(lr, quals[lr.id], reviews[lr.id], seen.get(lr.id)) for lr in learners]

    async def officer_links(self, onefile_ids: Iterable[int] | None = None) -> dict[int, int]:
        """OneFile user id → officer id; all links, or only those of `onefile_ids`."""
        if onefile_ids is None:
            rows = await self._pool.fetch(Q["officer_links"])
        else:
            rows = await self._pool.fetch(Q["officer_links_of"], list(onefile_ids))
        return {r["onefile_user_id"]: r["id"] for r in rows}

    async def linked_reviews_estimate(self) -> int:
        n = await self._pool.fetchval(Q["linked_reviews_estimate"])
        return int(n)

    async def reviews_held(self, onefile_review_ids: Collection[int]) -> set[int]:
        """Which of these OneFile reviews a PICSWeb review (of any learner) already holds."""
        if not onefile_review_ids:
            return set()
        rows = await self._pool.fetch(Q["reviews_held"], list(onefile_review_ids))
        return {int(r["onefile_review_id"]) for r in rows}

    async def linked_review_owners(self, review_ids: Sequence[int]) -> dict[int, int]:
        """OneFile review id → its learner's OneFile user id, by PICSWeb's link."""
        rows = await self._pool.fetch(Q["linked_review_owners"], list(review_ids))
        return {r["review_id"]: r["learner_user_id"] for r in rows}

    # ---- one learner's writes, on the caller's transaction ----------------------------------

    async def seen_at(self, conn: Conn, learner_id: int) -> dt.datetime | None:
        """The highest updated_at of the learner's rows now."""
        value: dt.datetime | None = await conn.fetchval(Q["picsweb_seen"], [learner_id], column=1)
        return value

    async def update_qualifications(
        self, conn: Conn, learner_id: int, updates: Sequence[tuple[int, dict[str, Change]]]
    ) -> None:
        if updates:
            await conn.executemany(
                Q["update_qualification"],
                [[i, *_set_args(QUALIFICATION_FIELDS, c), learner_id] for i, c in updates],
            )

    async def update_reviews(
        self, conn: Conn, learner_id: int, updates: Sequence[tuple[int, dict[str, Change]]]
    ) -> None:
        if updates:
            await conn.executemany(
                Q["update_review"],
                [[i, *_set_args(REVIEW_FIELDS, c), learner_id] for i, c in updates],
            )

    async def link_review(
        self, conn: Conn, review_id: int, onefile_review_id: int
    ) -> dt.datetime | None:
        """Link an uploaded review (B4) → the row's new updated_at; None when it was linked
        meanwhile."""
        at: dt.datetime | None = await conn.fetchval(Q["link_review"], review_id, onefile_review_id)
        return at

    async def insert_review(self, conn: Conn, learner_id: int, fields: dict[str, Any]) -> int:
        """A new review (B5) → its id; ReviewAlreadyLinked when another holds its OneFile id."""
        new_id: int | None = await conn.fetchval(
            Q["insert_review"], learner_id, *(fields[name] for name in NEW_REVIEW_FIELDS)
        )
        if new_id is None:
            raise ReviewAlreadyLinked(
                f"OneFile review {fields['onefile_review_id']} is already linked to another "
                "PICSWeb review"
            )
        return new_id
