"""Carries out one learner's plan (merge.plan_learner), in one pass and in the plan's order.

1. OneFile's learning aims (B2), each recorded as soon as OneFile answers (app/store/history.py
   says why that cannot be atomic).
2. The due reviews (B4, uploads.upload_reviews): each created in OneFile, then linked in
   PICSWeb with its history at once, so that a crash never loses a link nor duplicates a review.
3. Every other PICSWeb write — B1/B2 on qualifications, B5 new reviews, B6–B8 on reviews (the
   uploaded ones included), their history (B11) and the learner's new exchange state — in one
   fenced transaction: a crash leaves all or none; a claim taken back writes nothing.

Nothing is read again or re-planned in between: the plan already says what B6–B8 write on an
uploaded review. The high-water mark moves past our own writes only when nobody else changed
the learner's rows since we read them (our own links aside); otherwise it stays, and the next
sync redoes the learner.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import MutableMapping

from app.exchange.deps import ExchangeDeps
from app.exchange.merge import PROGRESS_FIELDS, LearnerPlan, RowUpdate
from app.exchange.recording import Cause
from app.exchange.uploads import OfficerLinker, Uploaded, upload_reviews
from app.fencing import fenced_transaction
from app.picsweb.exchange_repo import ExchangeRepo
from app.picsweb.rows import Learner
from app.store.history import Entry, HistoryStore, fields_written
from app.store.service_store import ServiceStore

# The rule behind each PICSWeb field the exchange writes (docs/exchange-rules.md).
QUALIFICATION_RULES = {name: "B1" if name in PROGRESS_FIELDS else "B2" for name in (
    "total_elements", "elements_done", "registration_number", "registration_date",
    "certificate_applied_date", "certificate_received_date",
)}  # fmt: skip
REVIEW_RULES = {
    "attended": "B6",
    "actual_date": "B6",
    "officer_id": "B7",
    "trainee_signed_date": "B8",
}


def planned_entries(learner_id: int, job_id: int, plan: LearnerPlan) -> list[Entry]:
    """The history of the plan's updates of existing PICSWeb rows, field by field (uploaded
    reviews' included)."""
    out: list[Entry] = []
    for q in plan.qualification_updates:
        out += fields_written(
            learner_id, job_id, "picsweb", "learner_qualifications", q.id, q.changes,
            QUALIFICATION_RULES,
        )  # fmt: skip
    for r in [*plan.review_updates, *plan.upload_updates()]:
        out += fields_written(
            learner_id, job_id, "picsweb", "reviews", r.id, r.changes, REVIEW_RULES
        )
    return out


@dataclasses.dataclass(frozen=True)
class Applicator:
    """What the apply step writes with, shared by the learners of one job."""

    deps: ExchangeDeps
    picsweb: ExchangeRepo
    store: ServiceStore
    history: HistoryStore
    officers: OfficerLinker
    assessors: MutableMapping[int, int]  # officer id → OneFile user id, where known


async def apply_learner(
    to: Applicator,
    learner: Learner,
    plan: LearnerPlan,
    read_seen_at: dt.datetime | None,
    job_id: int,
) -> LearnerPlan:
    """Carry out `plan` → the plan as carried out (an upload whose review was linked
    meanwhile left out)."""
    assert learner.onefile_user_id is not None
    for update in plan.aim_updates:  # B2: the aim as read, with the fields that change
        assert update.aim is not None
        await to.deps.onefile.update_learning_aim(update.aim, update.new_values)
        await to.history.record_now(
            fields_written(
                learner.id, job_id, "onefile", "learning_aims", update.aim_id, update.changes,
                "B2",
            )
        )  # fmt: skip
    uploaded: list[Uploaded] = []
    if plan.review_uploads:
        uploaded = await upload_reviews(
            to.deps,
            to.officers,
            to.picsweb.link_review,
            learner.onefile_user_id,
            plan.review_uploads,
            to.assessors,
            cause=Cause(learner.id, job_id, "B4"),
        )
        plan = dataclasses.replace(plan, review_uploads=[u.upload for u in uploaded])
        if read_seen_at is not None:  # our own links are no change of somebody else's
            read_seen_at = max([read_seen_at, *(u.linked_at for u in uploaded)])
    await _write_picsweb(to, learner.id, plan, read_seen_at, job_id)
    return plan


async def _write_picsweb(
    to: Applicator,
    learner_id: int,
    plan: LearnerPlan,
    read_seen_at: dt.datetime | None,
    job_id: int,
) -> None:
    """The plan's PICSWeb writes, their history (B11), then the learner marked exchanged, in
    one transaction."""
    picsweb = to.picsweb
    async with fenced_transaction(to.deps.pool) as conn:
        before = await picsweb.seen_at(conn, learner_id)
        concurrent = read_seen_at is None or (before is not None and before > read_seen_at)
        await picsweb.update_qualifications(
            conn, learner_id, [(u.id, u.changes) for u in plan.qualification_updates]
        )
        reviews: list[RowUpdate] = [*plan.review_updates, *plan.upload_updates()]
        await picsweb.update_reviews(conn, learner_id, [(u.id, u.changes) for u in reviews])
        entries = planned_entries(learner_id, job_id, plan)
        for create in plan.review_creates:
            new_id = await picsweb.insert_review(conn, learner_id, create.fields)
            written = {name: (None, value) for name, value in create.fields.items()}
            entries += fields_written(
                learner_id, job_id, "picsweb", "reviews", new_id, written, "B5"
            )
        await to.history.record(conn, entries)
        after = before if plan.empty else await picsweb.seen_at(conn, learner_id)
        await to.store.learner_exchanged(conn, learner_id, job_id, None if concurrent else after)
