"""The OneFile API simulator: strict like OneFile, rate limited, faulty on demand."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from devtools.simulator import SimulatorConfig, SimulatorState, create_simulator_app
from devtools.simulator.__main__ import parse_args
from devtools.simulator.wire import format_instant

TOKEN = "sim-token"
UTC = dt.UTC
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Sim:
    client: httpx.AsyncClient
    state: SimulatorState
    config: SimulatorConfig
    sid: str | None = None
    made: dict[str, int] = field(default_factory=dict)

    async def authenticate(self, token: str | None = TOKEN) -> httpx.Response:
        headers = {} if token is None else {"X-CustomerToken": token}
        return await self.client.post("/api/v2.1/Authentication", headers=headers)

    async def login(self) -> str:
        resp = await self.authenticate()
        assert resp.status_code == 200
        self.sid = resp.text.strip().strip('"')  # a JSON string or bare text (session_body)
        return self.sid

    async def call(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        if "headers" not in kw and self.sid is None:
            await self.login()
        headers = kw.pop("headers", {"X-TokenID": self.sid})
        return await self.client.request(
            method, f"/api/v2.1/{path}", json=body, headers=headers, **kw
        )

    async def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return await self.call("POST", path, body, **kw)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.call("GET", path, **kw)

    async def new_id(self, path: str, body: dict[str, Any]) -> int:
        resp = await self.post(path, body)
        assert resp.status_code == 200, resp.text
        value = resp.json()
        return int(value["ID"] if isinstance(value, dict) else value)

    async def assessor(self) -> int:
        body = {"OrganisationID": 1, "FirstName": "Ada", "LastName": "Assessor", "Role": 5}
        body["Email"] = "ada@example.org"  # optional unless email_required
        return await self.new_id("User", body)

    async def placement(self) -> int:
        return await self.new_id("Placement", {"OrganisationID": 1, "Name": "Acme", "MISID": "E1"})

    async def learner_body(self, **overrides: Any) -> dict[str, Any]:
        if "assessor" not in self.made:
            self.made["assessor"] = await self.assessor()
            self.made["placement"] = await self.placement()
        body = {
            "OrganisationID": 1,
            "FirstName": "Lee",
            "LastName": "Learner",
            "Email": "lee@example.org",
            "Role": 1,
            "DefaultAssessorID": self.made["assessor"],
            "ClassroomID": 1,
            "PlacementID": self.made["placement"],
            "MISID": "P0001",
            "DOB": "2004-05-06T00:00:00.000Z",
            "ULN": "1234567890",
        }
        body.update(overrides)
        return {k: v for k, v in body.items() if v is not None}

    async def learner(self, **overrides: Any) -> int:
        return await self.new_id("User", await self.learner_body(**overrides))

    async def control(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self.client.request(method, f"/_sim/{path}", json=body)


@contextlib.asynccontextmanager
async def running(
    config: SimulatorConfig | None = None, state: SimulatorState | None = None
) -> AsyncIterator[Sim]:
    app = create_simulator_app(config or SimulatorConfig(hang_seconds=0.01, seed=3), state)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        yield Sim(client, app.state.sim, app.state.sim_config)


def message(resp: httpx.Response) -> str:
    return str(resp.json()["message"])


# ---- authentication ------------------------------------------------------------------------


async def test_authentication_gives_a_quoted_session_id() -> None:
    async with running() as sim:
        resp = await sim.authenticate()
        assert resp.status_code == 200
        assert resp.text.startswith('"') and resp.text.endswith('"')
        sid = resp.json()
        assert (await sim.get("User/1", headers={"X-TokenID": sid})).status_code == 404
        assert sim.state.count_calls("POST Authentication", 200) == 1


async def test_bad_or_missing_customer_token_is_401_and_not_counted() -> None:
    async with running() as sim:
        assert (await sim.authenticate("wrong")).status_code == 401
        assert (await sim.authenticate(None)).status_code == 401
        assert sim.state.windows == {}
        assert sim.state.count_calls("POST Authentication", 401) == 2
        assert "wrong" not in json.dumps((await sim.control("GET", "calls")).json())


async def test_missing_unknown_and_expired_sessions_are_401() -> None:
    config = SimulatorConfig(session_ttl=0.05)
    async with running(config) as sim:
        assert (await sim.get("User/1", headers={})).status_code == 401
        resp = await sim.get("User/1", headers={"X-TokenID": "nope"})
        assert resp.status_code == 401 and message(resp)
        assert (await sim.get("User/1")).status_code == 404  # a live session
        await asyncio.sleep(0.06)
        assert (await sim.get("User/1")).status_code == 401  # past session_ttl
        sim.sid = None
        assert (await sim.get("User/1")).status_code == 404
        sim.state.expire_sessions()
        assert (await sim.get("User/1")).status_code == 401


# ---- users ---------------------------------------------------------------------------------


async def test_create_learner_returns_the_full_record() -> None:
    async with running() as sim:
        resp = await sim.post("User", await sim.learner_body())
        assert resp.status_code == 200
        user = resp.json()
        assert user["ID"] == 10002  # the assessor is 10001; placements start at 20001
        assert user["PlacementID"] == 20001
        assert user["DOB"] == "2004-05-06T00:00:00.000Z"
        assert STAMP.fullmatch(user["LastModified"])
        assert user["Telephone"] is None and user["NINO"] is None
        assert (await sim.get(f"User/{user['ID']}")).json() == user


async def test_missing_mandatory_fields_are_named() -> None:
    async with running() as sim:
        resp = await sim.post("User", await sim.learner_body(Email=None, PlacementID=None))
        assert resp.status_code == 400
        assert "Email" in message(resp) and "PlacementID" in message(resp)
        resp = await sim.post("User", {"OrganisationID": 1, "FirstName": "A", "Role": 5})
        assert resp.status_code == 400 and "LastName" in message(resp)
        resp = await sim.post("User", await sim.learner_body(FirstName="  "))
        assert resp.status_code == 400 and "FirstName" in message(resp)
        resp = await sim.post("User", await sim.learner_body(Role=None))
        assert resp.status_code == 400 and "Role" in message(resp)
        resp = await sim.post("User", await sim.learner_body(Role=3))
        assert resp.status_code == 400 and "Role" in message(resp)
        assert sim.state.users(role=1) == []


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"OrganisationID": "1"}, "OrganisationID"),
        ({"OrganisationID": 2}, "OrganisationID"),
        ({"ClassroomID": 9}, "ClassroomID"),
        ({"DOB": "06/05/2004"}, "DOB"),
        ({"DOB": "2004-05-06"}, "DOB"),
        ({"DOB": "2004-05-06T00:00:00"}, "DOB"),
        ({"Email": "lee.example.org"}, "Email"),
        ({"ULN": "123456789"}, "ULN"),
        ({"MISID": 1}, "MISID"),
        ({"Surname": "X"}, "Surname"),
        ({"DefaultAssessorID": 99999}, "DefaultAssessorID"),
        ({"PlacementID": 29999}, "PlacementID"),
    ],
)
async def test_bad_values_are_400_naming_the_field(override: dict[str, Any], named: str) -> None:
    async with running() as sim:
        resp = await sim.post("User", await sim.learner_body(**override))
        assert resp.status_code == 400
        assert named in message(resp)


async def test_learner_as_default_assessor_is_refused() -> None:
    async with running() as sim:
        learner = await sim.learner()
        resp = await sim.post("User", await sim.learner_body(DefaultAssessorID=learner))
        assert resp.status_code == 400 and "DefaultAssessorID" in message(resp)


async def test_update_user() -> None:
    async with running() as sim:
        uid = await sim.learner()
        before = sim.state.user(uid)["LastModified"]
        await asyncio.sleep(0.002)
        assert (
            await sim.post(f"User/{uid}", {"Telephone": "0123", "MISID": "P9"})
        ).status_code == 204
        user = (await sim.get(f"User/{uid}")).json()
        assert user["Telephone"] == "0123"
        assert sim.state.user(uid)["LastModified"] > before
        for body, named in [
            ({"Nickname": "x"}, "Nickname"),
            ({"ID": 1}, "ID"),
            ({"Email": None}, "Email"),
            ({"Role": 5}, "Role"),
            ({"StartOn": "soon"}, "StartOn"),
        ]:
            resp = await sim.post(f"User/{uid}", body)
            assert resp.status_code == 400 and named in message(resp), body
        assert (await sim.post("User/99999", {"Telephone": "1"})).status_code == 404
        resp = await sim.post("User/Search/1/10", {"MISID": "P9"})
        assert [u["ID"] for u in resp.json()] == [uid]
        assert (await sim.post("User/Search/1/10", {"MISID": "P0001"})).status_code == 204


async def test_unknown_ids_in_the_path_and_unknown_routes() -> None:
    async with running() as sim:
        learner = await sim.learner()
        assert (await sim.get("User/99999")).status_code == 404
        assert (await sim.get("LearningAim/1")).status_code == 404
        assert (await sim.get("Review/1")).status_code == 404
        assert (await sim.post("LearningAim/1", {"Progress": 1})).status_code == 404
        assert (await sim.post(f"Standard/999/Assign/{learner}")).status_code == 404
        assert (await sim.post("Standard/501/Assign/99999")).status_code == 404
        assessor = sim.made["assessor"]
        assert (await sim.post(f"Standard/501/Assign/{assessor}")).status_code == 404
        assert (await sim.post("Nothing/Here")).status_code == 404
        assert (await sim.get("User")).status_code == 405
        assert (await sim.post("User/Search/one/10", {})).status_code == 404
        assert sim.state.count_calls("GET <unmatched>", 405) == 1


async def test_body_must_be_a_json_object() -> None:
    async with running() as sim:
        await sim.authenticate()
        resp = await sim.post("Placement", content=b"{nope", headers={"X-TokenID": "x"})
        assert resp.status_code == 401
        assert (await sim.post("Placement", [1, 2])).status_code == 400
        assert (await sim.post("Placement")).status_code == 400  # no body at all
        resp = await sim.call("POST", "Placement", content=b"{nope")
        assert resp.status_code == 400


# ---- lead assessor, aims, visits, reviews --------------------------------------------------


async def test_assign_standard_and_lead_assessor() -> None:
    async with running() as sim:
        learner = await sim.learner()
        assessor = sim.made["assessor"]
        resp = await sim.post(f"Standard/501/Assign/{learner}")
        assert resp.status_code == 200 and resp.json() == 30001
        body = {"LearnerID": learner, "Level": 3, "StandardID": 501}
        assert (await sim.post(f"User/{assessor}/Assign", body)).status_code == 204
        assert sim.state.learning_aim(30001)["LeadAssessorID"] == assessor
        bad_bodies = [
            ({**body, "StandardID": 502}, "502"),  # no aim for it
            ({**body, "Level": 2}, "Level"),
            ({**body, "LearnerID": assessor}, "LearnerID"),
            ({"LearnerID": learner, "Level": 3}, "StandardID"),
        ]
        for bad_body, named in bad_bodies:
            resp = await sim.post(f"User/{assessor}/Assign", bad_body)
            assert resp.status_code == 400 and named in message(resp), bad_body
        resp = await sim.post(f"User/{learner}/Assign", body)
        assert resp.status_code == 400  # not an assessor
        assert (await sim.post("User/99999/Assign", body)).status_code == 404


async def test_learning_aim_search_and_update() -> None:
    async with running() as sim:
        learner = await sim.learner()
        aim = (await sim.post(f"Standard/501/Assign/{learner}")).json()
        resp = await sim.post("LearningAim/Search/1/10", {"UserID": learner})
        [row] = resp.json()
        assert row["ID"] == aim and row["StandardID"] == 501
        assert row["Progress"] is None and row["TotalElements"] is None
        update = {"AchievedDate": "2025-07-01T00:00:00Z", "RegistrationNumber": "R1"}
        assert (await sim.post(f"LearningAim/{aim}", update)).status_code == 204
        got = (await sim.get(f"LearningAim/{aim}")).json()
        assert got["AchievedDate"] == "2025-07-01T00:00:00.000Z"
        assert got["RegistrationNumber"] == "R1"
        for body in ({"Progress": 150}, {"Colour": 1}, {"StandardID": 502}, {"ElementsDone": "3"}):
            assert (await sim.post(f"LearningAim/{aim}", body)).status_code == 400, body
        assert (await sim.post("LearningAim/Search/1/10", {})).status_code == 400
        assert (await sim.post("LearningAim/Search/1/10", {"UserID": 99999})).status_code == 204


async def test_visit_and_review() -> None:
    async with running() as sim:
        learner = await sim.learner()
        other = await sim.learner(MISID="P0002")
        assessor = sim.made["assessor"]
        visit = {
            "LearnerID": learner,
            "OrganisationID": 1,
            "DateFrom": "2025-03-04T10:00:00Z",
            "DateTo": "2025-03-04T11:30:00.25+00:00",
            "VisitTypeID": 2,
            "AssessorID": assessor,
        }
        visit_id = await sim.new_id("Visit", visit)
        assert visit_id == 40001
        for bad_visit, named in [
            ({**visit, "DateTo": visit["DateFrom"]}, "DateTo"),
            ({**visit, "VisitTypeID": 7}, "VisitTypeID"),
            ({**visit, "AssessorID": learner}, "AssessorID"),
            ({**visit, "LearnerID": assessor}, "LearnerID"),
            ({k: v for k, v in visit.items() if k != "DateFrom"}, "DateFrom"),
        ]:
            resp = await sim.post("Visit", bad_visit)
            assert resp.status_code == 400 and named in message(resp), bad_visit
        review = {
            "LearnerID": learner,
            "Status": 1,
            "ScheduledFor": "2025-03-04T10:00:00.000Z",
            "VisitID": visit_id,
            "AssessorID": assessor,
        }
        review_id = await sim.new_id("Review", review)
        assert review_id == 50001
        for bad_review, named in [
            ({**review, "VisitID": 49999}, "VisitID"),
            ({**review, "LearnerID": other}, "VisitID"),  # the visit is someone else's
            ({**review, "Status": 2}, "Status"),
            ({**review, "LearnerID": assessor}, "LearnerID"),
        ]:
            resp = await sim.post("Review", bad_review)
            assert resp.status_code == 400 and named in message(resp), bad_review
        got = (await sim.get(f"Review/{review_id}")).json()
        assert got["EndTime"] == "2025-03-04T11:30:00.250Z"
        assert got["StartedOn"] is None and got["Status"] == 1
        by_learner = (await sim.post("Review/Search/1/10", {"LearnerID": learner})).json()
        by_centre = (await sim.post("Review/Search/1/1000", {"OrganisationID": 1})).json()
        assert by_learner == by_centre == [got]
        assert (await sim.post("Review/Search/1/10", {"LearnerID": other})).status_code == 204
        assert (await sim.post("Review/Search/1/10", {})).status_code == 400
        assert (await sim.post("Review/Search/1/10", {"OrganisationID": 2})).status_code == 400


# ---- duplicates, paging, LastModified ------------------------------------------------------


async def test_duplicates_are_duplicates() -> None:
    async with running() as sim:
        first = await sim.learner()
        second = await sim.learner()
        assert first != second
        rows = (await sim.post("User/Search/1/10", {"MISID": "P0001"})).json()
        assert [r["ID"] for r in rows] == [first, second]
        aims = [(await sim.post(f"Standard/501/Assign/{first}")).json() for _ in range(2)]
        assert len(set(aims)) == 2 and len(sim.state.learning_aims(first)) == 2
        await sim.placement()
        rows = (
            await sim.post("Placement/Search/1/10", {"OrganisationID": 1, "MISID": "E1"})
        ).json()
        assert len(rows) == 2
        assert set(rows[0]) == {"ID", "OrganisationID", "Name", "MISID", "Active"}
        assert (await sim.post("Placement/Search/1/10", {"MISID": "E1"})).status_code == 400


async def test_paging() -> None:
    state = SimulatorState()
    learners = state.seed_learners(5)
    async with running(state=state) as sim:
        pages = []
        for page in (1, 2, 3):
            resp = await sim.post(f"User/Search/{page}/2", {"Role": 1, "OrganisationID": 1})
            assert resp.status_code == 200
            pages.append([u["ID"] for u in resp.json()])
        assert pages == [learners[0:2], learners[2:4], learners[4:5]]
        resp = await sim.post("User/Search/4/2", {"Role": 1})
        assert resp.status_code == 204 and resp.content == b""
        assert (await sim.post("User/Search/1/1000", {"Role": 3})).status_code == 204
        for path in ("User/Search/0/10", "User/Search/1/0", "User/Search/1/1001"):
            assert (await sim.post(path, {})).status_code == 400
        resp = await sim.post("Review/Search/1/3", {"OrganisationID": 1})
        assert [r["LearnerID"] for r in resp.json()] == learners[:3]
        assert (await sim.post("User/Search/1/10", {"Colour": "red"})).status_code == 400


async def test_last_modified_filter_after_a_review_starts() -> None:
    state = SimulatorState()
    learners = state.seed_learners(3)
    await asyncio.sleep(0.003)
    since = format_instant(dt.datetime.now(UTC))
    await asyncio.sleep(0.003)
    review = state.reviews(learners[1])[0]["ID"]
    state.start_review(review, dt.datetime.now(UTC))
    async with running(state=state) as sim:
        resp = await sim.post("User/Search/1/100", {"Role": 1, "LastModified": since})
        assert [u["ID"] for u in resp.json()] == [learners[1]]
        rows = (await sim.post("Review/Search/1/10", {"LearnerID": learners[1]})).json()
        assert STAMP.fullmatch(rows[0]["StartedOn"])
        later = format_instant(dt.datetime.now(UTC) + dt.timedelta(seconds=5))
        assert (await sim.post("User/Search/1/100", {"LastModified": later})).status_code == 204
        resp = await sim.post("User/Search/1/100", {"LastModified": "yesterday"})
        assert resp.status_code == 400 and "LastModified" in message(resp)


async def test_onefile_side_changes_move_last_modified() -> None:
    state = SimulatorState()
    [learner] = state.seed_learners(1)
    aim = state.learning_aims(learner)[0]["ID"]
    steps: list[Callable[[], object]] = [
        lambda: state.set_progress(aim, 40, 10),
        lambda: state.update_learning_aim(aim, AchievedDate=dt.date(2025, 1, 2)),
        lambda: state.sign_review(state.reviews(learner)[0]["ID"], dt.datetime.now(UTC)),
        lambda: state.set_review_assessor(state.reviews(learner)[0]["ID"], 10001),
        lambda: state.add_review(learner, dt.datetime.now(UTC), 10001),
    ]
    for step in steps:
        before = state.user(learner)["LastModified"]
        await asyncio.sleep(0.002)
        step()
        assert state.user(learner)["LastModified"] > before
    got = state.learning_aim(aim)
    assert (got["Progress"], got["AchievedDate"]) == (25, dt.datetime(2025, 1, 2, tzinfo=UTC))
    assert len(state.reviews(learner)) == 2


# ---- rate limit ----------------------------------------------------------------------------


async def test_sliding_window_in_real_time() -> None:
    config = SimulatorConfig(rate_limit=5, rate_period=0.5)
    async with running(config) as sim:
        statuses = [(await sim.get("User/1")).status_code for _ in range(5)]  # + Authentication
        assert statuses == [404, 404, 404, 404, 429]
        assert "Retry-After" not in (await sim.get("User/1")).headers
        await asyncio.sleep(0.55)
        assert (await sim.get("User/1")).status_code == 404
        assert sim.state.count_calls(status=429) == 2


async def test_sliding_window_counts_429s_and_moves() -> None:
    clock = FakeClock()
    state = SimulatorState(clock=clock)
    async with running(SimulatorConfig(rate_limit=5, rate_period=10.0), state) as sim:
        await sim.login()  # at 0
        for t in (1, 2, 3, 4):
            clock.now = 1000.0 + t
            assert (await sim.get("User/1")).status_code == 404
        clock.now = 1005.0
        assert (await sim.get("User/1")).status_code == 429  # the 6th within 10 s
        clock.now = 1010.5  # window (1000.5, 1010.5]: 1, 2, 3, 4 and the 429 at 5
        assert (await sim.get("User/1")).status_code == 429  # only because 429s count
        clock.now = 1016.0  # window (1006, 1016]: the 429 at 10.5
        assert (await sim.get("User/1")).status_code == 404
        assert [c.status for c in state.calls][-3:] == [429, 429, 404]


async def test_retry_after_when_configured() -> None:
    clock = FakeClock()
    state = SimulatorState(clock=clock)
    config = SimulatorConfig(rate_limit=2, rate_period=60.0, send_retry_after=True)
    async with running(config, state) as sim:
        assert (await sim.get("User/1")).status_code == 404  # Authentication + this, at 0
        clock.now += 10
        resp = await sim.get("User/1")
        assert resp.status_code == 429
        assert resp.headers["Retry-After"] == "50"  # the window frees at 60 s
        clock.now += 49.5  # the 429 at 10 counts: a slot frees at 70
        assert (await sim.get("User/1")).headers["Retry-After"] == "11"


async def test_rate_limit_applies_to_authentication_per_token() -> None:
    config = SimulatorConfig(api_tokens=frozenset({"a", "b"}), rate_limit=2)
    async with running(config) as sim:
        statuses = [(await sim.authenticate("a")).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert (await sim.authenticate("b")).status_code == 200


# ---- faults, latency -----------------------------------------------------------------------


async def test_fault_rate_one_answers_5xx_and_does_nothing() -> None:
    async with running() as sim:
        await sim.login()
        assert (await sim.control("POST", "config", {"fault_rate": 1.0})).status_code == 200
        statuses = {(await sim.post("Placement", {"Name": "X"})).status_code for _ in range(20)}
        assert statuses <= {500, 502, 503} and len(statuses) > 1
        assert (await sim.authenticate()).status_code in {500, 502, 503}
        assert sim.state.placements() == []


async def test_garbage_rate_one_answers_200_with_non_json() -> None:
    async with running(SimulatorConfig(garbage_rate=1.0, seed=1)) as sim:
        for _ in range(5):
            resp = await sim.authenticate()
            assert resp.status_code == 200
            with pytest.raises(json.JSONDecodeError):
                resp.json()
        assert sim.state.sessions == {}


async def test_timeout_rate_hangs_then_504() -> None:
    async with running(SimulatorConfig(hang_seconds=0.05)) as sim:
        await sim.login()
        sim.config.timeout_rate = 1.0
        started = time.monotonic()
        assert (await sim.post("Placement", {"Name": "X"})).status_code == 504
        assert time.monotonic() - started >= 0.05
        assert sim.state.placements() == []
        sim.config.timeout_does_work = True  # the answer is lost, the work is done
        assert (await sim.post("Placement", {"Name": "X"})).status_code == 504
        assert len(sim.state.placements()) == 1


async def test_latency() -> None:
    async with running(SimulatorConfig(latency=0.03, latency_jitter=0.0)) as sim:
        started = time.monotonic()
        await sim.authenticate()
        assert time.monotonic() - started >= 0.03
        started = time.monotonic()
        assert (await sim.control("GET", "stats")).status_code == 200
        assert time.monotonic() - started < 0.03


# ---- control endpoints ---------------------------------------------------------------------


async def test_control_endpoints() -> None:
    async with running() as sim:
        learner = await sim.learner()
        await sim.post(f"Standard/501/Assign/{learner}")
        await sim.post("User/Search/1/10", {})
        stats = (await sim.control("GET", "stats")).json()
        assert stats["users_by_role"] == {"1": 1, "5": 1}
        assert (stats["placements"], stats["learning_aims"], stats["reviews"]) == (1, 1, 0)
        assert stats["calls"] == 6 and stats["rate_limited"] == 0
        assert stats["calls_by_route"]["POST User/Search"] == {"200": 1}
        calls = (await sim.control("GET", "calls")).json()
        assert [c["route"] for c in calls][:2] == ["POST Authentication", "POST User"]
        assert (await sim.control("POST", "reset-calls")).status_code == 204
        assert sim.state.calls == []
        dump = (await sim.control("GET", "dump")).json()
        assert [u["ID"] for u in dump["users"]] == [10001, learner]
        assert STAMP.fullmatch(dump["users"][1]["LastModified"])
        resp = await sim.control("POST", "config", {"rate_limit": 7, "send_retry_after": True})
        assert resp.json()["rate_limit"] == 7 and sim.config.send_retry_after
        assert "api_tokens" not in resp.json()
        assert (await sim.control("POST", "config", {"colour": 1})).status_code == 400
        assert (await sim.control("POST", "config", {"fault_rate": 2})).status_code == 400
        assert (await sim.control("POST", "expire-sessions")).status_code == 204
        assert (await sim.get(f"User/{learner}")).status_code == 401
        assert sim.state.count_calls() == 1  # control calls are not in the call log


async def test_changes_and_seed_endpoints() -> None:
    async with running() as sim:
        resp = await sim.control("POST", "seed", {"learners": 4, "reviews": 2})
        learners = resp.json()["learners"]
        assert len(learners) == 4 and len(sim.state.reviews()) == 8
        before = {u["ID"]: u["LastModified"] for u in sim.state.users(role=1)}
        await asyncio.sleep(0.002)
        changed = (await sim.control("POST", "changes", {"fraction": 0.5, "seed": 1})).json()
        assert len(changed["changed"]) == 2
        after = {u["ID"]: u["LastModified"] for u in sim.state.users(role=1)}
        assert {uid for uid in learners if after[uid] != before[uid]} == set(changed["changed"])
        assert (await sim.control("POST", "changes", {"fraction": 3})).status_code == 400


def test_command_line() -> None:
    args = parse_args(["--port", "8901", "--rate-limit", "10", "--retry-after", "--seed", "2"])
    assert (args.port, args.rate_limit, args.retry_after, args.seed) == (8901, 10, True, 2)


async def test_the_call_log_records_who_called() -> None:
    """Replicas of one deployment share a token; their User-Agent tells their calls apart."""
    async with running() as sim:
        await sim.authenticate()
        await sim.client.post(
            "/api/v2.1/Authentication",
            headers={"X-CustomerToken": TOKEN, "User-Agent": "onefile-sync/0.1.0 (pid 42)"},
        )
        assert [c.agent for c in sim.state.calls][1] == "onefile-sync/0.1.0 (pid 42)"
        assert sim.state.calls[0].agent.startswith("python-httpx/")
        calls = (await sim.control("GET", "calls")).json()
        assert calls[1]["agent"] == "onefile-sync/0.1.0 (pid 42)"
