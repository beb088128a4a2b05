"""The daily exchange's job handlers (rules B1–B12): `refresh` and `sync`.

A sync first decides who needs exchanging (detection.py), then streams those learners in
batches through `learner_concurrency` consumers, each learner through the learner pipeline
(learner_pipeline.py):

    detect ─► pending rows (onefile_sync.exchange_state) ─► batches of 500 (3 SQL reads)
        ─► per learner: read OneFile ─► plan (pure, uploads included) ─► apply

A refresh streams the learners it was given the same way. This module is the glue: the stream,
a learner's failure (B9), the job's counts, the dry run's description and the job's result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.exchange.centre_reviews import Batch, ReviewSource
from app.exchange.deps import ExchangeDeps
from app.exchange.detection import detect
from app.exchange.learner_locks import LearnerLocks
from app.exchange.learner_pipeline import LearnerOutcome, LearnerPipeline, NotExchangeable
from app.exchange.merge import LearnerPlan
from app.exchange.uploads import ExchangeStepError
from app.jobs.models import Job, Outcome
from app.jobs.worker import Handler, JobContext
from app.logs import learner_id_var
from app.onefile.errors import OneFileAuthError, OneFileError
from app.onefile.transport import CallTally, counting_calls
from app.picsweb.exchange_repo import ExchangeRepo, LearnerRows, ReviewAlreadyLinked
from app.picsweb.rows import Learner
from app.store.history import HistoryStore
from app.store.service_store import ServiceStore

log = logging.getLogger("app.exchange")

BATCH_SIZE = 500  # learners read from PICSWeb per batch (one statement per table)
DRY_RUN_LIST_CAP = 1000  # learners listed field by field in a dry run's result
GONE_LIST_CAP = 100  # aims and reviews OneFile no longer has, listed in a job's result (each)

# A learner's own failure (B9): reported, and the job goes on with the others.
_LEARNER_FAILURES: tuple[type[BaseException], ...] = (
    OneFileError,
    ReviewAlreadyLinked,
    ExchangeStepError,
    NotExchangeable,
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
)


@dataclass
class _Counts:
    considered: int = 0
    exchanged: int = 0
    unchanged: int = 0
    failed: int = 0
    picsweb_fields: int = 0
    qualifications_updated: int = 0
    reviews_updated: int = 0
    reviews_created: int = 0
    onefile_fields: int = 0
    learning_aims_updated: int = 0
    reviews_uploaded: int = 0
    reviews_due_for_upload: int = 0  # dry run
    reviews_without_officer: int = 0  # due, but no officer to assess them (A8)
    users_confirmed: int = 0  # thin User rows whose LastModified a GET User/{id} confirmed
    learning_aims_gone: int = 0  # linked aims OneFile no longer has (left alone, reported)
    reviews_gone: int = 0  # linked reviews OneFile no longer has (B12: left alone, reported)


class _Run:
    """The exchange of a stream of learners within one job."""

    def __init__(
        self, deps: ExchangeDeps, locks: LearnerLocks, job: Job, ctx: JobContext, *, dry_run: bool
    ) -> None:
        self.deps = deps
        self.repo = ExchangeRepo(deps.pool)  # PICSWeb's rows
        self.store = ServiceStore(deps.pool)  # the service's own state
        self.history = HistoryStore(deps.pool)  # what was written, field by field (B11)
        self.job = job
        self.ctx = ctx
        self.dry_run = dry_run
        self.locks = locks
        self.reviews = ReviewSource(deps, self.repo, self.store, job.id)
        self.pipeline = LearnerPipeline(
            deps, self.repo, self.store, self.history, self.reviews, job.id, dry_run=dry_run
        )
        self.counts = _Counts()
        self.calls = CallTally()  # replaced by the job's live tally in the handlers
        self.aims_gone: list[dict[str, int]] = []
        self.reviews_gone: list[dict[str, int]] = []
        self.changes: list[dict[str, Any]] = []
        self.changes_total = 0
        self.done = 0
        self.total = 0

    # -- the stream --

    async def exchange(self, batches: AsyncIterator[list[tuple[Learner, bool]]]) -> None:
        """Exchange every learner of `batches` (each with whether it failed earlier in this
        job: a rerun) with `learner_concurrency` consumers."""
        await self.pipeline.start()
        workers = max(1, self.deps.learner_concurrency)
        queue: asyncio.Queue[tuple[LearnerRows, bool, Batch] | None] = asyncio.Queue(workers * 2)

        async def produce() -> None:
            async for items in batches:
                learners = [lr for lr, _ in items]
                batch = Batch([lr.onefile_user_id for lr in learners if lr.onefile_user_id])
                loaded = await self.repo.load(learners)
                for data, (_, had_failed) in zip(loaded, items, strict=True):
                    await queue.put((data, had_failed, batch))
            for _ in range(workers):  # on an error, gather below cancels the consumers
                await queue.put(None)

        async def consume() -> None:
            while (item := await queue.get()) is not None:
                await self.learner(*item)

        tasks = [asyncio.create_task(produce(), name=f"job-{self.job.id}-read")]
        if self.reviews.centre:
            tasks.append(asyncio.create_task(self.reviews.read_centre()))
        tasks += [
            asyncio.create_task(consume(), name=f"job-{self.job.id}-learner-{n}")
            for n in range(workers)
        ]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            if self.reviews.centre:
                await self.reviews.clear()
        await self.ctx.progress(self.done, self.total, force=True)

    async def learner(self, data: LearnerRows, had_failed: bool, batch: Batch) -> None:
        lr = data.learner
        learner_id_var.set(lr.id)  # every line logged for this learner carries its id
        out = LearnerOutcome()
        try:
            async with self.locks.hold(lr.id):
                try:
                    await self.pipeline.exchange(data, batch, out)
                finally:
                    self._tally(lr.id, out)
            self._count_done(lr.id, out)
            await self.ctx.learner_ok(lr.id, had_failed=had_failed)
        except OneFileAuthError:
            raise  # the token itself is refused: no learner can succeed
        except _LEARNER_FAILURES as exc:
            reason = _reason(exc)
            self.counts.failed += 1
            log.warning(
                "learner exchange failed",
                extra={"job_id": self.job.id, "learner_id": lr.id, "reason": reason},
            )
            if self.dry_run:
                await self.store.learner_dry_run_done(lr.id, self.job.id)
            else:
                await self.store.learner_failed(lr.id, self.job.id, reason)
            await self.ctx.fail_learner(lr.id, reason)
        self.done += 1
        await self.ctx.progress(self.done, self.total)

    # -- counting --

    def _tally(self, learner_id: int, out: LearnerOutcome) -> None:
        """What a learner found, counted whether or not it went on to succeed."""
        c = self.counts
        for lq_id, aim_id in out.aims_gone:
            c.learning_aims_gone += 1
            if len(self.aims_gone) < GONE_LIST_CAP:
                self.aims_gone.append(
                    {"learner_id": learner_id, "learner_qualification_id": lq_id, "aim_id": aim_id}
                )
        for review_id, onefile_review_id in out.reviews_gone:
            c.reviews_gone += 1
            if len(self.reviews_gone) < GONE_LIST_CAP:
                self.reviews_gone.append(
                    {
                        "learner_id": learner_id,
                        "review_id": review_id,
                        "onefile_review_id": onefile_review_id,
                    }
                )
        if out.considered:
            c.considered += 1
        c.reviews_without_officer += out.without_officer

    def _count_done(self, learner_id: int, out: LearnerOutcome) -> None:
        """A learner exchanged (or, in a dry run, planned): its plan counted."""
        assert out.plan is not None
        if self.dry_run:
            self._count(out.plan, uploaded=0)
            self.counts.reviews_due_for_upload += len(out.due)
            self._describe(learner_id, out.plan, out.due)
        else:
            self._count(out.plan, uploaded=out.uploaded)

    def _count(self, plan: LearnerPlan, *, uploaded: int) -> None:
        c = self.counts
        if plan.empty and not uploaded:
            c.unchanged += 1
        else:
            c.exchanged += 1
        c.picsweb_fields += plan.picsweb_fields
        c.onefile_fields += plan.onefile_fields
        c.qualifications_updated += len(plan.qualification_updates)
        c.learning_aims_updated += len(plan.aim_updates)
        c.reviews_updated += plan.reviews_updated
        c.reviews_created += len(plan.review_creates)
        c.reviews_uploaded += uploaded

    def _describe(self, learner_id: int, plan: LearnerPlan, due: list[int]) -> None:
        if plan.empty and not due:
            return
        self.changes_total += 1
        if len(self.changes) < DRY_RUN_LIST_CAP:
            described = plan.describe()
            described["onefile"]["reviews_to_upload"] = due
            self.changes.append({"learner_id": learner_id, **described})

    # -- the job's result --

    def result(self, mode: str) -> dict[str, Any]:
        c = self.counts
        out: dict[str, Any] = {
            "mode": mode,
            "dry_run": self.dry_run,
            "reviews_read": (
                "centre" if self.reviews.centre and not self.reviews.failed else "per_learner"
            ),
            "learners": {
                "to_exchange": self.total,
                "considered": c.considered,
                "exchanged": c.exchanged,
                "unchanged": c.unchanged,
                "failed": c.failed,
            },
            "picsweb": {
                "fields_written": c.picsweb_fields,
                "qualifications_updated": c.qualifications_updated,
                "reviews_updated": c.reviews_updated,
                "reviews_created": c.reviews_created,
            },
            "onefile": {
                "fields_written": c.onefile_fields,
                "learning_aims_updated": c.learning_aims_updated,
                "reviews_uploaded": c.reviews_uploaded,
                "calls": self.calls.calls,
                "gets": self.calls.gets,
            },
        }
        if c.users_confirmed:
            out["onefile"]["users_confirmed"] = c.users_confirmed
        if c.learning_aims_gone:
            out["onefile"]["learning_aims_gone"] = c.learning_aims_gone
            out["onefile"]["learning_aims_gone_list"] = self.aims_gone
        if c.reviews_gone:
            out["onefile"]["reviews_gone"] = c.reviews_gone
            out["onefile"]["reviews_gone_list"] = self.reviews_gone
        if self.dry_run:
            out["onefile"]["reviews_due_for_upload"] = c.reviews_due_for_upload
        if c.reviews_without_officer:
            out["onefile"]["reviews_without_officer"] = c.reviews_without_officer
        if self.dry_run:
            out["changes"] = self.changes
            out["changes_total"] = self.changes_total
        return out

    def outcome(self, mode: str) -> Outcome:
        return Outcome("partial" if self.counts.failed else "succeeded", result=self.result(mode))


def _reason(exc: BaseException) -> str:
    """A failure reason without personal data: OneFile's messages are redacted by the client."""
    if isinstance(exc, OneFileError | ReviewAlreadyLinked | ExchangeStepError | NotExchangeable):
        return str(exc)[:300]
    return f"PICSWeb refused the data ({type(exc).__name__})"


