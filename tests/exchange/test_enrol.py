"""Enrolment (rules A1–A9) through the real path: HTTP → job → OneFile simulator → Postgres."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import asyncpg
import pytest

from app.exchange.deps import ExchangeDeps
from app.exchange.due_reviews import UK
from app.exchange.uploads import OfficerLinker, PlacementLinker
from app.onefile.client import Centre, OneFileClient
from app.onefile.quota import Quota
from devtools.simulator import SimulatorConfig, SimulatorState
from tests.conftest import SIM_TOKEN, Service, ServiceFactory
from tests.exchange import factories as f

Sim = tuple[str, SimulatorState]
# The calls a typical learner costs (2 qualifications, 3 due reviews, 3 officers, a new
# employer), Authentication included: the number stated in the enrolment's notes.
TYPICAL_CALLS = {
    "POST Authentication": 1,
    "POST User/Search": 6,  # each officer by MISID, among Role 5 then Role 4 (A5)
    "POST User": 4,  # 3 officers + the learner
    "POST Placement/Search": 1,
    "POST Placement": 1,
    "POST Standard/{id}/Assign/{learner}": 2,
    "GET LearningAim/{id}": 2,  # the fresh aim, read whole before its update
    "POST LearningAim/{id}": 2,
    "POST User/{id}/Assign": 2,
    "POST Visit": 3,
    "POST Review": 3,
}


def calls_by_route(state: SimulatorState) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in state.calls:
        out[c.route] = out.get(c.route, 0) + 1
    return out


async def row(pool: asyncpg.Pool, table: str, row_id: int) -> asyncpg.Record:
    r = await pool.fetchrow(f"SELECT * FROM picsweb.{table} WHERE id = $1", row_id)
    assert r is not None
    return r


def z(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---- the typical learner: A3, A4, A6, A7, A8, the report and the call count ---------------


async def test_typical_learner_costs_27_calls_and_reports_ids_only(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    state = simulator[1]
    t = await f.typical_learner(pool)
    job = await f.enrol(service.api, t.learner_id)
    assert job["status"] == "succeeded", job
    assert calls_by_route(state) == TYPICAL_CALLS
    assert sum(TYPICAL_CALLS.values()) == 27

    res = job["result"]
    user_id = (await row(pool, "learners", t.learner_id))["onefile_user_id"]
    assert res["onefile_user_id"] == user_id
    assert res["created"] == {
        "learner": 1,
        "officers": 3,
        "placements": 1,
        "learning_aims": 2,
        "reviews": 3,
    }
    assert set(res["linked"].values()) == {0}
    assert res["skipped"]["qualifications_not_in_onefile"] == [t.lq_not_in_onefile]
    assert res["skipped"]["reviews_not_eligible"] == 2
    assert res["onefile_calls"] == 26  # calls of the job (the session is the client's)
    assert res["onefile_gets"] == 2
    text = json.dumps(job)
    for personal in ("Jo", "Learner", "example.test", "1234567890", "AB123456C", "2004"):
        assert personal not in text
    enrolment = await pool.fetchrow(
        "SELECT * FROM onefile_sync.enrolments WHERE learner_id = $1", t.learner_id
    )
    assert enrolment is not None
    assert enrolment["status"] == "finished"
    assert enrolment["onefile_user_id"] == user_id
    assert enrolment["job_id"] == job["id"]


async def test_a6_learner_fields(service: Service, pool: asyncpg.Pool, simulator: Sim) -> None:
    state = simulator[1]
    t = await f.typical_learner(pool)
    assert (await f.enrol(service.api, t.learner_id))["status"] == "succeeded"
    learners = state.users(role=1)
    assert len(learners) == 1
    u = learners[0]
    main = (await row(pool, "officers", t.main_officer))["onefile_user_id"]
    placement = (await row(pool, "organisations", t.organisation))["onefile_placement_id"]
    assert u["ID"] == (await row(pool, "learners", t.learner_id))["onefile_user_id"]
    assert {k: u[k] for k in ("FirstName", "LastName", "Email", "Telephone", "MobileNumber")} == {
        "FirstName": "Jo",
        "LastName": "Learner",
        "Email": "jo@example.test",
        "Telephone": "0113 496 0001",
        "MobileNumber": "07700 900001",
    }
    assert (u["ULN"], u["NINO"], u["L12"], u["L13"], u["L15"]) == (
        "1234567890",
        "AB123456C",
        "31",
        "F",
        "98",
    )
    assert u["DOB"] == z("2004-05-06T00:00:00Z")
    assert u["StartOn"] == z("2024-09-02T00:00:00Z")
    assert u["PlannedEndDate"] == z("2026-09-01T00:00:00Z")
    assert (u["DefaultAssessorID"], u["PlacementID"]) == (main, placement)
    assert (u["MISID"], u["ClassroomID"], u["OrganisationID"], u["Role"]) == (
        str(t.learner_id),
        1,
        1,
        1,
    )


async def test_a3_a4_employer_and_officers_send_name_and_misid_only(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    state = simulator[1]
    t = await f.typical_learner(pool)
    assert (await f.enrol(service.api, t.learner_id))["status"] == "succeeded"
    # A3: the most recent *work* placement wins over a newer placement of another type.
    placements = state.placements()
    assert placements == [
        {
            "ID": (await row(pool, "organisations", t.organisation))["onefile_placement_id"],
            "OrganisationID": 1,
            "Name": "Work Placement Ltd",
            "MISID": "ORGP",
            "Active": True,  # sent: a realistic OneFile refuses a learner on an inactive one
        }
    ]
    assert (await row(pool, "organisations", t.old_organisation))["onefile_placement_id"] is None
    # A4: main officer, qualification assessor, review officer; each once, name, email and
    # MISID only.
    assessors = {u["MISID"]: u for u in state.users(role=5)}
    assert set(assessors) == {"OFFM", "OFFA", "OFFR"}
    for officer_id, misid in ((t.main_officer, "OFFM"), (t.assessor, "OFFA")):
        assert (await row(pool, "officers", officer_id))["onefile_user_id"] == assessors[misid][
            "ID"
        ]
    sent = {k for k, v in assessors["OFFR"].items() if v is not None}
    assert sent == {
        "ID",
        "OrganisationID",
        "FirstName",
        "LastName",
        "Email",
        "Role",
        "MISID",
        "LastModified",
    }
    assert assessors["OFFR"]["Email"] == "offr@staff.example.test"
    assert (assessors["OFFR"]["FirstName"], assessors["OFFR"]["LastName"]) == ("Rita", "Reviewer")


async def test_a3_without_a_work_placement_the_most_recent_of_any_type(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    officer = await f.officer(pool)
    a = await f.organisation(pool, "ORGA", name="Older")
    b = await f.organisation(pool, "ORGB", name="Newer same day, higher id")
    c = await f.organisation(pool, "ORGC", name="Oldest")
    lid = await f.learner(pool, officer)
    await f.placement(pool, lid, a, type="S", start=dt.date(2025, 3, 1))
    await f.placement(pool, lid, b, type="S", start=dt.date(2025, 3, 1))
    await f.placement(pool, lid, c, type="X", start=dt.date(2024, 1, 1))
    assert (await f.enrol(service.api, lid))["status"] == "succeeded"
    assert [p["MISID"] for p in simulator[1].placements()] == ["ORGB"]


async def test_a7_qualifications(service: Service, pool: asyncpg.Pool, simulator: Sim) -> None:
    state = simulator[1]
    t = await f.typical_learner(pool)
    assert (await f.enrol(service.api, t.learner_id))["status"] == "succeeded"
    user_id = (await row(pool, "learners", t.learner_id))["onefile_user_id"]
    aims = {a["StandardID"]: a for a in state.learning_aims(user_id=user_id)}
    assert set(aims) == {501, 502}
    lq1 = await row(pool, "learner_qualifications", t.lqs[0])
    lq2 = await row(pool, "learner_qualifications", t.lqs[1])
    assert lq1["onefile_learning_aim_id"] == aims[501]["ID"]
    assert lq2["onefile_learning_aim_id"] == aims[502]["ID"]
    assert aims[501]["StartDate"] == z("2024-09-02T00:00:00Z")
    assert aims[501]["PlannedEnd"] == z("2026-09-01T00:00:00Z")
    assert aims[501]["RegistrationNumber"] == "REG-1"
    assert aims[501]["RegistrationDate"] == z("2024-10-01T00:00:00Z")
    assert aims[501]["AchievedDate"] is None
    assessor = (await row(pool, "officers", t.assessor))["onefile_user_id"]
    main = (await row(pool, "officers", t.main_officer))["onefile_user_id"]
    assert (aims[501]["LeadAssessorID"], aims[502]["LeadAssessorID"]) == (assessor, main)
    skipped = await row(pool, "learner_qualifications", t.lq_not_in_onefile)
    assert skipped["onefile_learning_aim_id"] is None


async def test_a7_every_date_field_is_set_on_the_aim(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    officer = await f.officer(pool)
    org = await f.organisation(pool)
    lid = await f.learner(pool, officer)
    await f.placement(pool, lid, org)
    q = await f.qualification(pool, 503)
    days = {
        "start_date": dt.date(2023, 1, 2),
        "planned_end_date": dt.date(2024, 1, 2),
        "registration_date": dt.date(2023, 2, 3),
        "achieved_date": dt.date(2023, 12, 4),
        "claimed_date": dt.date(2023, 12, 5),
        "certificate_applied_date": dt.date(2023, 12, 6),
        "certificate_received_date": dt.date(2024, 1, 7),
    }
    await f.learner_qualification(pool, lid, q, registration_number="R9", **days)
    assert (await f.enrol(service.api, lid))["status"] == "succeeded"
    (aim,) = simulator[1].learning_aims()
    names = {
        "start_date": "StartDate",
        "planned_end_date": "PlannedEnd",
        "registration_date": "RegistrationDate",
        "achieved_date": "AchievedDate",
        "claimed_date": "ClaimedDate",
        "certificate_applied_date": "CertificateAppliedDate",
        "certificate_received_date": "CertificateReceivedDate",
    }
    for name, day in days.items():
        assert aim[names[name]] == dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    assert aim["RegistrationNumber"] == "R9"


# ---- A8: reviews ------------------------------------------------------------------------


async def test_a8_reviews_eligibility_times_and_assessors(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    state = simulator[1]
    today = f.today_in_uk()
    year = today.year + 1
    main = await f.officer(pool, "OFFM")
    other = await f.officer(pool, "OFFO", first_name="Oz")
    org = await f.organisation(pool)
    lid = await f.learner(pool, main)
    await f.placement(pool, lid, org)
    june = await f.review(pool, lid, dt.date(year, 6, 15), start_time=dt.time(14, 0))
    january = await f.review(
        pool, lid, dt.date(year, 1, 15), start_time=dt.time(14, 0), officer_id=other
    )
    blank = await f.review(pool, lid, today + dt.timedelta(days=1))  # tomorrow, 09:00 local
    not_due = [
        await f.review(pool, lid, today - dt.timedelta(days=1), start_time=dt.time(23, 59)),
        await f.review(pool, lid, today - dt.timedelta(days=3)),
        await f.review(pool, lid, today + dt.timedelta(days=5), type="P"),
        await f.review(pool, lid, today + dt.timedelta(days=5), attended="Y"),
        await f.review(pool, lid, today + dt.timedelta(days=5), attended="N"),
        await f.review(pool, lid, None),
    ]
    job = await f.enrol(service.api, lid)
    assert job["status"] == "succeeded", job
    assert job["result"]["skipped"]["reviews_not_eligible"] == len(not_due)
    user_id = (await row(pool, "learners", lid))["onefile_user_id"]
    main_of = (await row(pool, "officers", main))["onefile_user_id"]
    other_of = (await row(pool, "officers", other))["onefile_user_id"]
    reviews = {r["ID"]: r for r in state.reviews(learner_id=user_id)}
    assert len(reviews) == 3
    visits = {v["ID"]: v for v in state.visits()}
    expected = {
        june: (z(f"{year}-06-15T13:00:00Z"), main_of),  # BST: UTC+1
        january: (z(f"{year}-01-15T14:00:00Z"), other_of),  # GMT: UTC+0
    }
    tomorrow = today + dt.timedelta(days=1)
    nine = dt.datetime.combine(tomorrow, dt.time(9), tzinfo=UK).astimezone(dt.UTC)
    expected[blank] = (nine, main_of)
    for review_id, (start, assessor) in expected.items():
        onefile_id = (await row(pool, "reviews", review_id))["onefile_review_id"]
        r = reviews[onefile_id]
        assert (r["ScheduledFor"], r["EndTime"]) == (start, start + dt.timedelta(hours=1))
        assert (r["AssessorID"], r["Status"], r["LearnerID"]) == (assessor, 1, user_id)
        (visit,) = [v for v in visits.values() if v["DateFrom"] == start]
        assert visit["DateTo"] == start + dt.timedelta(hours=1)
        assert (visit["OrganisationID"], visit["VisitTypeID"]) == (1, 2)
        assert (visit["AssessorID"], visit["LearnerID"]) == (assessor, user_id)
    for review_id in not_due:
        assert (await row(pool, "reviews", review_id))["onefile_review_id"] is None


async def test_a8_at_noon_this_mornings_review_stays_and_tonights_is_uploaded(
    service_factory: ServiceFactory, pool: asyncpg.Pool, simulator: Sim
) -> None:
    """A8 against the moment of the enrolment, not the date."""
    day = f.today_in_uk() + dt.timedelta(days=30)
    noon = dt.datetime.combine(day, dt.time(12, 0), tzinfo=UK)
    main = await f.officer(pool, "OFFM")
    lid = await f.learner(pool, main)
    await f.placement(pool, lid, await f.organisation(pool))
    morning = await f.review(pool, lid, day, start_time=dt.time(8, 0))
    blank = await f.review(pool, lid, day)  # 09:00: this morning too
    tonight = await f.review(pool, lid, day, start_time=dt.time(23, 59))
    async with service_factory(clock=lambda: noon) as svc:
        job = await f.enrol(svc.api, lid)
    assert job["status"] == "succeeded", job
    assert job["result"]["skipped"]["reviews_not_eligible"] == 2
    assert (await row(pool, "reviews", tonight))["onefile_review_id"] is not None
    assert (await row(pool, "reviews", morning))["onefile_review_id"] is None
    assert (await row(pool, "reviews", blank))["onefile_review_id"] is None


# ---- A1, A2: refused before any call; finished once ---------------------------------------


async def test_a1_refused_before_any_call(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    state = simulator[1]
    r = await service.api.post("/learners/999999/enrol")
    assert r.status_code == 404
    bare = await f.learner(pool, None, email=None)
    r = await service.api.post(f"/learners/{bare}/enrol")
    assert r.status_code == 422
    fields = {p["field"] for p in r.json()["problems"]}
    assert fields == {"email", "main_officer_id", "placements"}
    officer = await f.officer(pool)
    bad = await f.learner(pool, officer, email="no-at-sign", uln="12345")
    await f.placement(pool, bad, await f.organisation(pool))
    r = await service.api.post(f"/learners/{bad}/enrol")
    assert r.status_code == 422
    assert {p["field"] for p in r.json()["problems"]} == {"email", "uln"}
    assert "no-at-sign" not in r.text and "12345" not in r.text
    await asyncio.sleep(0.3)  # any job a refused request might have queued would have run
    assert state.calls == []
    assert await pool.fetchval("SELECT count(*) FROM onefile_sync.jobs") == 0


async def test_a2_a9_a_finished_enrolment_is_not_repeated(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    state = simulator[1]
    t = await f.typical_learner(pool)
    assert (await f.enrol(service.api, t.learner_id))["status"] == "succeeded"
    user_id = (await row(pool, "learners", t.learner_id))["onefile_user_id"]
    state.reset_calls()
    r = await service.api.post(f"/learners/{t.learner_id}/enrol")
    assert r.status_code == 409
    assert r.json()["onefile_user_id"] == user_id
    # A learner linked before this service existed (no enrolment row) is enrolled too.
    officer = await f.officer(pool, "OFFZ")
    old = await f.learner(pool, officer, onefile_user_id=424242)
    await f.placement(pool, old, await f.organisation(pool, "ORGZ"))
    r = await service.api.post(f"/learners/{old}/enrol")
    assert r.status_code == 409
    assert r.json()["onefile_user_id"] == 424242
    assert state.calls == []


async def test_a9_a_second_learner_reuses_officers_and_employer_without_updates(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    state = simulator[1]
    t = await f.typical_learner(pool)
    assert (await f.enrol(service.api, t.learner_id))["status"] == "succeeded"
    second = await f.learner(pool, t.main_officer, email="sam@example.test")
    await f.placement(pool, second, t.organisation)
    await f.review(
        pool, second, f.today_in_uk() + dt.timedelta(days=9), officer_id=t.review_officer
    )
    state.reset_calls()
    job = await f.enrol(service.api, second)
    assert job["status"] == "succeeded"
    assert calls_by_route(state) == {"POST User": 1, "POST Visit": 1, "POST Review": 1}
    assert job["result"]["created"]["officers"] == 0
    assert len(state.users(role=5)) == 3
    assert len(state.placements()) == 1


# ---- A5: never a duplicate --------------------------------------------------------------


async def test_a5_linked_reused_unlinked_found_by_misid_before_create(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    state = simulator[1]
    known = state.add_user(
        {"OrganisationID": 1, "FirstName": "A", "LastName": "B", "Role": 5, "MISID": "OFFK"}
    )
    linked = state.add_user({"OrganisationID": 1, "FirstName": "C", "LastName": "D", "Role": 5})
    employer = state.add_placement("Acme in OneFile", "ORGK")
    main = await f.officer(pool, None, onefile_user_id=linked)  # linked: reused, no ident
    assessor = await f.officer(pool, "OFFK")  # in OneFile already: found by MISID
    org = await f.organisation(pool, "ORGK")
    lid = await f.learner(pool, main)
    await f.placement(pool, lid, org)
    q = await f.qualification(pool, 504)
    await f.learner_qualification(pool, lid, q, assessor_officer_id=assessor)
    state.reset_calls()
    job = await f.enrol(service.api, lid)
    assert job["status"] == "succeeded", job
    assert (await row(pool, "officers", assessor))["onefile_user_id"] == known
    assert (await row(pool, "organisations", org))["onefile_placement_id"] == employer
    assert len(state.users(role=5)) == 2
    assert len(state.placements()) == 1
    assert state.count_calls("POST Placement") == 0
    assert state.count_calls("POST User") == 1  # the learner only
    assert job["result"]["linked"]["officers"] == 1
    assert job["result"]["linked"]["placements"] == 1
    assert state.user(state.users(role=1)[0]["ID"])["DefaultAssessorID"] == linked


async def test_a5_two_enrolments_at_once_share_one_officer_and_one_employer(
    service: Service, pool: asyncpg.Pool, simulator: Sim, sim_config: SimulatorConfig
) -> None:
    state = simulator[1]
    sim_config.latency = 0.02  # widen the window in which both look for the same officer
    officer = await f.officer(pool, "OFFS")
    org = await f.organisation(pool, "ORGS")
    learners = []
    for n in range(4):
        lid = await f.learner(pool, officer, email=f"l{n}@example.test")
        await f.placement(pool, lid, org)
        learners.append(lid)
    posted = await asyncio.gather(*(service.api.post(f"/learners/{i}/enrol") for i in learners))
    jobs = await asyncio.gather(*(f.wait_job(service.api, r.json()["id"]) for r in posted))
    assert [j["status"] for j in jobs] == ["succeeded"] * 4
    assert len(state.users(role=5)) == 1
    assert len(state.placements()) == 1
    assert state.count_calls("POST User/Search") == 2  # Role 5, then Role 4: once in all
    assert len(state.users(role=1)) == 4


async def test_a5_linkers_in_two_processes_create_once(
    pool: asyncpg.Pool, simulator: Sim, sim_config: SimulatorConfig
) -> None:
    """Separate linkers (as in two replicas: no shared asyncio lock) meet at the advisory
    lock and create each officer and organisation once."""
    url, state = simulator
    sim_config.latency = 0.02
    officer = await f.officer(pool, "OFFP")
    bare = await f.officer(pool, None)  # no ident: only the lock stops a second create
    org = await f.organisation(pool, None)
    clients = [
        OneFileClient(
            base_url=url, api_token=SIM_TOKEN, quota=Quota(10_000, 60.0), centre=Centre(1, 1)
        )
        for _ in range(3)
    ]
    try:
        deps = [ExchangeDeps(pool, c, 1, 1, 2) for c in clients]
        results: list[Any] = await asyncio.gather(
            *(OfficerLinker(d).ensure(officer) for d in deps),
            *(OfficerLinker(d).ensure(bare) for d in deps),
            *(PlacementLinker(d).ensure(org) for d in deps),
        )
    finally:
        for c in clients:
            await c.aclose()
    assert len(set(results[0:3])) == len(set(results[3:6])) == len(set(results[6:9])) == 1
    assert state.count_calls("POST User") == 2
    assert state.count_calls("POST Placement") == 1


# ---- faults -----------------------------------------------------------------------------


async def test_a_400_fails_the_job_and_enrolling_again_continues(
    service_factory: ServiceFactory, pool: asyncpg.Pool, simulator: Sim
) -> None:
    state = simulator[1]
    t = await f.typical_learner(pool)
    async with service_factory(onefile_classroom_id=99) as svc:  # OneFile refuses it: 400
        job = await f.enrol(svc.api, t.learner_id)
    assert job["status"] == "failed"
    assert job["error"] == "OneFile POST User (400): ClassroomID 99 is unknown"
    assert job["failures"] == [{"learner_id": t.learner_id, "reason": job["error"]}]
    assert "Traceback" not in json.dumps(job)
    assert (await row(pool, "officers", t.main_officer))["onefile_user_id"] is not None
    assert (await row(pool, "organisations", t.organisation))["onefile_placement_id"] is not None
    assert (await row(pool, "learners", t.learner_id))["onefile_user_id"] is None
    async with service_factory() as svc:
        job = await f.enrol(svc.api, t.learner_id)  # half-way: resumed, not refused (A2)
        assert job["status"] == "succeeded", job
        assert job["result"]["resumed"] is True
        r = await svc.api.post(f"/learners/{t.learner_id}/enrol")
        assert r.status_code == 409
    assert len(state.users(role=5)) == 3
    assert len(state.users(role=1)) == 1
    assert len(state.placements()) == 1
    assert len(state.learning_aims()) == 2
    assert len(state.reviews()) == 3


@pytest.mark.parametrize("fault", ["unknown_standard"])
async def test_a_onefile_refusal_on_a_qualification_keeps_the_learner_linked(
    service: Service, pool: asyncpg.Pool, simulator: Sim, fault: str
) -> None:
    state = simulator[1]
    officer = await f.officer(pool)
    lid = await f.learner(pool, officer)
    await f.placement(pool, lid, await f.organisation(pool))
    q = await f.qualification(pool, 9999)  # not a OneFile standard: 404 on assign
    await f.learner_qualification(pool, lid, q)
    job = await f.enrol(service.api, lid)
    assert job["status"] == "failed"
    assert job["error"].startswith("OneFile POST Standard/{id}/Assign/{learner} (404)")
    user_id = (await row(pool, "learners", lid))["onefile_user_id"]
    assert user_id is not None and job["result"]["onefile_user_id"] == user_id
    await pool.execute("UPDATE picsweb.qualifications SET onefile_standard_id = 505")
    job = await f.enrol(service.api, lid)
    assert job["status"] == "succeeded", job
    assert len(state.users(role=1)) == 1
    assert [a["StandardID"] for a in state.learning_aims()] == [505]


# ---- issue 10: OneFile as it may really be ------------------------------------------------


async def test_a1_an_officer_to_upload_without_an_email_is_refused_by_id(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    """A1 (revised): OneFile refuses a user without an email, so an officer that A4 would
    upload and that is not linked must have one; every such officer is named at once."""
    state = simulator[1]
    t = await f.typical_learner(pool)
    await pool.execute(
        "UPDATE picsweb.officers SET email = NULL WHERE id = ANY($1::bigint[])",
        [t.main_officer, t.review_officer],
    )
    await pool.execute("UPDATE picsweb.officers SET email = ' ' WHERE id = $1", t.assessor)
    linked = await f.officer(pool, "OFFL", email=None, onefile_user_id=123)  # linked: no upload
    await f.review(pool, t.learner_id, f.today_in_uk() + dt.timedelta(days=3), officer_id=linked)
    not_uploaded = await f.officer(pool, "OFFN", email=None)  # only on a past review
    await f.review(
        pool, t.learner_id, f.today_in_uk() - dt.timedelta(days=3), officer_id=not_uploaded
    )
    r = await service.api.post(f"/learners/{t.learner_id}/enrol")
    assert r.status_code == 422, r.text
    problems = r.json()["problems"]
    assert sorted(p["officer_id"] for p in problems) == sorted(
        [t.main_officer, t.assessor, t.review_officer]
    )
    assert {p["field"] for p in problems} == {"officers.email"}
    assert all(str(p["officer_id"]) in p["message"] for p in problems)
    assert "staff.example.test" not in r.text
    await asyncio.sleep(0.3)
    assert state.calls == []

    # The data changes after the request was accepted: the job refuses, naming the officer.
    await pool.execute(
        "UPDATE picsweb.officers SET email = 'x@staff.example.test' WHERE id = ANY($1::bigint[])",
        [t.main_officer, t.review_officer, t.assessor],
    )
    queued = await service.api.post(f"/learners/{t.learner_id}/enrol")
    assert queued.status_code == 202
    await pool.execute("UPDATE picsweb.officers SET email = NULL WHERE id = $1", t.assessor)
    job = await f.wait_job(service.api, queued.json()["id"])
    assert job["status"] == "failed"
    assert f"officer {t.assessor} has no email address" in job["error"]
    assert state.users() == []


async def test_a5_an_officer_is_found_among_trainee_assessors(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    """A trainee assessor (Role 4) with the officer's MISID is linked, not duplicated: a
    second user sharing the MIS value would make OneFile refuse the learner."""
    state = simulator[1]
    trainee = state.add_user(
        {"OrganisationID": 1, "FirstName": "T", "LastName": "A", "Role": 4, "MISID": "OFFT",
         "Email": "t@staff.example.test"}
    )  # fmt: skip
    officer = await f.officer(pool, "OFFT")
    lid = await f.learner(pool, officer)
    await f.placement(pool, lid, await f.organisation(pool))
    job = await f.enrol(service.api, lid)
    assert job["status"] == "succeeded", job
    assert (await row(pool, "officers", officer))["onefile_user_id"] == trainee
    assert job["result"]["linked"]["officers"] == 1
    assert [u["MISID"] for u in state.users() if u["MISID"] == "OFFT"] == ["OFFT"]
    assert state.users(role=1)[0]["DefaultAssessorID"] == trainee


async def test_a5_an_active_placement_is_linked_before_an_inactive_one(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    state = simulator[1]
    state.add_placement("Acme (old)", "ORGA", active=False)
    active = state.add_placement("Acme", "ORGA")
    officer = await f.officer(pool)
    org = await f.organisation(pool, "ORGA")
    lid = await f.learner(pool, officer)
    await f.placement(pool, lid, org)
    job = await f.enrol(service.api, lid)
    assert job["status"] == "succeeded", job
    assert (await row(pool, "organisations", org))["onefile_placement_id"] == active
    assert state.users(role=1)[0]["PlacementID"] == active
    assert state.count_calls("POST Placement") == 0


async def test_a7_updates_keep_what_onefile_holds(
    service: Service, pool: asyncpg.Pool, simulator: Sim, sim_config: SimulatorConfig
) -> None:
    """An enrolment resumed after an assessor worked on the aim in OneFile updates it again:
    the update carries the whole record, so a replacing OneFile clears nothing it held
    (issue 10 item 4)."""
    state = simulator[1]
    sim_config.update_replaces = True
    officer = await f.officer(pool)
    lid = await f.learner(pool, officer)
    await f.placement(pool, lid, await f.organisation(pool))
    q = await f.qualification(pool, 506)
    await f.learner_qualification(pool, lid, q, registration_number="R7")
    job = await f.enrol(service.api, lid)
    assert job["status"] == "succeeded", job
    (aim,) = state.learning_aims()
    state.update_learning_aim(
        aim["ID"], TotalElements=40, ElementsDone=8, ClaimedDate=dt.date(2026, 5, 5)
    )
    await pool.execute("UPDATE picsweb.learner_qualifications SET registration_number = 'R8'")
    await pool.execute("UPDATE onefile_sync.enrolments SET status = 'in_progress'")
    job = await f.enrol(service.api, lid)
    assert job["status"] == "succeeded", job
    after = state.learning_aim(aim["ID"])
    assert after["RegistrationNumber"] == "R8"
    assert (after["TotalElements"], after["ElementsDone"]) == (40, 8)
    assert after["ClaimedDate"] == dt.datetime(2026, 5, 5, tzinfo=dt.UTC)
    assert (after["StandardID"], after["UserID"]) == (506, aim["UserID"])


# ---- issue 15: date-only values, both serving modes --------------------------------------

CLOCK_DAYS = {
    "start_date": dt.date(2026, 3, 29),  # spring forward
    "planned_end_date": dt.date(2026, 10, 25),  # fall back
    "registration_date": dt.date(2026, 5, 5),  # British Summer Time
    "achieved_date": dt.date(2026, 1, 5),  # winter
    "claimed_date": dt.date(2026, 3, 28),  # the day before spring forward
    "certificate_applied_date": dt.date(2026, 10, 26),  # the day after fall back
    "certificate_received_date": dt.date(2026, 6, 30),  # summer, month end
}


async def test_a7_dates_in_bst_and_on_clock_change_days_arrive_as_the_same_days(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    """Written as midnight UTC, stored by OneFile as calendar dates, served back (midnight UTC
    or UK midnight) and read as UK dates: a refresh right after enrolment writes nothing."""
    state = simulator[1]
    officer = await f.officer(pool)
    lid = await f.learner(pool, officer)
    await f.placement(pool, lid, await f.organisation(pool))
    q = await f.qualification(pool, 507)
    lq = await f.learner_qualification(pool, lid, q, registration_number="R1", **CLOCK_DAYS)
    assert (await f.enrol(service.api, lid))["status"] == "succeeded"
    (aim,) = state.learning_aims()
    names = {
        "start_date": "StartDate", "planned_end_date": "PlannedEnd",
        "registration_date": "RegistrationDate", "achieved_date": "AchievedDate",
        "claimed_date": "ClaimedDate", "certificate_applied_date": "CertificateAppliedDate",
        "certificate_received_date": "CertificateReceivedDate",
    }  # fmt: skip
    for name, day in CLOCK_DAYS.items():
        assert aim[names[name]].date() == day, name
    before = await row(pool, "learner_qualifications", lq)
    state.reset_calls()
    r = await service.api.post("/refresh", json={"learner_ids": [lid]})
    job = await f.wait_job(service.api, r.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["learners"]["unchanged"] == 1, job["result"]
    assert await row(pool, "learner_qualifications", lq) == before
    assert state.count_calls("POST LearningAim/{id}") == 0
