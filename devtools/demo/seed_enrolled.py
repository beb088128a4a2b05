"""Benchmark and demo tooling: make generated PICSWeb learners "already enrolled".

Creates the matching OneFile records straight in the simulator's memory (no API calls, no
quota) and links them in PICSWeb, as a finished enrolment would have left them — so that a
benchmark of the daily exchange starts from the state of a real centre on an ordinary day. On
such a day, learners were enrolled long ago: each learner's LastModified is set back to its
start (the simulator stamps "now" on every seeded record, as if all had just changed, which
would flatter nothing but make every learner look changed to a LastModified search).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from app.db import sql
from app.db.pool import Conn
from devtools.simulator import SimulatorState

Q = sql.load("demo_seed.sql")
UK = ZoneInfo("Europe/London")
BATCH = 2000


@dataclass(frozen=True)
class SeedSummary:
    officers: int
    organisations: int
    learners: int
    learning_aims: int
    reviews: int


def _uk_instant(day: dt.date, at: dt.time | None) -> dt.datetime:
    return dt.datetime.combine(day, at or dt.time(9, 0), tzinfo=UK).astimezone(dt.UTC)


def _enrolled_at(sim: SimulatorState, user_id: int, start: dt.date | None, today: dt.date) -> None:
    """The learner's LastModified: its enrolment, at its start date (at least a day ago).
    Seeding tooling: the simulator's record is written directly (no API sets LastModified)."""
    day = min(start or today, today - dt.timedelta(days=1))
    raw = sim.raw_user(user_id)
    assert raw is not None
    raw["LastModified"] = _uk_instant(day, dt.time(10, 0))


async def seed_enrolled(
    conn: Conn,
    sim: SimulatorState,
    *,
    organisation_id: int = 1,
    classroom_id: int = 1,
    today: dt.date | None = None,
) -> SeedSummary:
    """Enrol every enrollable learner directly in the simulator and link PICSWeb to it."""
    today = today or dt.datetime.now(UK).date()
    officers: dict[int, int] = {}
    for r in await conn.fetch(Q["officers"]):
        officers[r["id"]] = sim.add_user(
            {"OrganisationID": organisation_id, "FirstName": r["first_name"],
             "LastName": r["surname"], "Email": r["email"], "Role": 5, "MISID": r["ident"]}
        )  # fmt: skip
    await conn.execute(Q["link_officers"], list(officers), list(officers.values()))
    placements: dict[int, int] = {}
    for r in await conn.fetch(Q["organisations"]):
        placements[r["id"]] = sim.add_placement(r["name"], r["ident"], organisation_id)
    await conn.execute(Q["link_organisations"], list(placements), list(placements.values()))

    learners = await conn.fetch(Q["enrollable_learners"])
    aims = reviews = 0
    for start in range(0, len(learners), BATCH):
        batch = learners[start : start + BATCH]
        users: dict[int, int] = {}
        for r in batch:
            users[r["id"]] = sim.add_user(
                {"OrganisationID": organisation_id, "FirstName": r["first_name"],
                 "LastName": r["surname"], "Email": r["email"], "Role": 1,
                 "DefaultAssessorID": officers[r["main_officer_id"]],
                 "ClassroomID": classroom_id, "PlacementID": placements[r["organisation_id"]],
                 "MISID": str(r["id"])}
            )  # fmt: skip
        ids, oids = list(users), list(users.values())
        await conn.execute(Q["link_learners"], ids, oids)
        await conn.execute(Q["mark_enrolled"], ids, oids)
        main_officer = {r["id"]: r["main_officer_id"] for r in batch}

        lq_ids, aim_ids = [], []
        for q in await conn.fetch(Q["learner_qualifications"], ids):
            aim = sim.add_learning_aim(
                users[q["learner_id"]],
                q["onefile_standard_id"],
                StartDate=q["start_date"],
                PlannedEnd=q["planned_end_date"],
                RegistrationNumber=q["registration_number"],
                RegistrationDate=q["registration_date"],
                AchievedDate=q["achieved_date"],
                ClaimedDate=q["claimed_date"],
                CertificateAppliedDate=q["certificate_applied_date"],
                CertificateReceivedDate=q["certificate_received_date"],
                LeadAssessorID=officers.get(q["assessor_officer_id"]),
            )
            lq_ids.append(q["id"])
            aim_ids.append(aim)
        await conn.execute(Q["link_learning_aims"], lq_ids, aim_ids)
        aims += len(aim_ids)

        review_ids, onefile_reviews = [], []
        for rv in await conn.fetch(Q["due_reviews"], ids, today):
            officer = rv["officer_id"] or main_officer[rv["learner_id"]]
            onefile_reviews.append(
                sim.add_review(
                    users[rv["learner_id"]],
                    _uk_instant(rv["planned_date"], rv["start_time"]),
                    officers[officer],
                )
            )
            review_ids.append(rv["id"])
        await conn.execute(Q["link_reviews"], review_ids, onefile_reviews)
        reviews += len(review_ids)
        for r in batch:
            _enrolled_at(sim, users[r["id"]], r["start_date"], today)
    return SeedSummary(len(officers), len(placements), len(learners), aims, reviews)