def _chunks(ids: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# ---- the handlers ------------------------------------------------------------------------------


def make_refresh_handler(deps: ExchangeDeps, locks: LearnerLocks) -> Handler:
    """ "Refresh with OneFile": the exchange of the job's `learner_ids`, now."""

    async def refresh(job: Job, ctx: JobContext) -> Outcome:
        ids = sorted({int(i) for i in job.params.get("learner_ids", [])})
        run = _Run(deps, locks, job, ctx, dry_run=bool(job.params.get("dry_run", False)))
        run.total = len(ids)

        async def batches() -> AsyncIterator[list[tuple[Learner, bool]]]:
            for chunk in _chunks(ids, BATCH_SIZE):
                learners = await run.repo.learners(chunk)
                for gone in sorted(set(chunk) - {lr.id for lr in learners}):
                    run.counts.failed += 1
                    run.done += 1
                    await ctx.fail_learner(gone, "the learner no longer exists in PICSWeb")
                failed = await run.store.failed_in_job([lr.id for lr in learners], job.id)
                yield [(lr, lr.id in failed) for lr in learners]

        with counting_calls() as run.calls:
            await run.reviews.choose(len(ids))
            await run.exchange(batches())
        return run.outcome("refresh")

    return refresh


def make_sync_handler(deps: ExchangeDeps, locks: LearnerLocks) -> Handler:
    """The daily exchange of every enrolled learner that needs it."""

    async def sync(job: Job, ctx: JobContext) -> Outcome:
        dry_run = bool(job.params.get("dry_run", False))
        run = _Run(deps, locks, job, ctx, dry_run=dry_run)
        with counting_calls() as run.calls:
            return await _sync(run, job, ctx, dry_run=dry_run)

    return sync


async def _sync(run: _Run, job: Job, ctx: JobContext, *, dry_run: bool) -> Outcome:
    requested = job.params.get("full")  # None: the body left the mode to the schedule
    detected = await detect(
        run.deps,
        run.repo,
        run.store,
        job,
        full_requested=None if requested is None else bool(requested),
        dry_run=dry_run,
    )
    run.total = detected.total
    run.counts.users_confirmed += detected.users_confirmed
    sweeping: asyncio.Task[None] | None = (
        asyncio.create_task(detected.sweep()) if detected.sweep is not None else None
    )
    pending = await run.store.count_pending(job.id)
    run.done = max(0, run.total - pending)  # a rerun resumes where the last attempt stopped
    await ctx.progress(run.done, run.total, force=True)
    await run.reviews.choose(pending)

    async def batches() -> AsyncIterator[list[tuple[Learner, bool]]]:
        after = 0
        while pending := await run.store.pending_batch(job.id, after, BATCH_SIZE):
            learners = {
                lr.id: lr for lr in await run.repo.learners([p.learner_id for p in pending])
            }
            # A learner deleted from PICSWeb meanwhile is skipped (and stays pending).
            yield [
                (learners[p.learner_id], p.had_failed) for p in pending if p.learner_id in learners
            ]
            after = pending[-1].learner_id

    try:
        await run.exchange(batches())
    except BaseException:
        if sweeping is not None:
            sweeping.cancel()
            await asyncio.gather(sweeping, return_exceptions=True)
        raise
    if sweeping is not None:
        await sweeping
    outcome = run.outcome(detected.decision.mode)
    outcome.result["mode_reason"] = detected.decision.reason
    await run.store.finish_sync_run(job.id, outcome.status)
    if not dry_run:  # B11's retention: kept HISTORY_RETENTION_DAYS, pruned in bounded deletes
        try:
            await run.history.prune(run.deps.history_retention_days)
        except asyncpg.PostgresError as exc:  # the sync is done; the next one prunes again
            log.warning(
                "history not pruned", extra={"job_id": job.id, "error_type": type(exc).__name__}
            )
    return outcome
