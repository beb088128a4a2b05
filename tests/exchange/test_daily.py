"""Rules B1–B10 through the real path: HTTP → job → simulator over HTTP → Postgres."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import asyncpg
import pytest

from app.exchange.due_reviews import UK
from app.jobs.worker import PoolConfig
from app.onefile.errors import OneFileUnavailable
from devtools.simulator import SimulatorConfig, SimulatorState
from tests.conftest import Service, ServiceFactory
from tests.exchange import factories as f
from tests.exchange.daily_factories import (
    bulk_enrolled,
    enrolled_learner,
    linked_officer,
    linked_review,
    refresh,
    settle,
    snapshot,
    sync,
    wait_job,
)

Sim = tuple[str, SimulatorState]
UTC = dt.UTC
WRITES = ("POST LearningAim/{id}", "POST Visit", "POST Review", "POST User", "POST User/{id}")


def writes(sim: SimulatorState) -> int:
    return sum(sim.count_calls(route) for route in WRITES) + sim.count_calls(
        "POST Standard/{id}/Assign/{learner}"
    )


async def lq_row(pool: asyncpg.Pool, lq_id: int) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM picsweb.learner_qualifications WHERE id = $1", lq_id)
    assert row is not None
    return row


async def review_row(pool: asyncpg.Pool, review_id: int) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM picsweb.reviews WHERE id = $1", review_id)
    assert row is not None
    return row


# ---- B1 -----------------------------------------------------------------------------------


async def test_b1_progress_comes_from_onefile_and_a_null_keeps_picsweb(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    sim = simulator[1]
    e = await enrolled_learner(
        pool, sim, lq={"total_elements": 10, "elements_done": 2}, aim={"TotalElements": 40}
    )
    job = await refresh(service.api, [e.learner_id])
    assert job["status"] == "succeeded", job
    row = await lq_row(pool, e.lq_ids[0])
    assert (row["total_elements"], row["elements_done"]) == (40, 2)
    sim.set_progress(e.aim_ids[0], 40, 12)
    await refresh(service.api, [e.learner_id])
    row = await lq_row(pool, e.lq_ids[0])
    assert (row["total_elements"], row["elements_done"]) == (40, 12)


async def test_b1_b2_a_qualification_with_units_is_left_out(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    sim = simulator[1]
    e = await enrolled_learner(
        pool,
        sim,
        lq={"registration_date": dt.date(2024, 1, 2), "total_elements": 5},
        aim={"TotalElements": 40, "ElementsDone": 3, "RegistrationNumber": "R-1"},
    )
    await pool.execute(
        "INSERT INTO picsweb.learner_qualification_units (learner_qualification_id, code, title)"
        " VALUES ($1, 'U1', 'Unit 1')",
        e.lq_ids[0],
    )
    before = await lq_row(pool, e.lq_ids[0])
    aim_before = sim.learning_aim(e.aim_ids[0])
    job = await refresh(service.api, [e.learner_id])
    assert job["status"] == "succeeded", job
    assert await lq_row(pool, e.lq_ids[0]) == before
    assert sim.learning_aim(e.aim_ids[0]) == aim_before
    assert writes(sim) == 0


# ---- B2, B3 -------------------------------------------------------------------------------


async def test_b2_each_field_on_its_own_and_b3_nothing_else_is_sent(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    sim = simulator[1]
    e = await enrolled_learner(
        pool,
        sim,
        lq={
            "registration_number": None,  # blank here, set in OneFile → PICSWeb
            "registration_date": dt.date(2024, 10, 1),  # set here, blank there → OneFile
            "certificate_applied_date": dt.date(2025, 1, 1),  # both, different → OneFile wins
            "certificate_received_date": None,  # both blank → nothing
            "start_date": dt.date(2024, 9, 9),  # B3: never sent
            "achieved_date": dt.date(2025, 2, 2),  # B3: never sent
        },
        aim={
            "RegistrationNumber": "REG-9",
            "CertificateAppliedDate": dt.date(2025, 3, 3),
            "StartDate": dt.date(2024, 9, 2),
        },
    )
    q_other = await f.qualification(pool, 520, code="ST-NOAIM")
    await f.learner_qualification(pool, e.learner_id, q_other)  # no aim: not assigned (B3)
    aim_before = sim.learning_aim(e.aim_ids[0])
    job = await refresh(service.api, [e.learner_id])
    assert job["status"] == "succeeded", job
    row = await lq_row(pool, e.lq_ids[0])
    assert row["registration_number"] == "REG-9"
    assert row["registration_date"] == dt.date(2024, 10, 1)
    assert row["certificate_applied_date"] == dt.date(2025, 3, 3)
    assert row["certificate_received_date"] is None
    assert row["start_date"] == dt.date(2024, 9, 9)
    aim = sim.learning_aim(e.aim_ids[0])
    assert aim["RegistrationDate"] == dt.datetime(2024, 10, 1, tzinfo=UTC)
    assert {k: v for k, v in aim.items() if k != "RegistrationDate"} == {
        k: v for k, v in aim_before.items() if k != "RegistrationDate"
    }
    assert sim.count_calls("POST LearningAim/{id}") == 1
    assert sim.count_calls("POST Standard/{id}/Assign/{learner}") == 0
    assert len(sim.learning_aims(e.user_id)) == 1
    result = job["result"]
    assert result["picsweb"]["fields_written"] == 2
    assert result["onefile"]["fields_written"] == 1


async def test_b2_equal_values_and_blanks_change_nothing(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    sim = simulator[1]
    e = await enrolled_learner(
        pool,
        sim,
        lq={"registration_number": "R-1", "registration_date": dt.date(2024, 10, 1)},
        aim={"RegistrationNumber": "R-1", "RegistrationDate": dt.date(2024, 10, 1)},
    )
    before = await snapshot(pool)
    job = await refresh(service.api, [e.learner_id])
    assert job["result"]["learners"]["unchanged"] == 1, job
    assert await snapshot(pool) == before
    assert writes(sim) == 0


# ---- B4 -----------------------------------------------------------------------------------


async def test_b4_new_due_reviews_are_uploaded_as_in_a8(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    sim = simulator[1]
    e = await enrolled_learner(pool, sim)
    today = f.today_in_uk()
    due = await f.review(
        pool, e.learner_id, today + dt.timedelta(days=7), start_time=dt.time(14, 0)
    )
    yesterday = today - dt.timedelta(days=1)  # started already, whatever the hour now
    not_due = await f.review(pool, e.learner_id, yesterday, start_time=dt.time(23, 59))
    other_type = await f.review(pool, e.learner_id, today + dt.timedelta(days=7), type="P")
    job = await refresh(service.api, [e.learner_id])
    assert job["status"] == "succeeded", job
    assert job["result"]["onefile"]["reviews_uploaded"] == 1
    row = await review_row(pool, due)
    assert row["onefile_review_id"] is not None
    created = sim.review(row["onefile_review_id"])
    local = created["ScheduledFor"].astimezone(UK)
    assert (local.date(), local.time()) == (today + dt.timedelta(days=7), dt.time(14, 0))
    assert created["AssessorID"] == e.assessor_id  # the main officer
    assert (await review_row(pool, not_due))["onefile_review_id"] is None
    assert (await review_row(pool, other_type))["onefile_review_id"] is None
    # B10 after an upload: the next run finds nothing to do on either side.
    before = await snapshot(pool)
    sim.reset_calls()
    job = await refresh(service.api, [e.learner_id])
    assert job["result"]["learners"]["unchanged"] == 1, job
    assert await snapshot(pool) == before
    assert writes(sim) == 0


async def test_b4_the_0230_run_uploads_a_review_planned_for_1000_that_day(
    service_factory: ServiceFactory, pool: asyncpg.Pool, simulator: Sim
) -> None:
    """A8 against the moment, not the date: the nightly run at 02:30 uploads today's 10:00."""
    sim = simulator[1]
    e = await enrolled_learner(pool, sim)
    day = f.today_in_uk() + dt.timedelta(days=30)
    nightly = dt.datetime.combine(day, dt.time(2, 30), tzinfo=UK)
    later_today = await f.review(pool, e.learner_id, day, start_time=dt.time(10, 0))
    earlier_today = await f.review(pool, e.learner_id, day, start_time=dt.time(2, 0))
    async with service_factory(clock=lambda: nightly) as svc:
        job = await refresh(svc.api, [e.learner_id])
    assert job["status"] == "succeeded", job
    assert job["result"]["onefile"]["reviews_uploaded"] == 1
    assert (await review_row(pool, later_today))["onefile_review_id"] is not None
    assert (await review_row(pool, earlier_today))["onefile_review_id"] is None


