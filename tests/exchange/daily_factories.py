"""Enrolled learners seeded straight into Postgres and the simulator, for the exchange tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from app.exchange.due_reviews import UK
from devtools.simulator import SimulatorState
from tests.exchange import factories as f
from tests.exchange.factories import wait_job

__all__ = [
    "Enrolled",
    "enrolled_learner",
    "linked_officer",
    "refresh",
    "settle",
    "sync",
    "wait_job",
]

UTC = dt.UTC


@dataclass
class Enrolled:
    learner_id: int
    user_id: int  # OneFile learner
    officer_id: int  # main officer, linked
    assessor_id: int  # its OneFile user
    lq_ids: list[int] = field(default_factory=list)
    aim_ids: list[int] = field(default_factory=list)


LONG_AGO = dt.timedelta(days=30)


def settle(sim: SimulatorState, ago: dt.timedelta = LONG_AGO) -> None:
    """What OneFile holds was last changed long ago: every user's LastModified moves back.

    Seeding through the simulator's helpers stamps "now" on each learner, as if every one had
    just changed; a centre's learners enrolled long ago carry an old LastModified, and only
    what changes afterwards is recent. (Seeding tooling: the simulator's record is written
    directly, as nothing in OneFile's API sets LastModified.)
    """
    old = dt.datetime.now(UTC) - ago
    for u in sim.users():
        raw = sim.raw_user(u["ID"])
        assert raw is not None
        raw["LastModified"] = old


async def linked_officer(pool: asyncpg.Pool, sim: SimulatorState, ident: str) -> tuple[int, int]:
    """A PICSWeb officer already linked to a OneFile assessor → (officer id, OneFile id)."""
    assessor = sim.add_user(
        {"OrganisationID": 1, "FirstName": "Ann", "LastName": "Assessor", "Role": 5,
         "MISID": ident}
    )  # fmt: skip
    officer = await f.officer(pool, ident, onefile_user_id=assessor)
    return officer, assessor


async def enrolled_learner(
    pool: asyncpg.Pool,
    sim: SimulatorState,
    *,
    tag: str = "1",
    qualifications: int = 1,
    lq: dict[str, Any] | None = None,
    aim: dict[str, Any] | None = None,
) -> Enrolled:
    """A learner enrolled in OneFile with `qualifications` linked learning aims, each seeded
    with the PICSWeb fields `lq` and the OneFile fields `aim` (PascalCase)."""
    officer, assessor = await linked_officer(pool, sim, f"OFF{tag}")
    lid = await f.learner(pool, officer)
    uid = sim.add_user(
        {"OrganisationID": 1, "FirstName": "Jo", "LastName": "Learner", "Email": "jo@example.test",
         "Role": 1, "DefaultAssessorID": assessor, "ClassroomID": 1, "MISID": str(lid)}
    )  # fmt: skip
    await pool.execute("UPDATE picsweb.learners SET onefile_user_id = $1 WHERE id = $2", uid, lid)
    e = Enrolled(lid, uid, officer, assessor)
    for n in range(qualifications):
        q = await f.qualification(pool, 501 + n, code=f"ST{tag}{n}")
        aim_id = sim.add_learning_aim(uid, 501 + n, **(aim or {}))
        e.aim_ids.append(aim_id)
        e.lq_ids.append(
            await f.learner_qualification(
                pool, lid, q, onefile_learning_aim_id=aim_id, **(lq or {})
            )
        )
    settle(sim)
    return e


async def linked_review(
    pool: asyncpg.Pool,
    sim: SimulatorState,
    e: Enrolled,
    when: dt.datetime,
    *,
    picsweb: dict[str, Any] | None = None,
    onefile: dict[str, Any] | None = None,
) -> tuple[int, int]:
    """A review on both sides, linked; (PICSWeb id, OneFile id). The PICSWeb row matches what
    the exchange would write unless `picsweb` says otherwise."""
    rid = sim.add_review(e.user_id, when, e.assessor_id, **(onefile or {}))
    local = when.astimezone(UK)
    values: dict[str, Any] = {
        "officer_id": e.officer_id,
        "onefile_review_id": rid,
        "start_time": local.time().replace(tzinfo=None),
    }
    values.update(picsweb or {})
    pid = await f.review(pool, e.learner_id, local.date(), **values)
    return pid, rid


async def refresh(
    api: httpx.AsyncClient, ids: list[int], *, dry_run: bool = False
) -> dict[str, Any]:
    r = await api.post("/refresh", json={"learner_ids": ids, "dry_run": dry_run})
    assert r.status_code == 202, r.text
    return await wait_job(api, r.json()["id"])


async def sync(
    api: httpx.AsyncClient, *, full: bool | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """A sync to its end; `full` None leaves the mode to the schedule (app/exchange/schedule.py)."""
    body: dict[str, Any] = (
        {"dry_run": dry_run} if full is None else {"full": full, "dry_run": dry_run}
    )
    r = await api.post("/sync", json=body)
    assert r.status_code == 202, r.text
    return await wait_job(api, r.json()["id"], timeout=60)


async def snapshot(pool: asyncpg.Pool) -> dict[str, list[tuple[Any, ...]]]:
    """Every PICSWeb row the exchange may write, updated_at included."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in ("learner_qualifications", "reviews", "learners", "officers"):
        rows = await pool.fetch(f"SELECT * FROM picsweb.{table} ORDER BY id")
        out[table] = [tuple(r.values()) for r in rows]
    return out


async def bulk_enrolled(pool: asyncpg.Pool, sim: SimulatorState, count: int) -> list[int]:
    """`count` learners enrolled and already in step on both sides (sim.seed_learners, then
    the matching PICSWeb rows in a few statements) → PICSWeb learner ids."""
    user_ids = sim.seed_learners(count, reviews=1)
    assessor = sim.user(user_ids[0])["DefaultAssessorID"]
    officer = await f.officer(pool, "SEED-OFF", onefile_user_id=assessor)
    qualification = await f.qualification(pool, 501, code="ST-SEED")
    rows = await pool.fetch(
        "INSERT INTO picsweb.learners (first_name, surname, main_officer_id, onefile_user_id)"
        " SELECT 'Seed', 'Learner', $1, u FROM unnest($2::bigint[]) AS u RETURNING id,"
        " onefile_user_id",
        officer,
        user_ids,
    )
    learner_of = {r["onefile_user_id"]: r["id"] for r in rows}
    aims = [(learner_of[a["UserID"]], a["ID"]) for u in user_ids for a in sim.learning_aims(u)]
    await pool.executemany(
        "INSERT INTO picsweb.learner_qualifications"
        " (learner_id, qualification_id, onefile_learning_aim_id) VALUES ($1, $2, $3)",
        [(lid, qualification, aim) for lid, aim in aims],
    )
    reviews = []
    for u in user_ids:
        for r in sim.reviews(u):
            local = r["ScheduledFor"].astimezone(UK)
            reviews.append(
                (learner_of[u], local.date(), local.time().replace(tzinfo=None), officer, r["ID"])
            )
    await pool.executemany(
        "INSERT INTO picsweb.reviews (learner_id, type, planned_date, start_time, officer_id,"
        " attended, onefile_review_id) VALUES ($1, 'N', $2, $3, $4, 'U', $5)",
        reviews,
    )
    settle(sim)
    return [learner_of[u] for u in user_ids]
