"""One learner's daily exchange (rules B1–B12): read, plan, apply — each once.

    read:  the learner's PICSWeb rows (read by the job in batches, exchange_repo.load)
           OneFile: its linked learning aims, its reviews (per learner, or the centre's cache)
    plan:  merge.plan_learner (pure): both sides' writes and the reviews to upload (B4)
    apply: apply.apply_learner: aim updates (B2), uploads (B4), one PICSWeb transaction

What the job counts and reports of each learner is filled into a `LearnerOutcome` as it
happens, so that a learner that fails half-way still reports what it found (B12's gone reviews).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.exchange.apply import Applicator, apply_learner
from app.exchange.centre_reviews import Batch, ReviewSource
from app.exchange.deps import ExchangeDeps
from app.exchange.due_reviews import review_is_due
from app.exchange.merge import LearnerPlan, plan_learner
from app.exchange.uploads import OfficerLinker
from app.onefile import records
from app.picsweb.exchange_repo import ExchangeRepo, LearnerRows, ReviewAlreadyLinked
from app.picsweb.rows import Review
from app.store.history import HistoryStore
from app.store.service_store import ServiceStore

log = logging.getLogger("app.exchange")


class NotExchangeable(Exception):
    """Bad data on our side: the learner cannot be exchanged as it is."""


@dataclass
class LearnerOutcome:
    """What one learner's exchange found and did, for the job's counts and result."""

    considered: bool = False
    plan: LearnerPlan | None = None
    due: list[int] = field(default_factory=list)  # PICSWeb reviews A8 makes due
    uploaded: int = 0
    without_officer: int = 0  # due, but no officer to assess them (A8)
    aims_gone: list[tuple[int, int]] = field(default_factory=list)  # (lq id, aim id)
    reviews_gone: list[tuple[int, int]] = field(default_factory=list)  # (review, OneFile id)


class LearnerPipeline:
    """The exchange of single learners within one job."""

    def __init__(
        self,
        deps: ExchangeDeps,
        repo: ExchangeRepo,
        store: ServiceStore,
        history: HistoryStore,
        reviews: ReviewSource,
        job_id: int,
        *,
        dry_run: bool,
    ) -> None:
        self.deps = deps
        self.repo = repo  # PICSWeb's rows
        self.store = store  # the service's own state
        self.history = history  # what was written, field by field (B11)
        self.reviews = reviews
        self.job_id = job_id
        self.dry_run = dry_run
        self.officers: dict[int, int] = {}  # OneFile user id → officer id (B7)
        self.assessors: dict[int, int] = {}  # officer id → OneFile user id (B4's uploads)
        self.applicator = Applicator(
            deps, repo, store, history, OfficerLinker(deps), self.assessors
        )

    async def start(self) -> None:
        """Read what every learner of the job shares: the officers' links (B7, B4)."""
        self.officers = await self.repo.officer_links()
        self.assessors.update({o: u for u, o in self.officers.items()})

    async def exchange(self, data: LearnerRows, batch: Batch, out: LearnerOutcome) -> None:
        lr = data.learner
        user_id = lr.onefile_user_id
        if user_id is None:
            raise NotExchangeable("the learner is not enrolled in OneFile")
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
            self._aim_gone(lr.id, linked[aim_id], aim_id, out)
        centre = self.reviews.centre
        reviews = await self.reviews.of_learner(batch, user_id) if centre else None
        if reviews is None:
            reviews = await onefile.reviews_of_learner(user_id)
        else:  # the centre's rows may be thin: this learner's are completed with GETs
            reviews = await onefile.with_details(reviews)
            check_owner(user_id, reviews)
        await self._reviews_gone(lr.id, data.reviews, reviews, out, confirm=centre)
        now = self.deps.now()  # A8: due when planned to start after this moment
        out.due = [r.id for r in data.reviews if review_is_due(r, now)]
        held = await self._held_elsewhere(data.reviews, reviews) if out.due else set()
        plan = plan_learner(
            data.qualifications,
            data.reviews,
            self.officers,
            aims,
            reviews,
            main_officer_id=lr.main_officer_id,
            now=now,
            held_elsewhere=held,
        )
        out.considered = True
        out.plan = plan
        if self.dry_run:
            await self.store.learner_dry_run_done(lr.id, self.job_id)
            return
        out.without_officer = len(plan.reviews_without_officer)
        out.plan = await apply_learner(self.applicator, lr, plan, data.seen_at, self.job_id)
        out.uploaded = len(out.plan.review_uploads)
        if out.uploaded:  # an upload may have linked an officer (A4): B7 knows it from now on
            for officer_id, onefile_id in self.assessors.items():
                self.officers.setdefault(onefile_id, officer_id)

    async def _held_elsewhere(
        self, ours: Sequence[Review], theirs: Sequence[records.Review]
    ) -> set[int]:
        """Those of the learner's OneFile reviews linked to none of its PICSWeb reviews that a
        PICSWeb review of another learner holds: no due review is linked to one (B4)."""
        linked = {r.onefile_review_id for r in ours if r.onefile_review_id is not None}
        loose = {r.id for r in theirs if r.scheduled_for is not None and r.id not in linked}
        return await self.repo.reviews_held(loose) if loose else set()

    def _aim_gone(self, learner_id: int, lq_id: int, aim_id: int, out: LearnerOutcome) -> None:
        """A linked aim OneFile no longer has: its qualification is left alone (B3) and the
        learner's other data is exchanged; the job's result names it."""
        out.aims_gone.append((lq_id, aim_id))
        log.warning(
            "linked learning aim not in OneFile",
            extra={"job_id": self.job_id, "learner_id": learner_id, "aim_id": aim_id},
        )

    async def _reviews_gone(
        self,
        learner_id: int,
        ours: Sequence[Review],
        theirs: Sequence[records.Review],
        out: LearnerOutcome,
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
            out.reviews_gone.append((review.id, review.onefile_review_id))
            if self.deps.metrics is not None and not self.dry_run:
                self.deps.metrics.reviews_gone.inc()
            log.warning(
                "linked review not in OneFile",
                extra={"job_id": self.job_id, "learner_id": learner_id, "review_id": review.id},
            )


def check_owner(user_id: int, reviews: Sequence[records.Review]) -> None:
    """A thin centre-wide row is put to a learner through PICSWeb's link; the GET of it names
    OneFile's learner. Should they differ, PICSWeb links another learner's review (bad data,
    B9): this learner fails, the review named."""
    for r in reviews:
        if r.learner_id is not None and r.learner_id != user_id:
            raise ReviewAlreadyLinked(
                f"OneFile review {r.id}, linked to a PICSWeb review of this learner, belongs "
                "to another OneFile learner"
            )
