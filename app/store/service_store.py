"""The service's own state (schema `onefile_sync`): the only code that runs service_store.sql.

Enrolments in progress or finished (A2), sync runs, each learner's exchange state (pending for
a job, high-water marks, failures) and the centre's reviews cached for one job. Learners are
named by their PICSWeb ids; nothing here reads PICSWeb's tables (app/picsweb/ does). Writes
are fenced (app/fencing.py): made for a job whose claim was taken back, they change nothing.
A write that must commit with PICSWeb's (a learner's exchange) takes the caller's connection.
The job queue's own table has its repository beside the queue (app/jobs/store.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from app.db import sql
from app.db.pool import Conn
from app.fencing import fenced_execute, fenced_fetchval, fenced_transaction
from app.onefile import records

Q = sql.load("service_store.sql")

SyncMode = Literal["full", "incremental"]

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


@dataclass(frozen=True)
class SyncRun:
    job_id: int
    mode: SyncMode
    dry_run: bool
    started_at: dt.datetime
    detected: bool
    total: int | None


@dataclass(frozen=True)
class PendingLearner:
    """A learner a sync job still has to exchange."""

    learner_id: int
    had_failed: bool  # failed earlier in this same job (a rerun)
    onefile_modified_at: dt.datetime | None  # LastModified noted when it was found changed


class ServiceStore:
    """Queries on the service's own tables; never closes the pool it was given."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # ---- enrolments ------------------------------------------------------------------------

    async def enrolment_statuses(self, learner_ids: Sequence[int]) -> dict[int, str]:
        """Learner id → 'in_progress' or 'finished'; absent: never started here."""
        rows = await self._pool.fetch(Q["enrolment_statuses"], list(learner_ids))
        return {r["learner_id"]: r["status"] for r in rows}

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

    async def mark_all_enrolled(self, job_id: int, linked: Sequence[int]) -> None:
        """Full sweep: every linked learner (PICSWeb's ids) not half-way is pending."""
        await fenced_execute(self._pool, Q["mark_all_enrolled"], job_id, list(linked))

    async def mark_onefile_changed(
        self, job_id: int, learners: Sequence[tuple[int, dt.datetime | None]]
    ) -> None:
        """Learners (id, OneFile's LastModified) whose LastModified is new since their last
        exchange become pending."""
        if learners:
            ids, stamps = [i for i, _ in learners], [m for _, m in learners]
            await fenced_execute(self._pool, Q["mark_onefile_changed"], job_id, ids, stamps)

    async def note_onefile_modified(
        self, job_id: int, learners: Sequence[tuple[int, dt.datetime | None]]
    ) -> None:
        if learners:
            ids, stamps = [i for i, _ in learners], [m for _, m in learners]
            await fenced_execute(self._pool, Q["note_onefile_modified"], job_id, ids, stamps)

    async def stored_onefile_modified(
        self, learner_ids: Sequence[int]
    ) -> dict[int, tuple[dt.datetime | None, dt.datetime | None]]:
        """For each of these learners not half-way: (the LastModified stored at its last
        successful exchange, when that exchange was)."""
        rows = await self._pool.fetch(Q["stored_onefile_modified"], list(learner_ids))
        return {r["learner_id"]: (r["onefile_modified_at"], r["last_exchanged_at"]) for r in rows}

    async def rows_seen_marks(self) -> tuple[list[int], list[dt.datetime]]:
        """(learner ids, high-water marks) of the learners exchanged and not failed since."""
        rows = await self._pool.fetch(Q["rows_seen_marks"])
        return [r["learner_id"] for r in rows], [r["rows_seen_at"] for r in rows]

    async def mark_picsweb_changed(self, job_id: int, changed: Sequence[int]) -> None:
        if changed:
            await fenced_execute(self._pool, Q["mark_picsweb_changed"], job_id, list(changed))

    async def count_pending(self, job_id: int) -> int:
        n = await self._pool.fetchval(Q["count_pending"], job_id)
        return int(n)

    async def pending_batch(self, job_id: int, after: int, limit: int) -> list[PendingLearner]:
        rows = await self._pool.fetch(Q["pending_batch"], job_id, after, limit)
        return [
            PendingLearner(r["learner_id"], r["had_failed"], r["onefile_modified_at"]) for r in rows
        ]

    async def failed_in_job(self, learner_ids: Sequence[int], job_id: int) -> set[int]:
        rows = await self._pool.fetch(Q["failed_in_job"], list(learner_ids), job_id)
        return {r["learner_id"] for r in rows}

    # ---- the centre's reviews, cached for one job ------------------------------------------

    async def clear_centre_reviews(self, job_id: int) -> None:
        await fenced_execute(self._pool, Q["clear_centre_reviews"], job_id)

    async def review_owners(self, review_ids: Sequence[int]) -> dict[int, int]:
        """OneFile review id → its learner's OneFile user id, as an earlier GET said."""
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

    # ---- a learner's exchange ends ---------------------------------------------------------

    async def learner_exchanged(
        self, conn: Conn, learner_id: int, job_id: int, rows_seen_at: dt.datetime | None
    ) -> None:
        """On the caller's connection, in the transaction of the learner's PICSWeb writes."""
        await conn.execute(Q["learner_exchanged"], learner_id, job_id, rows_seen_at)

    async def learner_failed(self, learner_id: int, job_id: int, reason: str) -> None:
        await fenced_execute(self._pool, Q["learner_failed"], learner_id, job_id, reason)

    async def learner_dry_run_done(self, learner_id: int, job_id: int) -> None:
        await fenced_execute(self._pool, Q["learner_dry_run_done"], learner_id, job_id)
