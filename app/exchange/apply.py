"""Applies one learner's plan to PICSWeb: its writes and the learner's new exchange state, in
one fenced transaction (a crash leaves both or neither; a claim taken back writes nothing).

The high-water mark moves past our own writes only when nobody else changed the learner's rows
since we read them; otherwise it stays, and the next sync redoes it.
"""

from __future__ import annotations

import datetime as dt

import asyncpg

from app.exchange.merge import PROGRESS_FIELDS, LearnerPlan
from app.fencing import fenced_transaction
from app.picsweb.exchange_repo import ExchangeRepo
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
    """The history of the plan's updates of existing PICSWeb rows, field by field."""
    out: list[Entry] = []
    for q in plan.qualification_updates:
        out += fields_written(
            learner_id, job_id, "picsweb", "learner_qualifications", q.id, q.changes,
            QUALIFICATION_RULES,
        )  # fmt: skip
    for r in plan.review_updates:
        out += fields_written(
            learner_id, job_id, "picsweb", "reviews", r.id, r.changes, REVIEW_RULES
        )
    return out


async def apply_learner(
    pool: asyncpg.Pool,
    picsweb: ExchangeRepo,
    store: ServiceStore,
    history: HistoryStore,
    learner_id: int,
    plan: LearnerPlan,
    read_seen_at: dt.datetime | None,
    job_id: int,
) -> None:
    """The plan's PICSWeb writes, their history (B11), then the learner marked exchanged, in
    one transaction."""
    async with fenced_transaction(pool) as conn:
        before = await picsweb.seen_at(conn, learner_id)
        concurrent = read_seen_at is None or (before is not None and before > read_seen_at)
        await picsweb.update_qualifications(
            conn, learner_id, [(u.id, u.changes) for u in plan.qualification_updates]
        )
        await picsweb.update_reviews(
            conn, learner_id, [(u.id, u.changes) for u in plan.review_updates]
        )
        entries = planned_entries(learner_id, job_id, plan)
        for create in plan.review_creates:
            new_id = await picsweb.insert_review(conn, learner_id, create.fields)
            written = {name: (None, value) for name, value in create.fields.items()}
            entries += fields_written(
                learner_id, job_id, "picsweb", "reviews", new_id, written, "B5"
            )
        await history.record(conn, entries)
        after = before if plan.empty else await picsweb.seen_at(conn, learner_id)
        await store.learner_exchanged(conn, learner_id, job_id, None if concurrent else after)
