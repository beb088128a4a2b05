"""The chaos world: generated PICSWeb data, most of it already enrolled in the simulator, and
a day's activity on both sides, chosen by seeds and learner ids only, so that every run of the
same world — interrupted or not — starts from the same data and applies the same changes.

Most learners are enrolled in the simulator directly (seeded, no calls); a group is enrolled
through the service's API during the run. That group's learners are moved to officers and
employers OneFile does not know yet, so enrolment has to create them — exactly once — under
the chaos."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from app.db.pool import _init_connection
from devtools.demo.generate import generate_picsweb
from devtools.demo.seed_enrolled import seed_enrolled
from devtools.loopback import prepared_database
from devtools.loopback import serve_loopback as serve
from devtools.simulator import SimulatorConfig, SimulatorState, create_simulator_app
from devtools.simulator.config import REALISTIC
from devtools.uk_dates import uk_today

UK = ZoneInfo("Europe/London")
Log = Callable[[str], None]


def quiet(_: str) -> None:
    """A `Log` that says nothing."""


@dataclass(frozen=True)
class World:
    """Generated PICSWeb data: `learners` in all, `enrol` of them enrolled through the API."""

    learners: int = 60
    enrol: int = 10
    seed: int = 11
    new_officers: int = 3
    new_organisations: int = 3
    changed: float = 0.3  # share of learners changed on each side between enrolment and sync
    # OneFile quota: the service's and the simulator's (the simulator's is the real limit).
    rate: int = 600
    period: float = 10.0
    latency: float = 0.01
    # Which OneFile the simulator is: "today" (the first reading) or "realistic" (every answer
    # the public evidence makes likely: thin rows, a page cap, replacing updates, 403, …).
    onefile: str = "today"


async def new_database(admin_url: str, name: str) -> str:
    return await prepared_database(admin_url, name)


async def drop_database(admin_url: str, db_url: str) -> None:
    name = db_url.split("?")[0].rsplit("/", 1)[1]
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def prepare_world(db_url: str, world: World, sim: SimulatorState) -> list[int]:
    """Fill the empty database; returns the ids of the learners to enrol through the API."""
    conn = await asyncpg.connect(db_url)
    try:
        await _init_connection(conn)
        generated = await generate_picsweb(conn, learners=world.learners, seed=world.seed)
        enrollable = generated.complete_learner_ids
        group = sorted(random.Random(world.seed).sample(enrollable, world.enrol))
        chosen = set(group)
        await seed_enrolled(conn, sim, [lid for lid in enrollable if lid not in chosen])
        # Officers and employers OneFile does not know: the group's enrolments create them.
        officers = [
            await conn.fetchval(
                "INSERT INTO picsweb.officers (first_name, surname, ident, email) "
                "VALUES ('Chaos', $1, $2, $3) RETURNING id",
                f"Officer{k}",
                f"CHAOS-O{k}",
                f"chaos.officer{k}@staff.example.test",
            )
            for k in range(world.new_officers)
        ]
        orgs = [
            await conn.fetchval(
                "INSERT INTO picsweb.organisations (name, ident) VALUES ($1, $2) RETURNING id",
                f"Chaos Employer {k}",
                f"CHAOS-E{k}",
            )
            for k in range(world.new_organisations)
        ]
        for i, lid in enumerate(group):
            no, nr = len(officers), len(orgs)
            await conn.execute(
                "UPDATE picsweb.learners SET main_officer_id = $2 WHERE id = $1",
                lid,
                officers[i % no],
            )
            await conn.execute(
                "UPDATE picsweb.placements SET organisation_id = $2 WHERE learner_id = $1",
                lid,
                orgs[i % nr],
            )
            await conn.execute(
                "UPDATE picsweb.learner_qualifications SET assessor_officer_id = $2 "
                "WHERE learner_id = $1 AND assessor_officer_id IS NOT NULL",
                lid,
                officers[(i + 1) % no],
            )
            await conn.execute(
                "UPDATE picsweb.reviews SET officer_id = $2 "
                "WHERE learner_id = $1 AND officer_id IS NOT NULL",
                lid,
                officers[(i + 2) % no],
            )
    finally:
        await conn.close()
    return group


async def apply_changes(db_url: str, sim: SimulatorState, world: World) -> dict[str, int]:
    """A day's activity on both sides, chosen by learner id only (the same in every run)."""
    rng = random.Random(world.seed * 7 + 1)
    today = uk_today(dt.datetime.now(dt.UTC))
    noon = dt.datetime.combine(today, dt.time(12, 0), tzinfo=UK).astimezone(dt.UTC)
    learners = sorted(
        (u for u in sim.users(role=1) if u["MISID"] and str(u["MISID"]).isdigit()),
        key=lambda u: int(u["MISID"]),
    )
    counts: Counter[str] = Counter()
    for u in rng.sample(learners, round(world.changed * len(learners))):
        aims = sorted(
            sim.learning_aims(u["ID"]), key=lambda a: (a["StandardID"], str(a["StartDate"]))
        )
        open_reviews = sorted(
            (r for r in sim.reviews(u["ID"]) if r["StartedOn"] is None),
            key=lambda r: r["ScheduledFor"],
        )
        kinds = (["progress"] if aims else []) + (["review"] if open_reviews else [])
        kind = rng.choice([*kinds, "new_review"])
        counts[f"onefile_{kind}"] += 1
        if kind == "progress":
            aim = rng.choice(aims)
            total = aim["TotalElements"] or 40
            sim.set_progress(
                aim["ID"], total, min(total, (aim["ElementsDone"] or 0) + rng.randint(1, 5))
            )
        elif kind == "review":
            rid = open_reviews[0]["ID"]
            sim.start_review(rid, noon - dt.timedelta(hours=1))
            sim.sign_review(rid, noon, assessor_signed_on=noon)
        else:
            when = dt.datetime.combine(today + dt.timedelta(days=14), dt.time(10, 0), dt.UTC)
            sim.add_review(u["ID"], when, u["DefaultAssessorID"])
    conn = await asyncpg.connect(db_url)
    try:
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM picsweb.learners ORDER BY id")]
        for lid in rng.sample(ids, round(world.changed * len(ids))):
            if rng.random() < 0.5:
                counts["picsweb_new_review"] += 1
                await conn.execute(
                    "INSERT INTO picsweb.reviews (learner_id, type, planned_date, start_time, "
                    "attended) VALUES ($1, 'N', $2, '14:30', 'U')",
                    lid,
                    today + dt.timedelta(days=20 + rng.randint(0, 30)),
                )
            else:
                counts["picsweb_registration"] += 1
                await conn.execute(
                    "UPDATE picsweb.learner_qualifications SET registration_number = "
                    "'REG-' || id, updated_at = now() WHERE id = (SELECT id FROM "
                    "picsweb.learner_qualifications WHERE learner_id = $1 AND "
                    "registration_number IS NULL ORDER BY id LIMIT 1)",
                    lid,
                )
    finally:
        await conn.close()
    return dict(counts)


@contextlib.asynccontextmanager
async def simulator(
    world: World, seed: int, rate: int | None = None
) -> AsyncIterator[tuple[Any, str, str]]:
    preset = REALISTIC if world.onefile == "realistic" else {}
    cfg = SimulatorConfig(
        **preset, rate_limit=rate or world.rate, rate_period=world.period,
        latency=world.latency, latency_jitter=0.5, seed=seed,
    )  # fmt: skip
    app = create_simulator_app(cfg)
    async with serve(app, "off") as base:
        yield app, base, f"{base}{cfg.path_prefix}/"
