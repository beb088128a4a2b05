"""The daily exchange's data access: the only SQL it runs (app/db/sql/picsweb_exchange.sql).

Reads are batched (one statement per table per batch of learners); a learner's writes happen
in one transaction and touch only rows whose values change, so `updated_at` stays put on a day
with no change (B10). The exchange's own state lives in schema `onefile_sync`. Every write is
fenced (app/fencing.py): made for a job whose claim was taken back, it changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from app.db import sql
from app.exchange.merge import LearnerPlan, PicsQualification, PicsReview
from app.fencing import fenced_execute, fenced_transaction
from app.onefile import records

Q = sql.load("picsweb_exchange.sql")

SyncMode = Literal["full", "incremental"]

_QUALIFICATION_FIELDS = (
    "total_elements",
    "elements_done",
    "registration_number",
    "registration_date",
    "certificate_applied_date",
    "certificate_received_date",
)
_REVIEW_FIELDS = ("attended", "actual_date", "officer_id", "trainee_signed_date")
_CENTRE_REVIEW_COLUMNS = (
    "job_id",
    "learner_user_id",
    "review_id",
    "scheduled_for",
    "end_time",
    "assessor_id",
    "status",
    "started_on",
    "learner_signed_on",
    "detailed",
)


class ReviewAlreadyLinked(Exception):
    """A OneFile review is already linked to a PICSWeb review of another learner (bad data)."""


@dataclass(frozen=True)
class LearnerRow:
    id: int
    onefile_user_id: int | None
    main_officer_id: int | None
    had_failed: bool  # failed earlier in this same job (a rerun)
    onefile_modified_at: dt.datetime | None


@dataclass(frozen=True)
class LearnerData:
    """One learner's PICSWeb side, as read before talking to OneFile."""

    learner: LearnerRow
    qualifications: list[PicsQualification]
    reviews: list[PicsReview]
    seen_at: dt.datetime | None  # highest updated_at of its rows when read


@dataclass(frozen=True)
class SyncRun:
    job_id: int
    mode: SyncMode
    dry_run: bool
    started_at: dt.datetime
    detected: bool
    total: int | None


def _learner(r: Any) -> LearnerRow:
    return LearnerRow(
        r["id"], r["onefile_user_id"], r["main_officer_id"], bool(r["had_failed"]),
        r["onefile_modified_at"],
    )  # fmt: skip


def _review(r: Any) -> PicsReview:
    return PicsReview(
        id=r["id"],
        type=r["type"],
        planned_date=r["planned_date"],
        start_time=r["start_time"],
        officer_id=r["officer_id"],
        attended=r["attended"],
        actual_date=r["actual_date"],
        trainee_signed_date=r["trainee_signed_date"],
        onefile_review_id=r["onefile_review_id"],
    )


def _set_args(fields: Sequence[str], changes: dict[str, tuple[Any, Any]]) -> list[Any]:
    args: list[Any] = []
    for name in fields:
        args += [name in changes, changes[name][1] if name in changes else None]
    return args


