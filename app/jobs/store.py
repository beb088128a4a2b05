"""The Postgres job queue: the only code that runs the statements of jobs.sql."""

from __future__ import annotations

import dataclasses
from typing import Any

import asyncpg

from app.db import sql
from app.db.pool import Conn
from app.jobs.models import PRIORITY_OF, Failure, Job, JobKind

Q = sql.load("jobs.sql")
FAILURES_SHOWN = 1000


class AlreadyActive(Exception):
    """A job of this kind (and learner) is already queued or running."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"job {job.id} is already {job.status}")
        self.job = job


class JobStore:
    """Insert, claim, lease, report and finish jobs. Never closes the pool it was given."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self,
        kind: JobKind,
        *,
        learner_id: int | None = None,
        params: dict[str, Any] | None = None,
        total: int | None = None,
    ) -> Job:
        """Queue a job and wake the workers; raises AlreadyActive for a second sync/enrol."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                Q["insert"], kind, PRIORITY_OF[kind], learner_id, params or {}, total
            )
            if row is None:
                existing = await conn.fetchrow(
                    Q["active_sync"] if kind == "sync" else Q["active_enrol"],
                    *(() if kind == "sync" else (learner_id,)),
                )
                if existing is None:  # finished in between: a rare race, let the caller retry
                    raise RuntimeError("job conflict vanished")
                raise AlreadyActive(Job.from_row(existing))
            await conn.execute(Q["notify"], str(row["id"]))
        return Job.from_row(row)

    async def get(self, job_id: int) -> Job | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(Q["get"], job_id)
            if row is None:
                return None
            failures = [
                Failure(r["learner_id"], r["reason"])
                for r in await conn.fetch(Q["failures"], job_id, FAILURES_SHOWN)
            ]
            count = len(failures)
            if count == FAILURES_SHOWN:
                count = int(await conn.fetchval(Q["failure_count"], job_id))
        return dataclasses.replace(Job.from_row(row), failures=failures, failure_count=count)

    async def claim(self, owner: str, lease_seconds: float, epoch: int) -> Job | None:
        """The next job, under a new claim token — only for the leader of `epoch` whose lease
        is current (app/jobs/leader.py)."""
        row = await self._pool.fetchrow(Q["claim"], owner, lease_seconds, epoch)
        return None if row is None else Job.from_row(row)

    # Every write below names the claim's token: a runner whose claim was taken back (a new
    # leader, an expired lease) changes nothing, whatever its clock says.

    async def heartbeat(self, job_id: int, claim: int, lease_seconds: float) -> bool:
        """Extend the lease; False when the claim is no longer this one."""
        return await self._pool.fetchval(Q["heartbeat"], job_id, claim, lease_seconds) is not None

    async def progress(self, job_id: int, claim: int, done: int, total: int | None) -> bool:
        return await self._pool.fetchval(Q["progress"], job_id, claim, done, total) is not None

    async def add_failure(self, job_id: int, claim: int, learner_id: int, reason: str) -> bool:
        row = await self._pool.fetchval(Q["add_failure"], job_id, learner_id, reason[:500], claim)
        return row is not None

    async def clear_failure(self, job_id: int, claim: int, learner_id: int) -> bool:
        return bool(await self._pool.fetchval(Q["clear_failure"], job_id, learner_id, claim))

    async def finish(
        self,
        job_id: int,
        claim: int,
        status: str,
        result: dict[str, Any] | None,
        error: str | None = None,
    ) -> Job | None:
        row = await self._pool.fetchrow(Q["finish"], job_id, claim, status, result, error)
        return None if row is None else Job.from_row(row)

    async def release(self, job_id: int, claim: int) -> None:
        await self._pool.execute(Q["release"], job_id, claim)

    async def holds(self, conn: Conn, job_id: int, claim: int) -> bool:
        """In `conn`'s transaction: the claim is current, and stays so until it commits."""
        return await conn.fetchval(Q["fence"], job_id, claim) is not None

    async def counts(self) -> list[tuple[str, str, int]]:
        rows = await self._pool.fetch(Q["counts"])
        return [(r["kind"], r["status"], r["n"]) for r in rows]

    async def last_finished_sync(self) -> Job | None:
        row = await self._pool.fetchrow(Q["last_finished_sync"])
        return None if row is None else Job.from_row(row)
