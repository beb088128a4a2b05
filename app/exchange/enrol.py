"""Enrolment ("learner upload", rules A1–A9): one PICSWeb learner becomes a OneFile learner.

Read, plan, apply. Read: the learner's PICSWeb rows, each once — the learner, its placements,
qualifications and reviews, every officer A4 may upload, the employer's organisation (A3).
Plan: A1 checked on those rows, then enrol_plan.plan_enrolment (pure). Apply, each step
resumable: mark the enrolment in progress → main officer (A4) → employer (A3) → the learner
(A6) → qualifications (A7) → due reviews (A8, uploads.upload_reviews) → mark it finished.
Every OneFile id is stored the moment OneFile answers, in a short write of its own; a rerun
after a crash or a OneFile fault checks what is linked and continues from there without
duplicating (A2, A5). An officer or organisation not linked yet is read again only under its
advisory lock, where another process may have linked it (uploads.py). The job result lists
what was created, found and skipped as ids and counts, never personal data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from app.db.pool import Conn
from app.exchange import enrol_plan as plan
from app.exchange.deps import ExchangeDeps
from app.exchange.due_reviews import plan_uploads
from app.exchange.eligibility import enrolment_problems
from app.exchange.recording import Cause, write_recorded
from app.exchange.uploads import (
    CREATE_ROUNDS,
    ExchangeStepError,
    Link,
    OfficerLinker,
    PlacementLinker,
    upload_reviews,
)
from app.jobs.models import Job, Outcome
from app.jobs.worker import Handler, JobContext
from app.logs import learner_id_var
from app.onefile import records
from app.onefile.errors import OneFileAmbiguous, OneFileError
from app.onefile.transport import CallTally, counting_calls
from app.picsweb.enrolment_repo import EnrolmentRepo
from app.picsweb.lookup import EnrolmentFacts, OfficerContact
from app.picsweb.rows import (
    Learner,
    LearnerQualification,
    Officer,
    Organisation,
    Placement,
    Review,
)
from app.store.history import HistoryStore, fields_written
from app.store.service_store import ServiceStore

log = logging.getLogger("app.exchange")

# Progress as the job reports it: officers and employer, learner, qualifications, reviews, done.
ENROL_STEPS = 5


@dataclass
class _Rows:
    """One learner's PICSWeb rows, read once for its enrolment. `officers` follows the links
    this enrolment writes, so that no officer is read again once linked."""

    learner: Learner
    placements: list[Placement]
    qualifications: list[LearnerQualification]
    reviews: list[Review]
    officers: dict[int, Officer]  # every officer A4 may upload, by id
    employer: Organisation | None  # A3's, when the learner has a placement

    def facts(self) -> EnrolmentFacts:
        """What rule A1 reads, as the API's check reads it (officers' emails included)."""
        lr = self.learner
        return EnrolmentFacts(
            learner_id=lr.id,
            onefile_user_id=lr.onefile_user_id,
            email=lr.email,
            uln=lr.uln,
            main_officer_id=lr.main_officer_id,
            main_officer_found=lr.main_officer_id in self.officers,
            has_placement=bool(self.placements),
            qualifications=self.qualifications,
            reviews=self.reviews,
            officers={
                o.id: OfficerContact(o.id, o.onefile_user_id is not None, o.email)
                for o in self.officers.values()
            },
        )


@dataclass
class _Report:
    """Counts and ids of one enrolment run (this attempt's work; links are cumulative)."""

    onefile_user_id: int | None = None
    resumed: bool = False
    created: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("learner", "officers", "placements", "learning_aims", "reviews"), 0
        )
    )
    linked: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("learner", "officers", "placements", "learning_aims", "reviews"), 0
        )
    )
    officer_ids: list[int] = field(default_factory=list)
    organisation_id: int | None = None
    learning_aims: dict[str, int] = field(default_factory=dict)  # lq id → aim id
    reviews: dict[str, int] = field(default_factory=dict)  # review id → OneFile review id
    qualifications_not_in_onefile: list[int] = field(default_factory=list)
    reviews_not_eligible: int = 0
    reviews_without_officer: list[int] = field(default_factory=list)
    calls: CallTally = field(default_factory=CallTally)  # the live counter of this job
    learner_id: int = 0  # whose enrolment, and its job: what the history records (B11)
    job_id: int | None = None

    def cause(self, rule: str) -> Cause:
        return Cause(self.learner_id, self.job_id, rule)

    def count(self, kind: str, link: Link) -> None:
        if link.how == "created":
            self.created[kind] += 1
        elif link.how == "found":
            self.linked[kind] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "onefile_user_id": self.onefile_user_id,
            "resumed": self.resumed,
            "created": self.created,
            "linked": self.linked,
            "officer_ids": self.officer_ids,
            "organisation_id": self.organisation_id,
            "learning_aims": self.learning_aims,
            "reviews": self.reviews,
            "skipped": {
                "qualifications_not_in_onefile": self.qualifications_not_in_onefile,
                "reviews_not_eligible": self.reviews_not_eligible,
                "reviews_without_officer": self.reviews_without_officer,
            },
            "onefile_calls": self.calls.calls,
            "onefile_gets": self.calls.gets,
        }