class ExchangeRepo:
    """Queries of the daily exchange; never closes the pool it was given."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # ---- sync runs -------------------------------------------------------------------------

    async def last_syncs(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """(start of the last finished sync, start of the last finished full sync)."""
        r = await self._pool.fetchrow(Q["last_syncs"])
        return (r["last_started_at"], r["last_full_started_at"]) if r else (None, None)

    async def sync_run(self, job_id: int) -> SyncRun | None:
        r = await self._pool.fetchrow(Q["sync_run"], job_id)
        if r is None:
            return None
        return SyncRun(
            r["job_id"], r["mode"], r["dry_run"], r["started_at"], r["detected_at"] is not None,
            r["total"],
        )  # fmt: skip

    async def start_sync_run(
        self, job_id: int, mode: SyncMode, dry_run: bool, started_at: dt.datetime
    ) -> None:
        await fenced_execute(self._pool, Q["start_sync_run"], job_id, mode, dry_run, started_at)

    async def sync_detected(self, job_id: int, total: int) -> None:
        await fenced_execute(self._pool, Q["sync_detected"], job_id, total)

    async def finish_sync_run(self, job_id: int, outcome: str) -> None:
        await fenced_execute(self._pool, Q["finish_sync_run"], job_id, outcome)

    # ---- change detection ------------------------------------------------------------------

    async def mark_all_enrolled(self, job_id: int) -> None:
        await fenced_execute(self._pool, Q["mark_all_enrolled"], job_id)

    async def mark_onefile_changed(
        self, job_id: int, users: Sequence[tuple[int, dt.datetime | None]]
    ) -> None:
        if users:
            ids = [u for u, _ in users]
            stamps = [m for _, m in users]
            await fenced_execute(self._pool, Q["mark_onefile_changed"], job_id, ids, stamps)

    async def note_onefile_modified(
        self, job_id: int, users: Sequence[tuple[int, dt.datetime | None]]
    ) -> None:
        if users:
            ids = [u for u, _ in users]
            stamps = [m for _, m in users]
            await fenced_execute(self._pool, Q["note_onefile_modified"], job_id, ids, stamps)

    async def stored_onefile_modified(
        self, user_ids: Sequence[int]
    ) -> dict[int, tuple[dt.datetime | None, dt.datetime | None]]:
        """For each of these OneFile users that is an enrolled learner of ours: (the
        LastModified stored at its last successful exchange, when that exchange was)."""
        rows = await self._pool.fetch(Q["stored_onefile_modified"], list(user_ids))
        return {
            r["onefile_user_id"]: (r["onefile_modified_at"], r["last_exchanged_at"]) for r in rows
        }

    async def mark_picsweb_changed(self, job_id: int) -> None:
        await fenced_execute(self._pool, Q["mark_picsweb_changed"], job_id)

    async def count_pending(self, job_id: int) -> int:
        n = await self._pool.fetchval(Q["count_pending"], job_id)
        return int(n)

    # ---- batched reads ---------------------------------------------------------------------

    async def pending_batch(self, job_id: int, after: int, limit: int) -> list[LearnerRow]:
        rows = await self._pool.fetch(Q["pending_batch"], job_id, after, limit)
        return [_learner(r) for r in rows]

    async def learners_by_id(self, ids: Sequence[int], job_id: int) -> list[LearnerRow]:
        rows = await self._pool.fetch(Q["learners_by_id"], list(ids), job_id)
        return [_learner(r) for r in rows]

    async def load(self, learners: Sequence[LearnerRow]) -> list[LearnerData]:
        """The PICSWeb side of a batch: three statements, whatever its size."""
        ids = [lr.id for lr in learners]
        async with self._pool.acquire() as conn:
            seen = {r["id"]: r["seen_at"] for r in await conn.fetch(Q["picsweb_seen"], ids)}
            quals: dict[int, list[PicsQualification]] = {i: [] for i in ids}
            for r in await conn.fetch(Q["qualifications_of"], ids):
                quals[r["learner_id"]].append(
                    PicsQualification(
                        id=r["id"],
                        onefile_learning_aim_id=r["onefile_learning_aim_id"],
                        has_units=r["has_units"],
                        registration_number=r["registration_number"],
                        registration_date=r["registration_date"],
                        certificate_applied_date=r["certificate_applied_date"],
                        certificate_received_date=r["certificate_received_date"],
                        total_elements=r["total_elements"],
                        elements_done=r["elements_done"],
                    )
                )
            reviews: dict[int, list[PicsReview]] = {i: [] for i in ids}
            for r in await conn.fetch(Q["reviews_of"], ids):
                reviews[r["learner_id"]].append(_review(r))
        return [LearnerData(lr, quals[lr.id], reviews[lr.id], seen.get(lr.id)) for lr in learners]

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

    # ---- the centre's reviews, cached for one job --------------------------------------------

    async def clear_centre_reviews(self, job_id: int) -> None:
        await fenced_execute(self._pool, Q["clear_centre_reviews"], job_id)

    async def review_owners(self, review_ids: Sequence[int]) -> dict[int, int]:
        """OneFile review id → its learner's OneFile user id, where known (PICSWeb's link, or
        a GET remembered in `review_owners`)."""
        rows = await self._pool.fetch(Q["review_owners"], list(review_ids))
        return {r["review_id"]: r["learner_user_id"] for r in rows}

    async def remember_review_owners(self, reviews: Sequence[records.Review]) -> None:
        owned = [(r.id, r.learner_id) for r in reviews if r.learner_id is not None]
        if owned:
            await fenced_execute(
                self._pool,
                Q["remember_review_owners"],
                [i for i, _ in owned],
                [u for _, u in owned],
            )

    async def store_centre_reviews(
        self, job_id: int, reviews: Sequence[records.Review], owners: Mapping[int, int] = {}
    ) -> None:
        """Cache a page of the centre's reviews; a thin row is stored under its owner from
        `owners` (rows whose owner is unknown are not stored)."""
        rows = []
        for r in reviews:
            learner = r.learner_id if r.has("learner_id") else owners.get(r.id)
            if learner is None:
                continue
            rows.append(
                (job_id, learner, r.id, r.scheduled_for, r.end_time, r.assessor_id, r.status,
                 r.started_on, r.learner_signed_on, r.detailed)
            )  # fmt: skip
        if rows:
            async with fenced_transaction(self._pool) as conn:
                await conn.copy_records_to_table(
                    "centre_reviews",
                    schema_name="onefile_sync",
                    columns=_CENTRE_REVIEW_COLUMNS,
                    records=rows,
                )

    async def centre_reviews_of(
        self, job_id: int, user_ids: Sequence[int]
    ) -> dict[int, list[records.Review]]:
        out: dict[int, list[records.Review]] = {u: [] for u in user_ids}
        for r in await self._pool.fetch(Q["centre_reviews_of"], job_id, list(user_ids)):
            values: dict[str, Any] = {
                "id": r["review_id"],
                "learner_id": r["learner_user_id"],
                "scheduled_for": r["scheduled_for"],
            }
            if r["detailed"]:  # a thin row keeps only what OneFile sent: `has()` tells
                values.update(
                    end_time=r["end_time"],
                    assessor_id=r["assessor_id"],
                    status=r["status"],
                    started_on=r["started_on"],
                    learner_signed_on=r["learner_signed_on"],
                )
            out[r["learner_user_id"]].append(records.Review.model_validate(values))
        return out

    # ---- one learner's writes ----------------------------------------------------------------

    async def apply(
        self, learner_id: int, plan: LearnerPlan, read_seen_at: dt.datetime | None, job_id: int
    ) -> None:
        """The plan's PICSWeb writes and the learner's new state, in one transaction.

        The high-water mark moves past our own writes only when nobody else changed the
        learner's rows since we read them; otherwise it stays, and the next sync redoes it.
        """
        async with fenced_transaction(self._pool) as conn:
            before = await conn.fetchval(Q["picsweb_seen"], [learner_id], column=1)
            concurrent = read_seen_at is None or (before is not None and before > read_seen_at)
            if plan.qualification_updates:
                await conn.executemany(
                    Q["update_qualification"],
                    [
                        [u.id, *_set_args(_QUALIFICATION_FIELDS, u.changes), learner_id]
                        for u in plan.qualification_updates
                    ],
                )
            if plan.review_updates:
                await conn.executemany(
                    Q["update_review"],
                    [
                        [u.id, *_set_args(_REVIEW_FIELDS, u.changes), learner_id]
                        for u in plan.review_updates
                    ],
                )
            for c in plan.review_creates:
                f = c.fields
                new_id = await conn.fetchval(
                    Q["insert_review"],
                    learner_id, f["type"], f["planned_date"], f["start_time"], f["officer_id"],
                    f["attended"], f["actual_date"], f["trainee_signed_date"],
                    f["onefile_review_id"],
                )  # fmt: skip
                if new_id is None:
                    raise ReviewAlreadyLinked(
                        f"OneFile review {c.onefile_review_id} is already linked to another "
                        "PICSWeb review"
                    )
            after = before
            if not plan.empty:
                after = await conn.fetchval(Q["picsweb_seen"], [learner_id], column=1)
            await conn.execute(
                Q["learner_exchanged"], learner_id, job_id, None if concurrent else after
            )

    async def learner_failed(self, learner_id: int, job_id: int, reason: str) -> None:
        await fenced_execute(self._pool, Q["learner_failed"], learner_id, job_id, reason)

    async def learner_dry_run_done(self, learner_id: int, job_id: int) -> None:
        await fenced_execute(self._pool, Q["learner_dry_run_done"], learner_id, job_id)
