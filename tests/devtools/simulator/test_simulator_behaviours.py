"""The simulator answers as every OneFile the public evidence allows: one test per option,
over real HTTP (a loopback socket), both values where both mean something."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from dataclasses import fields
from typing import Any

import httpx
import pytest

from devtools.loopback import serve_loopback
from devtools.simulator import (
    REALISTIC,
    SimulatorConfig,
    SimulatorState,
    create_simulator_app,
)
from devtools.simulator.__main__ import config_from_args, parse_args
from devtools.simulator.dialect import THIN_ROW_FIELDS
from devtools.simulator.wire import format_instant
from tests.devtools.simulator.test_simulator import Sim, message

UTC = dt.UTC
SESSION = re.compile(r"[A-Za-z0-9+/]{40,}={1,2}")
FULL_FIELDS = {
    "User": {
        "ID", "OrganisationID", "FirstName", "LastName", "Email", "Role", "DefaultAssessorID",
        "ClassroomID", "PlacementID", "MISID", "Telephone", "MobileNumber", "DOB", "ULN",
        "NINO", "StartOn", "PlannedEndDate", "L12", "L13", "L15", "LastModified",
    },
    "LearningAim": {
        "ID", "UserID", "StandardID", "StartDate", "PlannedEnd", "RegistrationNumber",
        "RegistrationDate", "AchievedDate", "ClaimedDate", "CertificateAppliedDate",
        "CertificateReceivedDate", "TotalElements", "ElementsDone", "Progress",
        "LeadAssessorID", "Status",
    },
    "Review": {
        "ID", "LearnerID", "ScheduledFor", "EndTime", "AssessorID", "Status", "StartedOn",
        "LearnerSignedOn", "AssessorSignedOn", "EmployerSignedOn",
    },
    "Placement": {"ID", "OrganisationID", "Name", "MISID", "Active"},
}  # fmt: skip


@contextlib.asynccontextmanager
async def served(
    config: SimulatorConfig | None = None, state: SimulatorState | None = None
) -> AsyncIterator[Sim]:
    """The simulator on a loopback port, called through a real socket."""
    app = create_simulator_app(config or SimulatorConfig(seed=3), state)
    async with serve_loopback(app) as url, httpx.AsyncClient(base_url=url) as client:
        yield Sim(client, app.state.sim, app.state.sim_config)


def assessor_body(**overrides: Any) -> dict[str, Any]:
    body = {"OrganisationID": 1, "FirstName": "Ada", "LastName": "Assessor", "Role": 5}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def day(value: dt.date) -> str:
    return f"{value.isoformat()}T00:00:00.000Z"


# ---- 1. session body -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["json", "text"])
async def test_session_body_json_or_bare_text(mode: str) -> None:
    async with served(SimulatorConfig(session_body=mode)) as sim:
        resp = await sim.authenticate()
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/json; charset=utf-8"
        if mode == "json":
            sid = resp.json()
            assert resp.text == f'"{sid}"'
        else:
            sid = resp.text
            with pytest.raises(json.JSONDecodeError):
                resp.json()  # the header says JSON, the body is not
        assert SESSION.fullmatch(sid) and "/" in sid and "+" in sid and sid.endswith("=")
        assert (await sim.get("User/1", headers={"X-TokenID": sid})).status_code == 404


# ---- 2. thin rows --------------------------------------------------------------------------


async def seeded_for_searches(sim: Sim) -> tuple[int, int, int, int]:
    [learner] = sim.state.seed_learners(1)
    aim = sim.state.learning_aims(learner)[0]["ID"]
    review = sim.state.reviews(learner)[0]["ID"]
    placement = sim.state.user(learner)["PlacementID"]
    return learner, aim, review, placement


@pytest.mark.parametrize("thin", [False, True])
async def test_thin_rows_hold_only_the_thin_fields_and_get_stays_whole(thin: bool) -> None:
    async with served(SimulatorConfig(thin_rows=thin)) as sim:
        learner, aim, review, placement = await seeded_for_searches(sim)
        searches = {
            "User": ("User/Search/1/10", {"Role": 1}, f"User/{learner}"),
            "LearningAim": ("LearningAim/Search/1/10", {"UserID": learner}, f"LearningAim/{aim}"),
            "Review": ("Review/Search/1/10", {"OrganisationID": 1}, f"Review/{review}"),
            "Placement": (
                "Placement/Search/1/10",
                {"OrganisationID": 1},
                f"Placement/{placement}",
            ),
        }
        for entity, (path, flt, get_path) in searches.items():
            [row] = (await sim.post(path, flt)).json()
            whole = (await sim.get(get_path)).json()
            assert set(whole) == FULL_FIELDS[entity], entity
            if thin:
                assert set(row) == set(THIN_ROW_FIELDS[entity]), entity
                assert row == {k: whole[k] for k in THIN_ROW_FIELDS[entity]}, entity
            else:
                assert row == whole, entity


async def test_thin_rows_are_still_filtered_on_every_field() -> None:
    async with served(SimulatorConfig(thin_rows=True)) as sim:
        learners = sim.state.seed_learners(3)
        trainee = sim.state.add_user(assessor_body(Role=4, MISID="T1"))
        await asyncio.sleep(0.003)
        since = format_instant(dt.datetime.now(UTC))
        await asyncio.sleep(0.003)
        sim.state.set_progress(sim.state.learning_aims(learners[2])[0]["ID"], 40, 4)
        rows = (await sim.post("User/Search/1/10", {"Role": 4})).json()
        assert rows == [{"ID": trainee, "FirstName": "Ada", "LastName": "Assessor", "MISID": "T1"}]
        rows = (await sim.post("User/Search/1/10", {"Role": 1, "LastModified": since})).json()
        assert [r["ID"] for r in rows] == [learners[2]]
        rows = (await sim.post("User/Search/1/10", {"LastName": "SEED"})).json()
        assert [r["ID"] for r in rows] == learners
        rows = (await sim.post("Review/Search/1/10", {"LearnerID": learners[1]})).json()
        assert [r["ID"] for r in rows] == [sim.state.reviews(learners[1])[0]["ID"]]


# ---- 3. page caps --------------------------------------------------------------------------


async def pages(sim: Sim, size: int) -> list[list[int]]:
    """Every page asked with `size` until the first empty one (at most 6)."""
    got: list[list[int]] = []
    for page in range(1, 7):
        resp = await sim.post(f"User/Search/{page}/{size}", {"Role": 1})
        if resp.status_code == 204:
            break
        got.append([u["ID"] for u in resp.json()])
    return got


@pytest.mark.parametrize(
    ("cap", "skips", "expected"),
    [
        (None, False, [(0, 15), (15, 25)]),
        (10, False, [(0, 10), (10, 20), (20, 25)]),  # the server clamps the size
        (10, True, [(0, 10), (15, 25)]),  # offsets of size 15: rows 11–15 never served
        (20, True, [(0, 15), (15, 25)]),  # a cap above the size changes nothing
    ],
)
async def test_page_cap_answers_at_most_cap_rows_silently(
    cap: int | None, skips: bool, expected: list[tuple[int, int]]
) -> None:
    async with served(SimulatorConfig(page_cap=cap, page_cap_skips=skips)) as sim:
        learners = sim.state.seed_learners(25)
        assert await pages(sim, 15) == [learners[a:b] for a, b in expected]
        assert await pages(sim, 5) == [learners[i : i + 5] for i in range(0, 25, 5)]
        resp = await sim.post("User/Search/1/1001", {"Role": 1})
        assert resp.status_code == 400 and "size" in message(resp)


async def test_page_cap_applies_to_every_search() -> None:
    async with served(SimulatorConfig(page_cap=2)) as sim:
        [learner] = sim.state.seed_learners(1, reviews=3)
        for _ in range(2):
            sim.state.add_learning_aim(learner, 502)
            sim.state.add_placement("Other")
        for path, flt in [
            ("LearningAim/Search/1/10", {"UserID": learner}),
            ("Review/Search/1/10", {"OrganisationID": 1}),
            ("Review/Search/1/10", {"OrganisationID": 1, "LearnerID": learner}),
            ("Placement/Search/1/10", {"OrganisationID": 1}),
        ]:
            assert len((await sim.post(path, flt)).json()) == 2, path
            assert len((await sim.post(path.replace("/1/", "/2/"), flt)).json()) == 1, path


# ---- 4. updates: merge or replace; read-only fields copied from GET ------------------------


@pytest.mark.parametrize("replaces", [False, True])
async def test_learning_aim_update_merges_or_replaces(replaces: bool) -> None:
    async with served(SimulatorConfig(update_replaces=replaces)) as sim:
        [learner] = sim.state.seed_learners(1)
        aim = sim.state.learning_aims(learner)[0]["ID"]
        sim.state.update_learning_aim(
            aim, RegistrationNumber="R1", PlannedEnd=dt.date(2027, 1, 4), ElementsDone=None
        )
        sim.state.set_progress(aim, 40, 10)
        update = {"AchievedDate": day(dt.date(2026, 7, 1))}
        assert (await sim.post(f"LearningAim/{aim}", update)).status_code == 204
        got = (await sim.get(f"LearningAim/{aim}")).json()
        assert got["AchievedDate"] == "2026-07-01T00:00:00.000Z"
        kept = {k: got[k] for k in ("RegistrationNumber", "PlannedEnd", "StartDate", "Progress")}
        if replaces:  # every writable field not sent is cleared; Progress is OneFile's own
            assert kept == {
                "RegistrationNumber": None, "PlannedEnd": None, "StartDate": None, "Progress": 25,
            }  # fmt: skip
            assert (got["TotalElements"], got["ElementsDone"]) == (None, None)
        else:
            assert kept["RegistrationNumber"] == "R1" and kept["Progress"] == 25
            assert kept["PlannedEnd"] == "2027-01-04T00:00:00.000Z"
            assert kept["StartDate"] is not None
        assert (got["ID"], got["UserID"], got["StandardID"], got["Status"]) == (
            aim, learner, 501, 0
        )  # fmt: skip


@pytest.mark.parametrize("replaces", [False, True])
async def test_learning_aim_update_with_the_whole_record_from_get(replaces: bool) -> None:
    async with served(SimulatorConfig(update_replaces=replaces)) as sim:
        [learner] = sim.state.seed_learners(1)
        aim = sim.state.learning_aims(learner)[0]["ID"]
        sim.state.update_learning_aim(
            aim, LeadAssessorID=sim.state.user(learner)["DefaultAssessorID"]
        )
        sim.state.set_progress(aim, 40, 10)
        record = (await sim.get(f"LearningAim/{aim}")).json()
        body = {**record, "RegistrationNumber": "R2", "Status": 7}  # Status: read-only, ignored
        assert (await sim.post(f"LearningAim/{aim}", body)).status_code == 204
        after = (await sim.get(f"LearningAim/{aim}")).json()
        assert after == {**record, "RegistrationNumber": "R2"}
        for name in ("ID", "UserID", "StandardID", "LeadAssessorID"):
            resp = await sim.post(f"LearningAim/{aim}", {**record, name: 1})
            assert resp.status_code == 400 and name in message(resp), name
        assert (await sim.get(f"LearningAim/{aim}")).json() == after


@pytest.mark.parametrize("replaces", [False, True])
async def test_user_update_merges_or_replaces(replaces: bool) -> None:
    async with served(SimulatorConfig(update_replaces=replaces)) as sim:
        uid = await sim.learner(Telephone="0113", DOB="2004-05-06T00:00:00.000Z")
        record = (await sim.get(f"User/{uid}")).json()
        resp = await sim.post(f"User/{uid}", {"MobileNumber": "07700"})
        if replaces:  # a partial body would clear the mandatory fields: refused, naming them
            assert resp.status_code == 400
            assert "FirstName" in message(resp) and "PlacementID" in message(resp)
            assert (await sim.get(f"User/{uid}")).json() == record
            body = {**record, "MobileNumber": "07700"}
            del body["Telephone"]
            assert (await sim.post(f"User/{uid}", body)).status_code == 204
        else:
            assert resp.status_code == 204
        got = (await sim.get(f"User/{uid}")).json()
        assert got["MobileNumber"] == "07700"
        assert got["Telephone"] == (None if replaces else "0113")
        assert got["DOB"] == "2004-05-06T00:00:00.000Z"


@pytest.mark.parametrize("replaces", [False, True])
async def test_user_update_with_the_whole_record_from_get(replaces: bool) -> None:
    async with served(SimulatorConfig(update_replaces=replaces)) as sim:
        learner = await sim.learner()
        assessor = sim.made["assessor"]
        for uid in (learner, assessor):  # an assessor is served with learner-only fields null
            record = (await sim.get(f"User/{uid}")).json()
            body = {**record, "LastName": "Changed", "LastModified": "2001-01-01T00:00:00Z"}
            assert (await sim.post(f"User/{uid}", body)).status_code == 204, uid
            after = (await sim.get(f"User/{uid}")).json()
            assert after["LastName"] == "Changed" and after["LastModified"] > record["LastModified"]
            assert {k: v for k, v in after.items() if k not in ("LastName", "LastModified")} == {
                k: v for k, v in record.items() if k not in ("LastName", "LastModified")
            }
            for name, value in (("ID", 1), ("Role", 4 if uid == learner else 1)):
                resp = await sim.post(f"User/{uid}", {**after, name: value})
                assert resp.status_code == 400 and name in message(resp)
        record = (await sim.get(f"User/{assessor}")).json()
        resp = await sim.post(f"User/{assessor}", {**record, "PlacementID": 20001})
        assert resp.status_code == 400 and "PlacementID" in message(resp)


# ---- 5. expired session status -------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_expired_unknown_or_missing_session_status(status: int) -> None:
    async with served(SimulatorConfig(expired_session_status=status, session_ttl=3600)) as sim:
        assert (await sim.get("User/1", headers={})).status_code == status
        assert (await sim.get("User/1", headers={"X-TokenID": "nope"})).status_code == status
        assert (await sim.get("User/1")).status_code == 404
        assert (await sim.control("POST", "expire-sessions")).status_code == 204
        resp = await sim.get("User/1")
        assert resp.status_code == status and message(resp)
        sim.sid = None
        assert (await sim.get("User/1")).status_code == 404  # a new session works
        sim.config.session_ttl = 1e-6  # every session is past its lifetime
        assert (await sim.get("User/1")).status_code == status
        assert (await sim.authenticate("wrong")).status_code == 401  # the token, not a session


# ---- 6. Email required ---------------------------------------------------------------------


@pytest.mark.parametrize("required", [False, True])
@pytest.mark.parametrize("role", [5, 4])
async def test_email_required_for_assessors(required: bool, role: int) -> None:
    async with served(SimulatorConfig(email_required=required)) as sim:
        resp = await sim.post("User", assessor_body(Role=role))
        if required:
            assert resp.status_code == 400 and "Email" in message(resp)
            assert sim.state.users() == []
        else:
            assert resp.status_code == 200 and resp.json()["Role"] == role
        resp = await sim.post("User", assessor_body(Role=role, Email="ada@example.org"))
        assert resp.status_code == 200
        assessor = resp.json()["ID"]
        if required:  # and it cannot be cleared afterwards
            resp = await sim.post(f"User/{assessor}", {"Email": None})
            assert resp.status_code == 400 and "Email" in message(resp)
        resp = await sim.post("User", await sim.learner_body(Email=None))
        assert resp.status_code == 400 and "Email" in message(resp)  # learners: always


# ---- 7. Review/Search needs the centre -----------------------------------------------------


@pytest.mark.parametrize("needs_centre", [False, True])
async def test_review_search_without_the_centre(needs_centre: bool) -> None:
    async with served(SimulatorConfig(review_search_needs_centre=needs_centre)) as sim:
        [learner] = sim.state.seed_learners(1)
        resp = await sim.post("Review/Search/1/10", {"LearnerID": learner})
        if needs_centre:
            assert resp.status_code == 400 and "OrganisationID" in message(resp)
        else:
            assert resp.status_code == 200 and len(resp.json()) == 1
        resp = await sim.post("Review/Search/1/10", {"LearnerID": learner, "OrganisationID": 1})
        assert resp.status_code == 200 and len(resp.json()) == 1


# ---- 8, 9. placements: the answer, Active, GET, inactive refused ---------------------------


@pytest.mark.parametrize("answer", ["id", "object"])
async def test_placement_answer_and_active(answer: str) -> None:
    async with served(SimulatorConfig(placement_answer=answer)) as sim:
        body = {"OrganisationID": 1, "Name": "Acme", "MISID": "E1", "Active": True}
        resp = await sim.post("Placement", body)
        assert resp.status_code == 200
        record = {"ID": 20001, "OrganisationID": 1, "Name": "Acme", "MISID": "E1", "Active": True}
        assert resp.json() == (record if answer == "object" else 20001)
        assert (await sim.get("Placement/20001")).json() == record
        resp = await sim.post("Placement", {"OrganisationID": 1, "Name": "Quiet"})
        assert (await sim.get("Placement/20002")).json()["Active"] is False  # not sent: inactive
        assert sim.state.placement(20002)["Active"] is False
        resp = await sim.post("Placement", {**body, "Active": "yes"})
        assert resp.status_code == 400 and "Active" in message(resp)
        assert (await sim.get("Placement/29999")).status_code == 404


@pytest.mark.parametrize("refused", [False, True])
async def test_inactive_placement_refused_for_new_learners(refused: bool) -> None:
    async with served(SimulatorConfig(inactive_placement_refused=refused)) as sim:
        inactive = sim.state.add_placement("Closed Ltd", "E9", active=False)
        active = sim.state.add_placement("Open Ltd", "E8")
        assert sim.state.placement(active)["Active"] is True  # seeding default
        resp = await sim.post("User", await sim.learner_body(PlacementID=inactive))
        if refused:
            assert resp.status_code == 400 and "PlacementID" in message(resp)
        else:
            assert resp.status_code == 200
        resp = await sim.post("User", await sim.learner_body(PlacementID=active, MISID="P2"))
        assert resp.status_code == 200


# ---- 10. date-only values: midnight UTC or UK midnight --------------------------------------

# (calendar date, UK midnight as an instant): summer, winter and both clock-change days of 2026
UK_MIDNIGHTS = [
    (dt.date(2026, 5, 5), "2026-05-04T23:00:00.000Z"),
    (dt.date(2026, 1, 5), "2026-01-05T00:00:00.000Z"),
    (dt.date(2026, 3, 29), "2026-03-29T00:00:00.000Z"),  # clocks go forward at 01:00 GMT
    (dt.date(2026, 10, 25), "2026-10-24T23:00:00.000Z"),  # clocks go back at 01:00 GMT
    (dt.date(2026, 3, 30), "2026-03-29T23:00:00.000Z"),
    (dt.date(2026, 10, 26), "2026-10-26T00:00:00.000Z"),
]
AIM_DAYS = (
    "StartDate", "PlannedEnd", "RegistrationDate", "AchievedDate", "ClaimedDate",
    "CertificateAppliedDate", "CertificateReceivedDate",
)  # fmt: skip


@pytest.mark.parametrize("uk", [False, True])
async def test_date_only_values_served_as_utc_or_uk_midnight(uk: bool) -> None:
    async with served(SimulatorConfig(dates_as_uk_midnight=uk)) as sim:
        uid = await sim.learner()
        aim = (await sim.post(f"Standard/501/Assign/{uid}")).json()
        for date, uk_midnight in UK_MIDNIGHTS:
            served_as = uk_midnight if uk else day(date)
            # written as public clients write: midnight UTC of the day
            update = dict.fromkeys(AIM_DAYS, day(date))
            assert (await sim.post(f"LearningAim/{aim}", update)).status_code == 204
            got = (await sim.get(f"LearningAim/{aim}")).json()
            assert {k: got[k] for k in AIM_DAYS} == dict.fromkeys(AIM_DAYS, served_as), date
            [row] = (await sim.post("LearningAim/Search/1/10", {"UserID": uid})).json()
            assert row["StartDate"] == served_as
            # what was served, written back, never moves by a day
            assert (await sim.post(f"LearningAim/{aim}", got)).status_code == 204
            assert (await sim.get(f"LearningAim/{aim}")).json() == got
            # the read helpers give midnight UTC of the date whatever the mode
            midnight = dt.datetime(date.year, date.month, date.day, tzinfo=UTC)
            assert sim.state.learning_aim(aim)["AchievedDate"] == midnight
            user_days = {"DOB": day(date), "StartOn": day(date), "PlannedEndDate": day(date)}
            assert (await sim.post(f"User/{uid}", user_days)).status_code == 204
            user = (await sim.get(f"User/{uid}")).json()
            assert {k: user[k] for k in user_days} == dict.fromkeys(user_days, served_as)
            assert sim.state.user(uid)["DOB"] == midnight
            assert STAMP_MS.fullmatch(user["LastModified"])  # date-times unchanged


STAMP_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.mark.parametrize("uk", [False, True])
async def test_a_uk_midnight_written_is_read_as_the_mode_says(uk: bool) -> None:
    """The instant of UK midnight of 5 May is 4 May in UTC: a UTC OneFile stores 4 May."""
    async with served(SimulatorConfig(dates_as_uk_midnight=uk)) as sim:
        uid = await sim.learner(StartOn="2026-05-04T23:00:00Z")
        stored = sim.state.user(uid)["StartOn"].date()
        assert stored == (dt.date(2026, 5, 5) if uk else dt.date(2026, 5, 4))


async def test_seeded_dates_serve_in_both_modes() -> None:
    state = SimulatorState()
    [learner] = state.seed_learners(1)
    aim = state.learning_aims(learner)[0]["ID"]
    state.update_learning_aim(
        aim, AchievedDate=dt.date(2026, 6, 1), ClaimedDate="2026-06-02T00:00:00Z"
    )
    async with served(SimulatorConfig(dates_as_uk_midnight=True), state) as sim:
        got = (await sim.get(f"LearningAim/{aim}")).json()
        assert (got["AchievedDate"], got["ClaimedDate"]) == (
            "2026-05-31T23:00:00.000Z",
            "2026-06-01T23:00:00.000Z",
        )
        sim.config.dates_as_uk_midnight = False  # a run-time change: the next call sees it
        got = (await sim.get(f"LearningAim/{aim}")).json()
        assert got["AchievedDate"] == "2026-06-01T00:00:00.000Z"
        dumped = (await sim.control("GET", "dump")).json()["learning_aims"][0]
        assert dumped["AchievedDate"] == "2026-06-01T00:00:00.000Z"


# ---- 11. Role 4 trainee assessors ----------------------------------------------------------


async def test_trainee_assessors_count_as_assessors() -> None:
    async with served() as sim:
        resp = await sim.post("User", assessor_body(Role=4, MISID="TA1"))
        assert resp.status_code == 200 and resp.json()["Role"] == 4
        trainee = resp.json()["ID"]
        resp = await sim.post("User", {"OrganisationID": 1, "FirstName": "No", "Role": 4})
        assert resp.status_code == 400 and "LastName" in message(resp)
        learner = await sim.learner(DefaultAssessorID=trainee)
        assert sim.state.user(learner)["DefaultAssessorID"] == trainee
        await sim.post(f"Standard/501/Assign/{learner}")
        body = {"LearnerID": learner, "Level": 3, "StandardID": 501}
        assert (await sim.post(f"User/{trainee}/Assign", body)).status_code == 204
        visit = {
            "LearnerID": learner, "OrganisationID": 1, "DateFrom": "2026-03-04T10:00:00Z",
            "DateTo": "2026-03-04T11:00:00Z", "VisitTypeID": 2, "AssessorID": trainee,
        }  # fmt: skip
        visit_id = await sim.new_id("Visit", visit)
        review = {
            "LearnerID": learner, "Status": 1, "ScheduledFor": "2026-03-04T10:00:00Z",
            "VisitID": visit_id, "AssessorID": trainee,
        }  # fmt: skip
        assert (await sim.post("Review", review)).status_code == 200
        rows = (await sim.post("User/Search/1/10", {"Role": 4})).json()
        assert [r["ID"] for r in rows] == [trainee]
        rows = (await sim.post("User/Search/1/10", {"Role": 5})).json()
        assert trainee not in [r["ID"] for r in rows]
        resp = await sim.post("Review", {**review, "AssessorID": learner})
        assert resp.status_code == 400 and "AssessorID" in message(resp)


# ---- 12. learners refused when their assessor's MISID is shared ----------------------------


@pytest.mark.parametrize("refused", [False, True])
async def test_duplicate_misid_of_the_default_assessor(refused: bool) -> None:
    async with served(SimulatorConfig(duplicate_misid_refused=refused)) as sim:
        first = sim.state.add_user(assessor_body(MISID="OFF1"))
        sim.state.add_user(assessor_body(Role=4, MISID="OFF1"))  # the duplicate
        unique = sim.state.add_user(assessor_body(MISID="OFF2"))
        resp = await sim.post("User", await sim.learner_body(DefaultAssessorID=first))
        if refused:
            assert resp.status_code == 400 and "DefaultAssessorID" in message(resp)
            assert "OFF1" not in message(resp)
        else:
            assert resp.status_code == 200
        resp = await sim.post("User", await sim.learner_body(DefaultAssessorID=unique))
        assert resp.status_code == 200


# ---- 13. the preset, run-time changes, the command line ------------------------------------


def test_the_realistic_preset_turns_every_behaviour_on() -> None:
    default = SimulatorConfig()
    realistic = SimulatorConfig.realistic()
    assert set(REALISTIC) == set(default.behaviours()) - {"page_cap_skips"}
    for name, value in REALISTIC.items():
        assert getattr(realistic, name) == value != getattr(default, name), name
    assert SimulatorConfig(**REALISTIC, rate_limit=7).behaviours() == realistic.behaviours()
    tuned = SimulatorConfig.realistic(page_cap=10, rate_limit=7)
    assert (tuned.page_cap, tuned.rate_limit, tuned.thin_rows) == (10, 7, True)
    assert config_from_args(parse_args(["--realistic"])).behaviours() == realistic.behaviours()
    partly = config_from_args(
        parse_args(["--realistic", "--no-thin-rows", "--page-cap", "0", "--session-body", "json"])
    )
    assert (partly.thin_rows, partly.page_cap, partly.session_body) == (False, None, "json")
    assert partly.update_replaces is True
    args = ["--page-cap", "50", "--page-cap-skips", "--expired-session-status", "403"]
    one = config_from_args(parse_args([*args, "--placement-answer", "object", "--email-required"]))
    assert (one.page_cap, one.page_cap_skips, one.expired_session_status) == (50, True, 403)
    assert (one.placement_answer, one.email_required, one.thin_rows) == ("object", True, False)
    assert config_from_args(parse_args([])).behaviours() == default.behaviours()
    names = {f.name for f in fields(SimulatorConfig)}
    assert set(default.behaviours()) <= names


async def test_the_realistic_preset_over_http() -> None:
    state = SimulatorState()
    [learner] = state.seed_learners(1)
    async with served(SimulatorConfig.realistic(), state) as sim:
        resp = await sim.authenticate()
        assert not resp.text.startswith('"')
        rows = (await sim.post("User/Search/1/1000", {"Role": 1})).json()
        assert rows == [
            {k: sim.state.user(learner)[k] for k in ("ID", "FirstName", "LastName", "MISID")}
        ]
        assert (await sim.post("Review/Search/1/10", {"LearnerID": learner})).status_code == 400
        assert (await sim.get("User/1", headers={"X-TokenID": "x"})).status_code == 403
        assert (await sim.post("User", assessor_body())).status_code == 400  # no Email


async def test_behaviours_change_at_run_time() -> None:
    async with served() as sim:
        resp = await sim.control("POST", "config", REALISTIC | {"page_cap_skips": True})
        assert resp.status_code == 200
        assert {k: resp.json()[k] for k in REALISTIC} == REALISTIC
        assert sim.config.behaviours() == REALISTIC | {"page_cap_skips": True}
        assert (await sim.control("POST", "config", {"page_cap": None})).json()["page_cap"] is None
        for bad in [
            {"session_body": "xml"},
            {"expired_session_status": 404},
            {"placement_answer": "list"},
            {"page_cap": 0},
            {"page_cap": 2.5},
            {"thin_rows": "yes"},
            {"expired_session_status": True},
        ]:
            resp = await sim.control("POST", "config", bad)
            assert resp.status_code == 400 and next(iter(bad)) in message(resp), bad
        assert sim.config.session_body == "text" and sim.config.page_cap is None