class Enrolment:
    """Runs enrolment jobs; one instance per process, so its linkers' locks are shared."""

    def __init__(self, deps: ExchangeDeps) -> None:
        self._deps = deps
        self._repo = EnrolmentRepo(deps.pool)
        self._store = ServiceStore(deps.pool)
        self._history = HistoryStore(deps.pool)
        self.officers = OfficerLinker(deps, self._repo)
        self.placements = PlacementLinker(deps, self._repo)

    async def __call__(self, job: Job, ctx: JobContext) -> Outcome:
        learner_id = job.learner_id
        if learner_id is None:
            return Outcome("failed", error="an enrol job needs a learner id")
        learner_id_var.set(learner_id)
        with counting_calls() as calls:
            report = _Report(calls=calls, learner_id=learner_id, job_id=job.id)
            try:
                outcome = await self._enrol(job, learner_id, report, ctx)
            except (OneFileError, ExchangeStepError) as exc:
                # What was created stays linked; enrolling again continues from there.
                outcome = Outcome("failed", error=str(exc))
                log.warning(
                    "enrolment stopped",
                    extra={
                        "job_id": job.id,
                        "learner_id": learner_id,
                        "error_type": type(exc).__name__,
                    },
                )
        if outcome.status == "failed":
            await ctx.fail_learner(learner_id, outcome.error or "enrolment failed")
            if not outcome.result:
                outcome = Outcome("failed", result=report.as_dict(), error=outcome.error)
        return outcome

    async def _enrol(self, job: Job, learner_id: int, report: _Report, ctx: JobContext) -> Outcome:
        deps = self._deps
        learner = await self._repo.learner(learner_id)
        if learner is None:
            return Outcome("failed", error=f"learner {learner_id} does not exist")
        status = (await self._store.enrolment_statuses([learner_id])).get(learner_id)
        if learner.onefile_user_id is not None and status != "in_progress":
            return Outcome(
                "succeeded",
                result={
                    "onefile_user_id": learner.onefile_user_id,
                    "already_enrolled": True,
                },
            )
        rows = await self._read(learner)
        now = deps.now()  # the moment A8 measures "in the future" against
        problems = enrolment_problems(rows.facts(), now)
        if problems:  # A1 is checked by the API too; the data may have changed since
            return Outcome(
                "failed",
                error=f"learner {learner_id} cannot be enrolled: "
                + "; ".join(p.message for p in problems),
            )
        todo = plan.plan_enrolment(learner, rows.placements, rows.qualifications, rows.reviews, now)
        previous = await self._store.start_enrolment(learner_id, job.id)
        report.resumed = previous is not None
        await ctx.progress(0, ENROL_STEPS, force=True)

        # A4: the main officer (the learner's default assessor); A3: the employer.
        main = await self._officer(todo.main_officer_id, rows, report)
        report.organisation_id = todo.employer.organisation_id
        if rows.employer is None:
            raise ExchangeStepError(f"organisation {todo.employer.organisation_id} does not exist")
        placement = await self.placements.link(rows.employer, report.cause("A3"))
        report.count("placements", placement)
        await ctx.progress(1, ENROL_STEPS, force=True)

        # A6: the learner.
        user_id, fresh = await self._learner(
            learner, main, placement.onefile_id, search=report.resumed, report=report
        )
        report.onefile_user_id = user_id
        await ctx.progress(2, ENROL_STEPS, force=True)

        # A7: qualifications. A learner created just now has no aims or reviews to look for.
        report.qualifications_not_in_onefile = todo.qualifications_skipped
        await self._qualifications(todo.qualifications, user_id, rows, fresh=fresh, report=report)
        await ctx.progress(3, ENROL_STEPS, force=True)

        # A8: reviews; their officers first, so that each is counted in this report (A4).
        for officer_id in plan.officers_to_upload(todo.main_officer_id, [], todo.due_reviews):
            await self._officer(officer_id, rows, report)
        report.reviews_not_eligible = todo.reviews_not_eligible
        if todo.due_reviews:
            await self._reviews(
                todo.main_officer_id, user_id, rows, now, fresh=fresh, report=report
            )
        await ctx.progress(4, ENROL_STEPS, force=True)

        await self._store.finish_enrolment(learner_id, user_id, report.as_dict())
        await ctx.progress(ENROL_STEPS, ENROL_STEPS, force=True)
        log.info(
            "learner enrolled",
            extra={
                "job_id": job.id,
                "learner_id": learner_id,
                "onefile_user_id": user_id,
            },
        )
        return Outcome("succeeded", result=report.as_dict())

    async def _read(self, learner: Learner) -> _Rows:
        """The learner's other PICSWeb rows, each read once (five statements)."""
        repo = self._repo
        placements = await repo.placements(learner.id)
        employer = plan.choose_employer(placements)  # A3
        return _Rows(
            learner=learner,
            placements=placements,
            qualifications=await repo.learner_qualifications(learner.id),
            reviews=await repo.reviews(learner.id),
            officers=await repo.officers_of_learner(learner.id),
            employer=(
                await repo.organisation(employer.organisation_id) if employer is not None else None
            ),
        )

    async def _reviews(
        self,
        main_officer_id: int,
        user_id: int,
        rows: _Rows,
        now: dt.datetime,
        *,
        fresh: bool,
        report: _Report,
    ) -> None:
        """A8: the due reviews uploaded. A review created before a crash is found among the
        learner's OneFile reviews by its start and linked instead (none for a new learner)."""
        existing = (
            [] if fresh else await self._deps.onefile.reviews_of_learner(user_id, detailed=False)
        )
        ours = {r.onefile_review_id for r in rows.reviews if r.onefile_review_id is not None}
        loose = [r.id for r in existing if r.scheduled_for is not None and r.id not in ours]
        held = await self._repo.linked_review_ids(loose)
        uploads, without_officer = plan_uploads(
            rows.reviews,
            existing,
            main_officer_id=main_officer_id,
            now=now,
            held_elsewhere=held,
        )
        assessors = {o.id: o.onefile_user_id for o in rows.officers.values() if o.onefile_user_id}

        async def link(conn: Conn, review_id: int, onefile_id: int) -> dt.datetime | None:
            return await self._repo.link_review(review_id, onefile_id, conn)

        done = await upload_reviews(
            self._deps,
            self.officers,
            link,
            user_id,
            uploads,
            assessors,
            cause=report.cause("A8"),
        )
        created = {u.upload.review_id: u.onefile_id for u in done if u.created}
        linked = {u.upload.review_id: u.onefile_id for u in done if not u.created}
        report.created["reviews"] += len(created)
        report.linked["reviews"] += len(linked)
        report.reviews = {str(k): v for k, v in {**linked, **created}.items()}
        report.reviews_without_officer = without_officer

    async def _officer(self, officer_id: int, rows: _Rows, report: _Report) -> int:
        """A4: the officer's OneFile id, linked or uploaded first; the row read for this
        enrolment follows the link."""
        officer = rows.officers.get(officer_id)
        if officer is None:  # read with the learner's rows unless deleted since
            raise ExchangeStepError(f"officer {officer_id} does not exist")
        link = await self.officers.link(officer, report.cause("A4"))
        rows.officers[officer_id] = dataclasses.replace(officer, onefile_user_id=link.onefile_id)
        if officer_id not in report.officer_ids:
            report.officer_ids.append(officer_id)
            report.count("officers", link)
        return link.onefile_id

    async def _learner(
        self,
        learner: Learner,
        default_assessor_id: int,
        placement_id: int,
        *,
        search: bool,
        report: _Report,
    ) -> tuple[int, bool]:
        """(OneFile user id, created by this run). A resumed enrolment looks the learner up
        by MISID first: a crash may have come between OneFile's answer and our write."""
        if learner.onefile_user_id is not None:
            return learner.onefile_user_id, False
        if search:
            found = await self._find_learner(learner.id)
            if found is not None:
                await self._link_learner(learner.id, found, report, created=False)
                report.linked["learner"] += 1
                return found, False
        draft = plan.learner_draft(
            learner, default_assessor_id=default_assessor_id, placement_id=placement_id
        )
        for _ in range(CREATE_ROUNDS):
            try:
                user_id = await self._deps.onefile.create_learner(draft)
            except OneFileAmbiguous:
                found = await self._find_learner(learner.id)
                if found is not None:
                    await self._link_learner(learner.id, found, report, created=False)
                    report.linked["learner"] += 1
                    return found, False
                continue
            await self._link_learner(learner.id, user_id, report, created=True)
            report.created["learner"] += 1
            return user_id, True
        raise ExchangeStepError(
            f"OneFile did not confirm the creation of learner {learner.id} "
            f"after {CREATE_ROUNDS} attempts"
        )

    async def _link_learner(
        self, learner_id: int, user_id: int, report: _Report, *, created: bool
    ) -> None:
        """A6's link, recorded; one found by MISID on resuming is linked under A2."""
        entries = report.cause("A6").link(
            "learners", learner_id, "onefile_user_id", user_id,
            created_as="users" if created else None, rule=None if created else "A2",
        )  # fmt: skip

        async def link(conn: Conn) -> bool:
            return await self._repo.link_learner(learner_id, user_id, conn)

        await write_recorded(self._deps.pool, self._history, link, entries)

    async def _link_aim(self, lq_id: int, aim_id: int, report: _Report, *, created: bool) -> None:
        """A7's link, recorded; an aim assigned before a crash and found again: A2."""
        entries = report.cause("A7").link(
            "learner_qualifications", lq_id, "onefile_learning_aim_id", aim_id,
            created_as="learning_aims" if created else None, rule=None if created else "A2",
        )  # fmt: skip

        async def link(conn: Conn) -> bool:
            return await self._repo.link_learning_aim(lq_id, aim_id, conn)

        await write_recorded(self._deps.pool, self._history, link, entries)

    async def _find_learner(self, learner_id: int) -> int | None:
        return await self._deps.onefile.find_learner(plan.learner_misid(learner_id))

    async def _aims(self, user_id: int) -> list[records.LearningAim]:
        return await self._deps.onefile.learning_aims_of(user_id)

    async def _qualifications(
        self,
        uploadable: list[LearnerQualification],
        user_id: int,
        rows: _Rows,
        *,
        fresh: bool,
        report: _Report,
    ) -> None:
        deps = self._deps
        learner_id = rows.learner.id
        if not uploadable:
            return
        # One search of the learner's aims, unless the learner is new: then there are none.
        aims = [] if fresh else await self._aims(user_id)
        by_id = {a.id: a for a in aims}
        linked = [lq.onefile_learning_aim_id for lq in uploadable if lq.onefile_learning_aim_id]
        free = plan.reusable_aims(aims, linked)
        for lq in uploadable:
            assert lq.onefile_standard_id is not None
            aim_id = lq.onefile_learning_aim_id
            current = by_id.get(aim_id) if aim_id is not None else None
            if aim_id is None:
                reuse = free.get(lq.onefile_standard_id)
                if reuse:
                    current = reuse.pop(0)
                    aim_id = current.id
                    await self._link_aim(lq.id, aim_id, report, created=False)
                    report.linked["learning_aims"] += 1
                else:
                    aim_id, current = await self._assign(lq, user_id, linked, report)
                linked.append(aim_id)
            report.learning_aims[str(lq.id)] = aim_id
            if current is None and aim_id in by_id:
                current = by_id[aim_id]
            if plan.aim_changes(lq) and (current is None or not current.whole):
                # The update carries the whole aim (wire.aim_update_payload): read it right
                # before writing, fresh from an assignment or behind a thin search row.
                current = await deps.onefile.learning_aim(aim_id)
            changes = plan.aim_changes(lq, current)
            if changes:
                assert current is not None
                await deps.onefile.update_learning_aim(current, changes)
                written = {
                    name: (getattr(current, name) if current.has(name) else None, new)
                    for name, new in changes.items()
                }
                await self._history.record_now(
                    fields_written(
                        learner_id, report.job_id, "onefile", "learning_aims", aim_id, written,
                        "A7",
                    )
                )  # fmt: skip
            if lq.assessor_officer_id is not None:
                assessor = await self._officer(lq.assessor_officer_id, rows, report)
                if (
                    current is None
                    or not current.has("lead_assessor_id")  # a thin row: assigning costs no more
                    or current.lead_assessor_id != assessor
                ):
                    await deps.onefile.assign_lead_assessor(
                        assessor, user_id, lq.onefile_standard_id
                    )
                    before = (
                        current.lead_assessor_id
                        if current is not None and current.has("lead_assessor_id")
                        else None
                    )
                    await self._history.record_now(
                        fields_written(
                            learner_id, report.job_id, "onefile", "learning_aims", aim_id,
                            {"lead_assessor_id": (before, assessor)}, "A7",
                        )
                    )  # fmt: skip

    async def _assign(
        self, lq: LearnerQualification, user_id: int, linked: list[int], report: _Report
    ) -> tuple[int, records.LearningAim | None]:
        """Assign the standard; (new aim id, the aim when it was found after an ambiguity).
        `linked`: the aims the learner's qualifications hold, this enrolment's links included."""
        assert lq.onefile_standard_id is not None
        for _ in range(CREATE_ROUNDS):
            try:
                aim_id = await self._deps.onefile.assign_standard(lq.onefile_standard_id, user_id)
            except OneFileAmbiguous:
                aims = await self._aims(user_id)
                found = plan.reusable_aims(aims, linked).get(lq.onefile_standard_id)
                if found:
                    await self._link_aim(lq.id, found[0].id, report, created=False)
                    report.linked["learning_aims"] += 1
                    return found[0].id, found[0]
                continue
            await self._link_aim(lq.id, aim_id, report, created=True)
            report.created["learning_aims"] += 1
            return aim_id, None
        raise ExchangeStepError(
            f"OneFile did not confirm the assignment of learner qualification {lq.id} "
            f"after {CREATE_ROUNDS} attempts"
        )


def make_enrol_handler(deps: ExchangeDeps) -> Handler:
    """The `enrol` job handler (rules A1–A9)."""
    return Enrolment(deps)