# ---- B12 ----------------------------------------------------------------------------------


def _gone_metric(text: str) -> float:
    (line,) = [x for x in text.splitlines() if x.startswith("onefile_sync_reviews_gone_total ")]
    return float(line.split()[1])


async def test_b12_a_review_gone_from_onefile_is_reported_and_left_as_it_is(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    sim = simulator[1]
    e = await enrolled_learner(pool, sim)
    soon = dt.datetime.now(UTC) + dt.timedelta(days=10)  # A8 would upload it, were it unlinked
    kept, _ = await linked_review(pool, sim, e, soon)
    gone, gone_id = await linked_review(pool, sim, e, soon + dt.timedelta(days=1))
    sim.delete_review(gone_id)
    before = await review_row(pool, gone)
    sim.reset_calls()
    job = await refresh(service.api, [e.learner_id])
    assert job["status"] == "succeeded", job
    assert job["result"]["onefile"]["reviews_gone"] == 1
    assert job["result"]["onefile"]["reviews_gone_list"] == [
        {"learner_id": e.learner_id, "review_id": gone, "onefile_review_id": gone_id}
    ]
    assert await review_row(pool, gone) == before  # not deleted, not unlinked, not touched
    assert (await review_row(pool, kept))["onefile_review_id"] is not None
    assert writes(sim) == 0  # not uploaded again
    metrics = (await service.api.get("/metrics")).text
    assert _gone_metric(metrics) == 1


async def test_b12_reading_the_centres_reviews_a_gone_review_is_confirmed_and_reported(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    """A sync over several learners reads the centre's reviews: a linked review missing from
    those pages is confirmed with a GET (404), then reported."""
    sim = simulator[1]
    ids = await _mixed(pool, sim)
    first = await sync(service.api)
    assert first["status"] == "succeeded", first
    assert first["result"]["reviews_read"] == "centre"
    assert "reviews_gone" not in first["result"]["onefile"]
    row = await pool.fetchrow(
        "SELECT id, onefile_review_id FROM picsweb.reviews"
        " WHERE learner_id = $1 AND onefile_review_id IS NOT NULL ORDER BY id LIMIT 1",
        ids[1],
    )
    assert row is not None
    sim.delete_review(row["onefile_review_id"])
    sim.reset_calls()
    job = await sync(service.api, full=True)
    assert job["status"] == "succeeded", job
    assert job["result"]["reviews_read"] == "centre"
    assert job["result"]["onefile"]["reviews_gone_list"] == [
        {
            "learner_id": ids[1],
            "review_id": row["id"],
            "onefile_review_id": row["onefile_review_id"],
        }
    ]
    assert sim.count_calls("GET Review/{id}", 404) >= 1
    assert writes(sim) == 0


# ---- B5–B8 --------------------------------------------------------------------------------


async def test_b5_an_unmatched_onefile_review_creates_a_picsweb_review(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    sim = simulator[1]
    e = await enrolled_learner(pool, sim)
    when = dt.datetime(2025, 7, 1, 13, 30, tzinfo=UTC)  # 14:30 in London (BST)
    rid = sim.add_review(
        e.user_id, when, e.assessor_id, StartedOn=dt.datetime(2025, 6, 30, 23, 30, tzinfo=UTC)
    )
    job = await refresh(service.api, [e.learner_id])
    assert job["result"]["picsweb"]["reviews_created"] == 1, job
    row = await pool.fetchrow("SELECT * FROM picsweb.reviews WHERE onefile_review_id = $1", rid)
    assert row is not None
    assert row["learner_id"] == e.learner_id
    assert row["type"] == "N"
    assert (row["planned_date"], row["start_time"]) == (dt.date(2025, 7, 1), dt.time(14, 30))
    assert (row["attended"], row["actual_date"]) == ("Y", dt.date(2025, 7, 1))
    assert row["officer_id"] == e.officer_id
    assert row["trainee_signed_date"] is None


async def test_b5_a_matched_review_keeps_its_planned_date_and_time(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    sim = simulator[1]
    e = await enrolled_learner(pool, sim)
    pid, _ = await linked_review(
        pool,
        sim,
        e,
        dt.datetime(2025, 3, 3, 10, 0, tzinfo=UTC),
        picsweb={"start_time": dt.time(9, 15)},
        onefile={"LearnerSignedOn": dt.datetime(2025, 3, 3, 11, 0, tzinfo=UTC)},
    )
    await refresh(service.api, [e.learner_id])
    row = await review_row(pool, pid)
    assert (row["planned_date"], row["start_time"]) == (dt.date(2025, 3, 3), dt.time(9, 15))
    assert row["trainee_signed_date"] == dt.date(2025, 3, 3)


async def test_b6_attended_from_started_on_and_a_null_resets(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    sim = simulator[1]
    e = await enrolled_learner(pool, sim)
    when = dt.datetime(2025, 6, 30, 9, 0, tzinfo=UTC)
    started, rid_started = await linked_review(pool, sim, e, when)
    reset, _ = await linked_review(
        pool, sim, e, when, picsweb={"attended": "N", "actual_date": dt.date(2025, 6, 30)}
    )
    sim.start_review(rid_started, dt.datetime(2025, 6, 30, 23, 15, tzinfo=UTC))  # 1 July, UK
    job = await refresh(service.api, [e.learner_id])
    assert job["status"] == "succeeded", job
    row = await review_row(pool, started)
    assert (row["attended"], row["actual_date"]) == ("Y", dt.date(2025, 7, 1))
    row = await review_row(pool, reset)
    assert (row["attended"], row["actual_date"]) == ("U", None)


async def test_b7_officer_from_a_linked_assessor_else_left_as_it_is(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    sim = simulator[1]
    e = await enrolled_learner(pool, sim)
    other_officer, other_assessor = await linked_officer(pool, sim, "OFF-B7")
    stranger = sim.add_user({"OrganisationID": 1, "FirstName": "No", "LastName": "Link", "Role": 5})
    when = dt.datetime(2025, 5, 5, 9, 0, tzinfo=UTC)
    moved, rid_moved = await linked_review(pool, sim, e, when)
    kept, rid_kept = await linked_review(pool, sim, e, when)
    sim.set_review_assessor(rid_moved, other_assessor)
    sim.set_review_assessor(rid_kept, stranger)
    await refresh(service.api, [e.learner_id])
    assert (await review_row(pool, moved))["officer_id"] == other_officer
    assert (await review_row(pool, kept))["officer_id"] == e.officer_id


async def test_b8_trainee_signed_from_learner_signed_on_a_null_leaves_it(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    sim = simulator[1]
    e = await enrolled_learner(pool, sim)
    when = dt.datetime(2025, 1, 10, 9, 0, tzinfo=UTC)  # winter: UK = UTC
    signed, rid = await linked_review(pool, sim, e, when)
    kept, _ = await linked_review(
        pool, sim, e, when, picsweb={"trainee_signed_date": dt.date(2025, 1, 9)}
    )
    sim.sign_review(rid, dt.datetime(2025, 1, 10, 23, 59, tzinfo=UTC))
    await refresh(service.api, [e.learner_id])
    assert (await review_row(pool, signed))["trainee_signed_date"] == dt.date(2025, 1, 10)
    assert (await review_row(pool, kept))["trainee_signed_date"] == dt.date(2025, 1, 9)


# ---- B9 -----------------------------------------------------------------------------------


async def test_b9_one_failure_never_stops_the_others_and_is_retried_next_time(
    service: Service,
    pool: asyncpg.Pool,
    simulator: Sim,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = simulator[1]
    good = await enrolled_learner(pool, sim, tag="G", aim={"TotalElements": 9})
    bad = await enrolled_learner(pool, sim, tag="B", aim={"TotalElements": 9})
    client = service.app.state.services.onefile
    real = client.linked_learning_aims

    async def failing(user_id: int, aim_ids: Any) -> Any:
        if user_id == bad.user_id:
            raise OneFileUnavailable("OneFile answered 503", route="POST LearningAim/Search")
        return await real(user_id, aim_ids)

    monkeypatch.setattr(client, "linked_learning_aims", failing)
    job = await sync(service.api)
    assert job["status"] == "partial", job
    assert [x["learner_id"] for x in job["failures"]] == [bad.learner_id]
    assert "503" in job["failures"][0]["reason"]
    assert (await lq_row(pool, good.lq_ids[0]))["total_elements"] == 9
    assert (await lq_row(pool, bad.lq_ids[0]))["total_elements"] is None
    state = await pool.fetchrow(
        "SELECT failure_reason FROM onefile_sync.exchange_state WHERE learner_id = $1",
        bad.learner_id,
    )
    assert state is not None and "503" in state["failure_reason"]

    monkeypatch.setattr(client, "linked_learning_aims", real)
    job = await sync(service.api)  # incremental: nothing changed, but it failed last time
    assert job["status"] == "succeeded", job
    assert job["result"]["mode"] == "incremental"
    assert job["result"]["learners"]["to_exchange"] == 1
    assert (await lq_row(pool, bad.lq_ids[0]))["total_elements"] == 9


async def test_b9_bad_data_is_reported_without_personal_data(
    service: Service, pool: asyncpg.Pool, simulator: Sim, onefile_kind: str
) -> None:
    sim = simulator[1]
    a = await enrolled_learner(pool, sim, tag="A")
    b = await enrolled_learner(pool, sim, tag="B")
    rid = sim.add_review(b.user_id, dt.datetime(2025, 2, 2, 9, tzinfo=UTC), b.assessor_id)
    # PICSWeb wrongly links B's OneFile review to a review of A.
    await f.review(pool, a.learner_id, dt.date(2025, 2, 2), onefile_review_id=rid)
    job = await refresh(service.api, [a.learner_id, b.learner_id])
    assert job["status"] == "partial", job
    # Full rows name the review's learner (B, whose new PICSWeb review would clash); thin
    # rows are mapped through PICSWeb's link (A), and the GET of A's review names B.
    culprit = b.learner_id if onefile_kind == "today" else a.learner_id
    assert [x["learner_id"] for x in job["failures"]] == [culprit]
    assert str(rid) in job["failures"][0]["reason"]
    assert "Jo" not in job["failures"][0]["reason"]


# ---- B10, incremental, dry run ---------------------------------------------------------------


async def _mixed(pool: asyncpg.Pool, sim: SimulatorState) -> list[int]:
    """Three learners with something to exchange on each side."""
    ids = []
    for n in range(3):
        e = await enrolled_learner(
            pool,
            sim,
            tag=f"M{n}",
            lq={"registration_date": dt.date(2024, 10, n + 1)},
            aim={"TotalElements": 30 + n, "ElementsDone": n, "RegistrationNumber": f"R{n}"},
        )
        when = dt.datetime(2025, 4, 1 + n, 9, tzinfo=UTC)
        _, rid = await linked_review(pool, sim, e, when)
        sim.start_review(rid, when)
        sim.add_review(e.user_id, when + dt.timedelta(days=30), e.assessor_id)
        ids.append(e.learner_id)
    settle(sim)  # those OneFile changes were made before the first sync, long ago
    return ids


async def test_b10_twice_with_nothing_changed_changes_nothing(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    sim = simulator[1]
    await _mixed(pool, sim)
    first = await sync(service.api)
    assert first["status"] == "succeeded", first
    assert first["result"]["mode"] == "full"
    assert first["result"]["learners"]["exchanged"] == 3
    before = await snapshot(pool)
    sim.reset_calls()
    second = await sync(service.api, full=True)
    assert second["status"] == "succeeded", second
    assert second["result"]["learners"]["unchanged"] == 3, second
    assert await snapshot(pool) == before  # updated_at included
    assert writes(sim) == 0
    assert second["result"]["picsweb"]["fields_written"] == 0


async def test_incremental_day_with_no_change_costs_one_search_and_writes_nothing(
    service: Service, pool: asyncpg.Pool, simulator: Sim, onefile_kind: str
) -> None:
    sim = simulator[1]
    ids = await _mixed(pool, sim)
    await sync(service.api)
    await sync(service.api)  # learners the first sync wrote to OneFile come back once
    settle(sim)  # nothing changed in OneFile since (thin rows: test_thin_user_rows_…)
    before = await snapshot(pool)
    sim.reset_calls()
    job = await sync(service.api)
    assert job["result"]["mode"] == "incremental"
    assert job["result"]["learners"]["to_exchange"] == 0, job
    assert sim.count_calls() == 1 == sim.count_calls("POST User/Search")
    assert await snapshot(pool) == before
    assert job["progress"] == {"done": 0, "total": 0}

    # A change in OneFile: only that learner is exchanged.
    aim = sim.learning_aims(sim.users(role=1)[0]["ID"])[0]
    sim.set_progress(aim["ID"], 50, 25)
    sim.reset_calls()
    job = await sync(service.api)
    assert job["result"]["learners"]["to_exchange"] == 1, job
    assert job["result"]["learners"]["exchanged"] == 1
    routes = {r: sum(s.values()) for r, s in sim.stats()["calls_by_route"].items()}
    if onefile_kind == "today":
        assert routes == {
            "POST User/Search": 1,
            "POST LearningAim/Search": 1,
            "POST Review/Search": 1,
        }
    else:  # thin rows: LastModified confirmed, the aim and both reviews read whole
        assert routes == {
            "POST User/Search": 1,
            "GET User/{id}": 1,
            "GET LearningAim/{id}": 1,
            "POST Review/Search": 1,
            "GET Review/{id}": 2,
        }
    assert job["result"]["onefile"]["calls"] == sim.count_calls()

    # A change in PICSWeb (not ours): only that learner is exchanged.
    await pool.execute(
        "UPDATE picsweb.learners SET telephone = '0', updated_at = now() WHERE id = $1", ids[2]
    )
    job = await sync(service.api)
    assert job["result"]["learners"]["to_exchange"] == 1, job
    assert job["result"]["learners"]["unchanged"] == 1
    assert job["progress"] == {"done": 1, "total": 1}


async def test_thin_user_rows_are_confirmed_with_a_get_only_when_unsure(
    service: Service, pool: asyncpg.Pool, simulator: Sim, onefile_kind: str
) -> None:
    """Thin User/Search rows carry no LastModified. A returned learner with nothing stored,
    or stored within the search's overlap, costs a GET User/{id} (most are our own writes);
    one whose stored LastModified predates the search has surely changed: no GET."""
    sim = simulator[1]
    a = await enrolled_learner(pool, sim, tag="A", aim={"TotalElements": 9})
    b = await enrolled_learner(pool, sim, tag="B", aim={"TotalElements": 9})
    c = await enrolled_learner(pool, sim, tag="C", aim={"TotalElements": 9})
    await sync(service.api)  # full
    sim.set_progress(a.aim_ids[0], 9, 1)
    sim.reset_calls()
    job = await sync(service.api)
    assert job["result"]["learners"]["exchanged"] == 1, job
    gets = 0 if onefile_kind == "today" else 1  # A: nothing stored yet
    assert sim.count_calls("GET User/{id}") == gets
    assert job["result"]["onefile"].get("users_confirmed", 0) == gets

    sim.reset_calls()
    job = await sync(service.api)  # A is still within the overlap: confirmed, not exchanged
    assert job["result"]["learners"]["to_exchange"] == 0, job
    assert sim.count_calls("GET User/{id}") == gets

    # Long after: B's stored LastModified, and C's last exchange, predate the search; both
    # change again.
    await pool.execute(
        "UPDATE onefile_sync.exchange_state SET onefile_modified_at = now() - interval '2 days'"
        " WHERE learner_id = $1",
        b.learner_id,
    )
    await pool.execute(
        "UPDATE onefile_sync.exchange_state SET onefile_modified_at = NULL,"
        " last_exchanged_at = now() - interval '2 days' WHERE learner_id = $1",
        c.learner_id,
    )
    settle(sim)
    sim.set_progress(b.aim_ids[0], 9, 2)
    sim.set_progress(c.aim_ids[0], 9, 3)
    sim.reset_calls()
    job = await sync(service.api)
    assert job["result"]["learners"]["exchanged"] == 2, job
    assert sim.count_calls("GET User/{id}") == 0  # surely changed: exchanged, no GET
    assert (await lq_row(pool, b.lq_ids[0]))["elements_done"] == 2
    assert (await lq_row(pool, c.lq_ids[0]))["elements_done"] == 3


async def test_dry_run_reports_field_by_field_and_writes_nothing(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    sim = simulator[1]
    ids = await _mixed(pool, sim)
    await f.review(pool, ids[0], f.today_in_uk() + dt.timedelta(days=3))  # due: would upload
    before = await snapshot(pool)
    aims_before = sim.learning_aims()
    job = await sync(service.api, dry_run=True)
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["dry_run"] is True
    assert result["changes_total"] == 3
    # Learners are exchanged side by side: the list is in the order they finished.
    assert sorted(c["learner_id"] for c in result["changes"]) == sorted(ids)
    (first,) = [c for c in result["changes"] if c["learner_id"] == ids[0]]
    lq_changes = first["picsweb"]["learner_qualifications"][0]["changes"]
    assert lq_changes["total_elements"] == {"old": None, "new": 30}
    assert lq_changes["registration_number"] == {"old": None, "new": "R0"}
    aim_changes = first["onefile"]["learning_aims"][0]["changes"]
    assert aim_changes == {"registration_date": {"old": None, "new": "2024-10-01"}}
    assert first["picsweb"]["reviews"][0]["changes"]["attended"] == {"old": "U", "new": "Y"}
    assert first["picsweb"]["new_reviews"][0]["type"] == "N"
    assert len(first["onefile"]["reviews_to_upload"]) == 1
    assert await snapshot(pool) == before
    assert sim.learning_aims() == aims_before
    assert writes(sim) == 0
    # A dry run is no sync: the next one is still the first, full one.
    job = await sync(service.api)
    assert job["result"]["mode"] == "full"
    assert job["result"]["learners"]["exchanged"] == 3
    dry = await refresh(service.api, [ids[0]], dry_run=True)
    assert dry["result"]["changes_total"] == 0, dry


async def test_sync_reads_reviews_for_the_whole_centre_when_cheaper(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    sim = simulator[1]
    await _mixed(pool, sim)
    sim.reset_calls()
    job = await sync(service.api)
    assert job["result"]["reviews_read"] == "centre", job
    assert sim.count_calls("POST Review/Search") == 1
    assert sim.count_calls("POST LearningAim/Search") == 3
    left = await pool.fetchval("SELECT count(*) FROM onefile_sync.centre_reviews")
    assert left == 0


async def test_calls_per_learner_on_1000_learners(
    service: Service, pool: asyncpg.Pool, simulator: Sim, onefile_kind: str
) -> None:
    """The figures of issue 5 that are counts, not times: printed for the report."""
    sim = simulator[1]
    await bulk_enrolled(pool, sim, 1000)
    sim.reset_calls()
    full = await sync(service.api)
    full_calls = sim.count_calls()
    assert full["status"] == "succeeded", full
    assert full["result"]["learners"]["unchanged"] == 1000
    sim.reset_calls()
    quiet = await sync(service.api)
    quiet_calls = sim.count_calls()
    quiet_routes = sim.stats()["calls_by_route"]
    assert quiet["result"]["learners"]["to_exchange"] == 0, quiet
    changed = sim.apply_changes(0.1, seed=3)
    sim.reset_calls()
    typical = await sync(service.api)
    typical_calls = sim.count_calls()
    assert typical["result"]["learners"]["to_exchange"] == len(changed)
    print(
        f"\n{onefile_kind}: full: {full_calls / 1000:.3f} calls/learner ({full_calls} calls); "
        f"no change: {quiet_calls / 1000:.3f} ({quiet_routes}); "
        f"10% changed: {typical_calls / 1000:.3f} "
        f"({typical_calls} calls for {len(changed)} learners)"
    )
    # Issue 10 item 8: ≤ 5 calls a learner with thin rows (here 1 aim and 1 review each).
    assert full_calls / 1000 <= (1.1 if onefile_kind == "today" else 5)
    assert quiet_calls / 1000 <= 0.05


async def test_a_sync_interrupted_midway_resumes_without_redoing_finished_learners(
    service_factory: ServiceFactory,
    pool: asyncpg.Pool,
    simulator: Sim,
    sim_config: SimulatorConfig,
) -> None:
    sim = simulator[1]
    await bulk_enrolled(pool, sim, 120)
    sim_config.latency = 0.02
    quick_stop = PoolConfig(slots=4, lease_seconds=6.0, poll_interval=0.1, shutdown_grace=0.0)
    async with service_factory(pool_config=quick_stop) as svc:
        r = await svc.api.post("/sync", json={})
        job_id = r.json()["id"]
        async with asyncio.timeout(20):
            while (await svc.api.get(f"/jobs/{job_id}")).json()["progress"]["done"] < 30:
                await asyncio.sleep(0.02)
    first = sim.count_calls("POST LearningAim/Search")
    assert first < 120
    sim_config.latency = 0.0
    async with service_factory(pool_config=quick_stop) as svc:
        job = await wait_job(svc.api, job_id, timeout=30)
    assert job["status"] == "succeeded", job
    assert job["progress"] == {"done": 120, "total": 120}
    # Only the learners in flight at the interruption were read twice.
    assert sim.count_calls("POST LearningAim/Search") <= 120 + 16
    last = await pool.fetch("SELECT DISTINCT last_job_id FROM onefile_sync.exchange_state")
    assert [r["last_job_id"] for r in last] == [job_id]


async def test_a_full_sweep_on_request_and_when_the_last_is_older_than_the_schedule(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    sim = simulator[1]
    await enrolled_learner(pool, sim)

    def mode(job: dict[str, Any]) -> tuple[str, str]:
        return job["result"]["mode"], job["result"]["mode_reason"]

    # Asked for incremental, but nothing ever finished to measure changes from.
    assert mode(await sync(service.api, full=False)) == ("full", "no_previous_full")
    assert mode(await sync(service.api)) == ("incremental", "full_recent")
    assert mode(await sync(service.api, full=True)) == ("full", "requested")
    # FULL_SYNC_EVERY_DAYS = 1 (the default): a full run a day and a minute old is due ...
    await pool.execute(
        "UPDATE onefile_sync.sync_runs SET started_at = started_at - interval '1 day 1 minute'"
        " WHERE mode = 'full'"
    )
    assert mode(await sync(service.api, full=False)) == ("incremental", "requested")
    job = await sync(service.api)
    assert mode(job) == ("full", "full_due")
    metrics = (await service.api.get("/metrics")).text
    assert 'onefile_sync_runs_total{mode="full",reason="full_due"} 1.0' in metrics
    assert 'onefile_sync_runs_total{mode="incremental",reason="requested"} 1.0' in metrics
    assert "onefile_sync_last_full_sync_timestamp_seconds 1." in metrics
    assert job["result"]["learners"]["unchanged"] == 1
    health = (await service.api.get("/health")).json()
    assert health["last_sync"]["job_id"] == job["id"]
    assert health["last_sync"]["status"] == "succeeded"
    assert health["last_sync"]["mode"] == "full"
    assert health["last_sync"]["failed_learners"] == 0


# ---- issue 15: every date through two full exchanges, summer and winter -----------------

SEASONS = {
    "summer": {
        "StartDate": dt.date(2026, 3, 29),  # spring forward
        "PlannedEnd": dt.date(2027, 7, 1),
        "AchievedDate": dt.date(2026, 6, 30),
        "ClaimedDate": dt.date(2026, 7, 1),
        "CertificateAppliedDate": dt.date(2026, 8, 31),
        "CertificateReceivedDate": dt.date(2026, 10, 24),  # the eve of fall back, still BST
        "registration_date": dt.date(2026, 5, 5),
        "certificate_applied_date": dt.date(2026, 9, 1),
    },
    "winter": {
        "StartDate": dt.date(2025, 10, 26),  # fall back
        "PlannedEnd": dt.date(2027, 1, 5),
        "AchievedDate": dt.date(2026, 1, 5),
        "ClaimedDate": dt.date(2026, 2, 1),
        "CertificateAppliedDate": dt.date(2026, 3, 28),  # the eve of spring forward
        "CertificateReceivedDate": dt.date(2026, 1, 31),
        "registration_date": dt.date(2025, 12, 1),
        "certificate_applied_date": dt.date(2026, 2, 2),
    },
}


@pytest.mark.parametrize("season", list(SEASONS))
async def test_b10_every_date_round_trips_through_two_full_exchanges(
    service: Service, pool: asyncpg.Pool, simulator: Sim, season: str
) -> None:
    """OneFile's dates (served as midnight UTC, or as UK midnight in the realistic preset)
    reach PICSWeb as the same calendar days; the aim written back whole (B2 fills its blank
    registration date) keeps every date; the second exchange writes nothing on either side."""
    sim = simulator[1]
    days = SEASONS[season]
    onefile = {k: v for k, v in days.items() if k[0].isupper()}
    e = await enrolled_learner(
        pool,
        sim,
        lq={
            "registration_date": days["registration_date"],  # OneFile blank: written there
            "certificate_applied_date": days["certificate_applied_date"],  # OneFile's wins
            "certificate_received_date": None,  # PICSWeb blank: written here
        },
        aim=onefile,
    )
    first = await sync(service.api, full=True)
    assert first["status"] == "succeeded", first
    row = await lq_row(pool, e.lq_ids[0])
    assert row["certificate_applied_date"] == days["CertificateAppliedDate"]
    assert row["certificate_received_date"] == days["CertificateReceivedDate"]
    assert row["registration_date"] == days["registration_date"]
    aim = sim.learning_aim(e.aim_ids[0])
    for name, day in onefile.items():
        assert aim[name] == dt.datetime.combine(day, dt.time(), tzinfo=UTC), name
    assert aim["RegistrationDate"] == dt.datetime.combine(
        days["registration_date"], dt.time(), tzinfo=UTC
    )
    assert sim.count_calls("POST LearningAim/{id}") == 1
    before = await snapshot(pool)
    sim.reset_calls()
    second = await sync(service.api, full=True)
    assert second["result"]["learners"]["unchanged"] == 1, second["result"]
    assert await snapshot(pool) == before
    assert writes(sim) == 0


@pytest.mark.parametrize("skips", [False, True], ids=["clamps", "skips"])
async def test_a_page_cap_of_10_loses_no_aim_and_no_review(
    service: Service,
    pool: asyncpg.Pool,
    simulator: Sim,
    sim_config: SimulatorConfig,
    skips: bool,
) -> None:
    """A OneFile that silently answers 10 rows a page, with a learner holding more aims and
    reviews than that (per-learner searches) and a centre with more (centre-wide ones)."""
    sim = simulator[1]
    sim_config.page_cap, sim_config.page_cap_skips = 10, skips
    e = await enrolled_learner(pool, sim, qualifications=12, aim={"TotalElements": 7})
    others = [await enrolled_learner(pool, sim, tag=f"O{n}") for n in range(2)]
    for n in range(13):  # new to PICSWeb: each becomes a PICSWeb review (B5)
        sim.add_review(e.user_id, dt.datetime(2026, 1, 5 + n, 10, tzinfo=UTC), e.assessor_id)
    for o in others:
        for n in range(6):
            sim.add_review(o.user_id, dt.datetime(2026, 2, 2 + n, 10, tzinfo=UTC), o.assessor_id)
    job = await refresh(service.api, [e.learner_id])  # one learner: a search of its own
    assert job["status"] == "succeeded", job
    assert job["result"]["picsweb"]["reviews_created"] == 13
    for lq_id in e.lq_ids:
        assert (await lq_row(pool, lq_id))["total_elements"] == 7
    job = await sync(service.api, full=True)  # three learners, 25 reviews: centre-wide
    assert job["status"] == "succeeded", job
    assert job["result"]["picsweb"]["reviews_created"] == 12
    count = await pool.fetchval("SELECT count(*) FROM picsweb.reviews")
    assert count == 25
