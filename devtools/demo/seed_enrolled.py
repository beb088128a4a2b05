"""Benchmark and chaos tooling: make generated PICSWeb learners "already enrolled".

Creates the matching OneFile records straight in the simulator's memory (no API calls, no
quota) and links them in PICSWeb, as a finished enrolment would have left them — so that a
benchmark of the daily exchange starts from the state of a real centre on an ordinary day. On
such a day, learners were enrolled long ago: each learner's LastModified is set back to its
start (the simulator stamps "now" on every seeded record, as if all had just changed, which
would flatter nothing but make every learner look changed to a LastModified search).

Which learners: the caller's list (the generator knows which learners it made complete). Which
employer, which reviews and when they start: the service's own rules (A3, A8 in
app/exchange/enrol_plan.py), called here rather than copied, so the two cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from app.db import sql
from app.db.pool import Conn
from app.exchange import enrol_plan
from app.exchange.due_reviews import UK, review_officer, review_times
from app.picsweb.rows import Placement, Review
from devtools.simulator import SimulatorState

Q = sql.parse(
    resources.files("devtools.demo").joinpath("seed_enrolled.sql").read_text(encoding="utf-8"),
    "seed_enrolled.sql",
)
BATCH = 2000


@dataclass(frozen=True)
class SeedSummary:
    officers: int
    organisations: int
    learners: int
    learning_aims: int
    reviews: int


def _enrolled_at(sim: SimulatorState, user_id: int, start: dt.date | None, today: dt.date) -> None:
    """The learner's LastModified: its enrolment, at its start date (at least a day ago).
    Seeding tooling: the simulator's record is written directly (no API sets LastModified)."""
    day = min(start or today, today - dt.timedelta(days=1))
    raw = sim.raw_user(user_id)
    assert raw is not None
    raw["LastModified"] = dt.datetime.combine(day, dt.time(10, 0), tzinfo=UK).astimezone(dt.UTC)


async def seed_enrolled(
    conn: Conn,
    sim: SimulatorState,
    learner_ids: Sequence[int],
    *,
    organisation_id: int = 1,
    classroom_id: int = 1,
    now: dt.datetime | None = None,
) -> SeedSummary:
    """Enrol `learner_ids` directly in the simulator and link PICSWeb to it; every officer and
    organisation is created and linked too. The learners must be enrollable (rule A1)."""
    # The moment of this enrolment: A8 uploads the reviews planned after it.
    now = now or dt.datetime.now(dt.UTC)
    today = now.astimezone(UK).date()
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

    learners = await conn.fetch(Q["learners"], list(learner_ids))
    aims = reviews = 0
    for start in range(0, len(learners), BATCH):
        batch = learners[start : start + BATCH]
        ids = [r["id"] for r in batch]
        employers: defaultdict[int, list[Placement]] = defaultdict(list)
        for p in await conn.fetch(Q["placements"], ids):
            employers[p["learner_id"]].append(Placement.from_row(p))
        users: dict[int, int] = {}
        for r in batch:
            employer = enrol_plan.choose_employer(employers[r["id"]])  # A3
            assert employer is not None, f"learner {r['id']} has no placement: not enrollable"
            users[r["id"]] = sim.add_user(
                {"OrganisationID": organisation_id, "FirstName": r["first_name"],
                 "LastName": r["surname"], "Email": r["email"], "Role": 1,
                 "DefaultAssessorID": officers[r["main_officer_id"]],
                 "ClassroomID": classroom_id, "PlacementID": placements[employer.organisation_id],
                 "MISID": enrol_plan.learner_misid(r["id"])}
            )  # fmt: skip
        oids = [users[i] for i in ids]
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

        by_learner: defaultdict[int, list[Review]] = defaultdict(list)
        for rv in await conn.fetch(Q["reviews"], ids):
            by_learner[rv["learner_id"]].append(Review.from_row(rv))
        review_ids, onefile_reviews = [], []
        for learner_id, rows in by_learner.items():
            due, _ = enrol_plan.reviews_to_upload(rows, now)  # A8, the service's own
            for review in due:
                officer = review_officer(review, main_officer[learner_id])
                assert review.planned_date is not None  # a due review has a date
                begins, _ = review_times(review.planned_date, review.start_time)
                assert officer is not None
                onefile_reviews.append(sim.add_review(users[learner_id], begins, officers[officer]))
                review_ids.append(review.id)
        await conn.execute(Q["link_reviews"], review_ids, onefile_reviews)
        reviews += len(review_ids)
        for r in batch:
            _enrolled_at(sim, users[r["id"]], r["start_date"], today)
    return SeedSummary(len(officers), len(placements), len(learners), aims, reviews)
