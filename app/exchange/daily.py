"""The daily exchange (rules B1–B10): the `refresh` and `sync` job handlers.

A sync first decides who needs exchanging (change detection), then streams those learners in
batches through `learner_concurrency` consumers:

    detect ─► pending rows (onefile_sync.exchange_state) ─► batches of 500 (3 SQL reads)
        ─► per learner: LearningAim/Search (+ reviews) ─► merge.plan_learner (pure)
        ─► OneFile aim updates (B2) ─► review uploads (B4, uploads.py) ─► one PICSWeb transaction

Incremental: learners whose OneFile `LastModified` moved since the last finished sync (less
a safety margin), whose PICSWeb rows moved past the high-water mark stored after our own
writes, and every learner that failed last time. Full: every enrolled learner, on request, when
no sync ever finished, or when the last full one is older than `full_sync_every_days`
(schedule.py decides). Reviews are read for the whole centre (1,000 a page, cached in Postgres
for the job) when that costs fewer calls than one search per learner. A rerun of a crashed
sync resumes with the learners still pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from app.exchange.apply import apply_learner
from app.exchange.deps import ExchangeDeps
from app.exchange.due_reviews import review_is_due
from app.exchange.merge import LearnerPlan, plan_learner
from app.exchange.recording import Cause
from app.exchange.schedule import ModeDecision, sync_mode
from app.exchange.uploads import ExchangeStepError, OfficerLinker, upload_due_reviews
from app.jobs.models import Job, Outcome
from app.jobs.worker import Handler, JobContext
from app.logs import learner_id_var
from app.onefile import records
from app.onefile.errors import OneFileAuthError, OneFileError, OneFileNotFound
from app.onefile.transport import CallTally, counting_calls
from app.picsweb.exchange_repo import ExchangeRepo, LearnerRows, ReviewAlreadyLinked
from app.picsweb.rows import Learner, Review
from app.store.history import HistoryStore, fields_written
from app.store.service_store import ServiceStore, SyncMode

log = logging.getLogger("app.exchange")

BATCH_SIZE = 500  # learners read from PICSWeb per batch (one statement per table)
LAST_MODIFIED_MARGIN = dt.timedelta(minutes=10)  # clocks and in-flight writes at OneFile
DRY_RUN_LIST_CAP = 1000  # learners listed field by field in a dry run's result
GONE_LIST_CAP = 100  # aims and reviews OneFile no longer has, listed in a job's result (each)


class _NotExchangeable(Exception):
    """Bad data on our side: the learner cannot be exchanged as it is."""


# ---- state shared by the refresh and sync handlers of one service -----------------------------


class LearnerLocks:
    """A refresh and a sync never exchange the same learner at the same moment: the handlers
    of one service share one of these (exchange/handlers.py builds it)."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, learner_id: int) -> AsyncIterator[None]:
        lock = self._locks.setdefault(learner_id, asyncio.Lock())
        self._users[learner_id] = self._users.get(learner_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[learner_id] -= 1
            if not self._users[learner_id]:
                del self._users[learner_id], self._locks[learner_id]


# ---- one job's run -----------------------------------------------------------------------------


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


@dataclass
class _Batch:
    """A batch of learners; the centre's cached reviews are fetched once for all of them."""

    user_ids: list[int]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    reviews: dict[int, list[records.Review]] | None = None


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
        self.counts = _Counts()
        self.calls = CallTally()  # replaced by the job's live tally in the handlers
        self.aims_gone: list[dict[str, int]] = []
        self.reviews_gone: list[dict[str, int]] = []
        self.changes: list[dict[str, Any]] = []
        self.changes_total = 0
        self.officers: dict[int, int] = {}
        self.officer_linker = OfficerLinker(deps)
        self.centre = False
        self.reviews_expected = 0
        self.centre_ready = asyncio.Event()
        self.centre_failed = False
        self.done = 0
        self.total = 0

    # -- reviews read for the whole centre --

    async def choose_review_source(self, learners: int) -> None:
        """Centre pages when they cost fewer calls than a search per learner."""
        if learners == 0:
            return
        estimate = await self.repo.linked_reviews_estimate()
        size = self.deps.onefile.review_page_size
        self.centre = estimate // size + 1 < learners
        self.reviews_expected = estimate

    async def read_centre_reviews(self) -> None:
        try:
            await self.store.clear_centre_reviews(self.job.id)
            async for page in self.deps.onefile.centre_reviews(expected=self.reviews_expected):
                await self._store_centre_page(page)
        except OneFileError as exc:
            # Not fatal: each learner reads its own reviews instead.
            log.warning(
                "centre reviews could not be read; reading per learner",
                extra={"job_id": self.job.id, "error_type": type(exc).__name__},
            )
            self.centre_failed = True
        finally:
            self.centre_ready.set()

    async def _store_centre_page(self, page: list[records.Review]) -> None:
        """Cache a page of the centre's reviews. Thin rows do not say whose review it is:
        PICSWeb's links (or a GET remembered earlier) do; a review unknown to both is new to
        PICSWeb (B5) and is read with a GET, which names its learner."""
        thin = [r.id for r in page if not r.has("learner_id")]
        owners = await self._review_owners(thin) if thin else {}
        unknown = [r for r in page if not r.has("learner_id") and r.id not in owners]
        if unknown:
            got = await self.deps.onefile.with_details(unknown)
            await self.store.remember_review_owners(got)
            by_id = {r.id: r for r in got}
            page = [by_id.get(r.id, r) for r in page]
        await self.store.store_centre_reviews(self.job.id, page, owners)

    async def _review_owners(self, review_ids: list[int]) -> dict[int, int]:
        """OneFile review id → its learner's OneFile user id, where known: PICSWeb's link, or
        a GET remembered by the service."""
        owners = await self.store.review_owners(review_ids)
        owners.update(await self.repo.linked_review_owners(review_ids))
        return owners

    async def _centre_reviews(self, batch: _Batch, user_id: int) -> list[records.Review] | None:
        async with batch.lock:
            if batch.reviews is None:
                await self.centre_ready.wait()
                if self.centre_failed:
                    return None
                batch.reviews = await self.store.centre_reviews_of(self.job.id, batch.user_ids)
        return batch.reviews.get(user_id, [])

    # -- the stream --

    async def exchange(self, batches: AsyncIterator[list[tuple[Learner, bool]]]) -> None:
        """`batches`: learners, each with whether it failed earlier in this job (a rerun)."""
        """Exchange every learner of `batches` with `learner_concurrency` consumers."""
        self.officers = await self.repo.officer_links()
        workers = max(1, self.deps.learner_concurrency)
        queue: asyncio.Queue[tuple[LearnerRows, bool, _Batch] | None] = asyncio.Queue(workers * 2)

        async def produce() -> None:
            async for items in batches:
                learners = [lr for lr, _ in items]
                batch = _Batch([lr.onefile_user_id for lr in learners if lr.onefile_user_id])
                loaded = await self.repo.load(learners)
                for data, (_, had_failed) in zip(loaded, items, strict=True):
                    await queue.put((data, had_failed, batch))
            for _ in range(workers):  # on an error, gather below cancels the consumers
                await queue.put(None)

        async def consume() -> None:
            while (item := await queue.get()) is not None:
                await self.learner(*item)

        tasks = [asyncio.create_task(produce(), name=f"job-{self.job.id}-read")]
        if self.centre:
            tasks.append(asyncio.create_task(self.read_centre_reviews()))
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
            if self.centre:
                with contextlib.suppress(*_INFRA):
                    await asyncio.shield(self.store.clear_centre_reviews(self.job.id))
        await self.ctx.progress(self.done, self.total, force=True)

    async def learner(self, data: LearnerRows, had_failed: bool, batch: _Batch) -> None:
        lr = data.learner
        learner_id_var.set(lr.id)  # every line logged for this learner carries its id
        try:
            async with self.locks.hold(lr.id):
                await self._exchange_one(data, batch)
            await self.ctx.learner_ok(lr.id, had_failed=had_failed)
        except OneFileAuthError:
            raise  # the token itself is refused: no learner can succeed
        except (
            OneFileError,
            ReviewAlreadyLinked,
            ExchangeStepError,
            _NotExchangeable,
            asyncpg.DataError,
            asyncpg.IntegrityConstraintViolationError,
        ) as exc:
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

    async def _exchange_one(self, data: LearnerRows, batch: _Batch) -> None:
        lr = data.learner
        user_id = lr.onefile_user_id
        if user_id is None:
            raise _NotExchangeable("the learner is not enrolled in OneFile")
        onefile = self.deps.onefile
        # Only the aims linked to a qualification the exchange reads (B1–B3: others are left
        # alone, and a qualification with units attached is left out).
        linked = {
            q.onefile_learning_aim_id: q.id
            for q in data.qualifications
            if q.onefile_learning_aim_id is not None and not q.has_units
        }
        got = await onefile.linked_learning_aims(user_id, linked)
        aims = list(got.aims.values())
        for aim_id in sorted(got.gone):
            self._aim_gone(lr.id, linked[aim_id], aim_id)
        reviews = await self._centre_reviews(batch, user_id) if self.centre else None
        if reviews is None:
            reviews = await onefile.reviews_of_learner(user_id)
        else:  # the centre's rows may be thin: this learner's are completed with GETs
            reviews = await onefile.with_details(reviews)
            _check_owner(user_id, reviews)
        await self._reviews_gone(lr.id, data.reviews, reviews, confirm=self.centre)
        plan = plan_learner(data.qualifications, data.reviews, self.officers, aims, reviews)
        now = self.deps.now()  # A8: due when planned to start after this moment
        due = [r.id for r in data.reviews if review_is_due(r, now)]
        self.counts.considered += 1
        if self.dry_run:
            self._count(plan, uploaded=0)
            self.counts.reviews_due_for_upload += len(due)
            self._describe(lr.id, plan, due)
            await self.store.learner_dry_run_done(lr.id, self.job.id)
            return
        for update in plan.aim_updates:  # B2: the aim as read, with the fields that change
            assert update.aim is not None
            await onefile.update_learning_aim(update.aim, update.new_values)
            await self.history.record_now(
                fields_written(
                    lr.id, self.job.id, "onefile", "learning_aims", update.aim_id, update.changes,
                    "B2",
                )
            )  # fmt: skip
        uploaded = 0
        seen_at = data.seen_at
        if due:  # B4, exactly as A8 (uploads.py); it links each review as OneFile answers
            report = await upload_due_reviews(
                self.deps,
                self.officer_linker,
                lr.id,
                user_id,
                lr.main_officer_id,
                now,
                existing_onefile_reviews=list(reviews),
                cause=Cause(lr.id, self.job.id, "B4"),
            )
            uploaded = len(report.created) + len(report.linked)
            self.counts.reviews_without_officer += len(report.without_officer)
            # Read both sides' reviews again so B5–B8 already cover the uploaded ones and the
            # next run finds nothing to do (B10).
            fresh = (await self.repo.load([lr]))[0]
            seen_at = fresh.seen_at
            reviews = await onefile.reviews_of_learner(user_id)
            await self._learn_officers(reviews)
            again = plan_learner(fresh.qualifications, fresh.reviews, self.officers, aims, reviews)
            plan = LearnerPlan(
                plan.qualification_updates,
                plan.aim_updates,
                again.review_updates,
                again.review_creates,
            )
        await apply_learner(
            self.deps.pool, self.repo, self.store, self.history, lr.id, plan, seen_at, self.job.id
        )
        self._count(plan, uploaded=uploaded)

    async def as_learners(
        self, users: Sequence[tuple[int, dt.datetime | None]]
    ) -> list[tuple[int, dt.datetime | None]]:
        """(OneFile user, LastModified) → (PICSWeb learner linked to it, LastModified)."""
        if not users:
            return []
        modified = dict(users)
        pairs = await self.repo.learners_of_users(list(modified))
        return [(learner_id, modified[user_id]) for learner_id, user_id in pairs]

    def _aim_gone(self, learner_id: int, lq_id: int, aim_id: int) -> None:
        """A linked aim OneFile no longer has: its qualification is left alone (B3) and the
        learner's other data is exchanged; the job's result names it."""
        self.counts.learning_aims_gone += 1
        if len(self.aims_gone) < GONE_LIST_CAP:
            self.aims_gone.append(
                {"learner_id": learner_id, "learner_qualification_id": lq_id, "aim_id": aim_id}
            )
        log.warning(
            "linked learning aim not in OneFile",
            extra={"job_id": self.job.id, "learner_id": learner_id, "aim_id": aim_id},
        )

    async def _reviews_gone(
        self,
        learner_id: int,
        ours: Sequence[Review],
        theirs: Sequence[records.Review],
        *,
        confirm: bool,
    ) -> None:
        """B12: a PICSWeb review linked to a OneFile review that OneFile no longer has stays as
        it is (not deleted; its link keeps A8 from uploading it again) and the job's result
        names it. Read from the centre's pages, absent may only mean "linked after the pages
        were read" (by a refresh meanwhile): then a GET, answering 404, confirms it."""
        present = {r.id for r in theirs}
        missing = [
            r
            for r in ours
            if r.onefile_review_id is not None and r.onefile_review_id not in present
        ]
        for review in missing:
            assert review.onefile_review_id is not None
            if confirm and await self.deps.onefile.review(review.onefile_review_id) is not None:
                continue
            self.counts.reviews_gone += 1
            if len(self.reviews_gone) < GONE_LIST_CAP:
                self.reviews_gone.append(
                    {
                        "learner_id": learner_id,
                        "review_id": review.id,
                        "onefile_review_id": review.onefile_review_id,
                    }
                )
            if self.deps.metrics is not None and not self.dry_run:
                self.deps.metrics.reviews_gone.inc()
            log.warning(
                "linked review not in OneFile",
                extra={"job_id": self.job.id, "learner_id": learner_id, "review_id": review.id},
            )

    async def _learn_officers(self, reviews: Sequence[records.Review]) -> None:
        """Officers linked since the job started (an upload may create one, A8) → B7 knows them."""
        unknown = {r.assessor_id for r in reviews if r.assessor_id is not None} - set(self.officers)
        if unknown:
            self.officers.update(await self.repo.officer_links(unknown))

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
        c.reviews_updated += len(plan.review_updates)
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

    def result(self, mode: str) -> dict[str, Any]:
        c = self.counts
        out: dict[str, Any] = {
            "mode": mode,
            "dry_run": self.dry_run,
            "reviews_read": "centre" if self.centre and not self.centre_failed else "per_learner",
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


_INFRA: tuple[type[BaseException], ...] = (OSError, asyncpg.PostgresConnectionError)


def _reason(exc: BaseException) -> str:
    """A failure reason without personal data: OneFile's messages are redacted by the client."""
    if isinstance(exc, OneFileError | ReviewAlreadyLinked | ExchangeStepError | _NotExchangeable):
        return str(exc)[:300]
    return f"PICSWeb refused the data ({type(exc).__name__})"


def _check_owner(user_id: int, reviews: Sequence[records.Review]) -> None:
    """A thin centre-wide row is put to a learner through PICSWeb's link; the GET of it names
    OneFile's learner. Should they differ, PICSWeb links another learner's review (bad data,
    B9): this learner fails, the review named."""
    for r in reviews:
        if r.learner_id is not None and r.learner_id != user_id:
            raise ReviewAlreadyLinked(
                f"OneFile review {r.id}, linked to a PICSWeb review of this learner, belongs "
                "to another OneFile learner"
            )


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
            await run.choose_review_source(len(ids))
            await run.exchange(batches())
        return run.outcome("refresh")

    return refresh


async def _detect(
    run: _Run, job: Job, *, full_requested: bool | None, dry_run: bool
) -> tuple[ModeDecision, Callable[[], Coroutine[Any, Any, None]] | None]:
    """Mark this job's pending learners (once per job; a rerun keeps them) → the mode and why,
    and for a full sweep the reading of every learner's LastModified, to run beside the
    exchange."""
    repo, store, deps = run.repo, run.store, run.deps
    existing = await store.sync_run(job.id)
    if existing is not None and existing.detected:
        run.total = existing.total or 0
        return ModeDecision(existing.mode, "resumed"), None
    last, last_full = await store.last_syncs()
    started = existing.started_at if existing is not None else deps.now()
    decision = sync_mode(full_requested, last_full, started, deps.full_sync_every_days)
    mode: SyncMode = decision.mode
    full = mode == "full"
    if deps.metrics is not None:
        deps.metrics.sync_runs.labels(mode, decision.reason).inc()
    await store.start_sync_run(job.id, mode, dry_run, started)
    if full:
        await store.mark_all_enrolled(job.id, await repo.linked_learners())
        run.total = await store.count_pending(job.id)
        await store.sync_detected(job.id, run.total)
        if deps.onefile.user_rows_thin:
            return decision, None  # rows without LastModified: nothing for a sweep to note

        async def sweep() -> None:
            # A full sweep reads every learner's LastModified too (a call per page of
            # learners), so the next incremental search, which overlaps by the margin, tells a
            # change from a repeat. Nothing in this job waits for it, so it runs beside the
            # exchange. Thin rows carry no LastModified: then it stops at the first page.
            async for users in deps.onefile.learners_of_centre():
                if not all(u.has("last_modified") for u in users):
                    return
                seen = await run.as_learners([(u.id, u.last_modified) for u in users])
                await store.note_onefile_modified(job.id, seen)

        return decision, sweep
    assert last is not None  # a full run finished, so some run did
    since = last - LAST_MODIFIED_MARGIN
    async for users in deps.onefile.users_changed_since(since):
        await store.mark_onefile_changed(
            job.id,
            await run.as_learners(
                [(u.id, u.last_modified) for u in users if u.has("last_modified")]
            ),
        )
        thin = [u.id for u in users if not u.has("last_modified")]
        if thin:
            await _confirm_changed(run, job, thin, since)
    marked, marks = await store.rows_seen_marks()
    await store.mark_picsweb_changed(job.id, await repo.changed_learners(marked, marks))
    run.total = await store.count_pending(job.id)
    await store.sync_detected(job.id, run.total)
    return decision, None


async def _confirm_changed(run: _Run, job: Job, user_ids: list[int], since: dt.datetime) -> None:
    """Learners a LastModified search returned in rows too thin to say when they changed.

    The search filters on the server: each changed at or after `since`. A learner has surely
    changed since we last read it when the LastModified stored then is older than `since`, or
    when that exchange ended before `since` less the margin (which covers the two clocks):
    it is exchanged at once. Any other — read during the overlap, most often a learner the
    last sync itself wrote to — is confirmed with `GET User/{id}`: one call, where exchanging
    a learner with thin rows costs two to five (a GET per aim and per review, a review
    search), and such a learner usually turns out unchanged. (Measured, `make bench`: the
    realistic preset's quiet day costs 1 call, not one per learner written the day before.)
    """
    user_of = dict(await run.repo.learners_of_users(user_ids))  # learner id → OneFile user
    stored = await run.store.stored_onefile_modified(list(user_of))
    changed: list[tuple[int, dt.datetime | None]] = []  # (OneFile user, LastModified)
    unsure: list[int] = []
    for learner_id, (seen, exchanged_at) in stored.items():
        user_id = user_of[learner_id]
        if (seen is not None and seen < since) or (
            exchanged_at is not None and exchanged_at < since - LAST_MODIFIED_MARGIN
        ):
            changed.append((user_id, None))
        elif user_id not in unsure:
            unsure.append(user_id)

    async def confirm(user_id: int) -> tuple[int, dt.datetime | None]:
        try:
            return user_id, (await run.deps.onefile.user(user_id)).last_modified
        except OneFileNotFound:
            return user_id, None  # gone from OneFile: the exchange will say so

    changed += await asyncio.gather(*(confirm(u) for u in unsure))
    run.counts.users_confirmed += len(unsure)
    await run.store.mark_onefile_changed(job.id, await run.as_learners(changed))


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
    decision, sweep = await _detect(
        run, job, full_requested=None if requested is None else bool(requested), dry_run=dry_run
    )
    sweeping: asyncio.Task[None] | None = (
        asyncio.create_task(sweep()) if sweep is not None else None
    )
    pending = await run.store.count_pending(job.id)
    run.done = max(0, run.total - pending)  # a rerun resumes where the last attempt stopped
    await ctx.progress(run.done, run.total, force=True)
    await run.choose_review_source(pending)

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
    outcome = run.outcome(decision.mode)
    outcome.result["mode_reason"] = decision.reason
    await run.store.finish_sync_run(job.id, outcome.status)
    if not dry_run:  # B11's retention: kept HISTORY_RETENTION_DAYS, pruned in bounded deletes
        try:
            await run.history.prune(run.deps.history_retention_days)
        except asyncpg.PostgresError as exc:  # the sync is done; the next one prunes again
            log.warning(
                "history not pruned", extra={"job_id": job.id, "error_type": type(exc).__name__}
            )
    return outcome
