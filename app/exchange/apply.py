"""Applies one learner's plan to PICSWeb: its writes and the learner's new exchange state, in
one fenced transaction (a crash leaves both or neither; a claim taken back writes nothing).

The high-water mark moves past our own writes only when nobody else changed the learner's rows
since we read them; otherwise it stays, and the next sync redoes it.
"""

from __future__ import annotations

import datetime as dt

import asyncpg

from app.exchange.merge import LearnerPlan
from app.fencing import fenced_transaction
from app.picsweb.exchange_repo import ExchangeRepo
from app.store.service_store import ServiceStore


async def apply_learner(
    pool: asyncpg.Pool,
    picsweb: ExchangeRepo,
    store: ServiceStore,
    learner_id: int,
    plan: LearnerPlan,
    read_seen_at: dt.datetime | None,
    job_id: int,
) -> None:
    """The plan's PICSWeb writes, then the learner marked exchanged, in one transaction."""
    async with fenced_transaction(pool) as conn:
        before = await picsweb.seen_at(conn, learner_id)
        concurrent = read_seen_at is None or (before is not None and before > read_seen_at)
        await picsweb.update_qualifications(
            conn, learner_id, [(u.id, u.changes) for u in plan.qualification_updates]
        )
        await picsweb.update_reviews(
            conn, learner_id, [(u.id, u.changes) for u in plan.review_updates]
        )
        for create in plan.review_creates:
            await picsweb.insert_review(conn, learner_id, create.fields)
        after = before if plan.empty else await picsweb.seen_at(conn, learner_id)
        await store.learner_exchanged(conn, learner_id, job_id, None if concurrent else after)
