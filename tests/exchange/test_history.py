"""B11 through the real path: what enrolment and the exchange write is in the learner's
history (GET /learners/{id}/history), and nothing else is: not a dry run, not a run with
nothing changed (B10)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import httpx

from devtools.simulator import SimulatorState
from tests.conftest import Service
from tests.exchange import factories as f
from tests.exchange.daily_factories import enrolled_learner, refresh

Sim = tuple[str, SimulatorState]


async def history(api: httpx.AsyncClient, learner_id: int, **params: Any) -> list[dict[str, Any]]:
    r = await api.get(f"/learners/{learner_id}/history", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["learner_id"] == learner_id
    changes: list[dict[str, Any]] = body["changes"]
    return changes


def rows_of(changes: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    return [c for c in changes if all(c[k] == v for k, v in match.items())]


async def test_an_enrolment_records_every_record_created_and_link_stored(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    t = await f.typical_learner(pool)
    job = await f.enrol(service.api, t.learner_id)
    assert job["status"] == "succeeded", job
    user_id = await pool.fetchval(
        "SELECT onefile_user_id FROM picsweb.learners WHERE id = $1", t.learner_id
    )
    changes = await history(service.api, t.learner_id)
    assert all(c["job_id"] == job["id"] for c in changes)
    (created,) = rows_of(changes, rule="A6", side="onefile", entity="users")
    assert (created["field"], created["old"], created["new"]) == ("created", None, user_id)
    (link,) = rows_of(changes, rule="A6", side="picsweb", entity="learners")
    assert (link["entity_id"], link["field"], link["new"]) == (
        t.learner_id, "onefile_user_id", user_id,
    )  # fmt: skip
    assert len(rows_of(changes, rule="A4", field="created")) == 3  # officers
    assert len(rows_of(changes, rule="A3", field="created")) == 1  # the employer
    assert len(rows_of(changes, rule="A7", field="created")) == 2  # learning aims
    assert len(rows_of(changes, rule="A8", entity="reviews", field="created")) == 3
    assert len(rows_of(changes, rule="A8", entity="visits", field="created")) == 3
    assert rows_of(changes, rule="A7", side="onefile", field="registration_number")
    stamps = [c["at"] for c in changes]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    assert len(await history(service.api, t.learner_id, limit=2)) == 2


async def test_the_exchange_records_each_field_once_and_nothing_when_nothing_changed(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    sim = simulator[1]
    e = await enrolled_learner(
        pool, sim, lq={"registration_number": "R-PICS"}, aim={"TotalElements": 40}
    )
    job = await refresh(service.api, [e.learner_id])
    assert job["status"] == "succeeded", job
    changes = await history(service.api, e.learner_id)
    (progress,) = rows_of(changes, rule="B1", field="total_elements")
    assert (progress["side"], progress["entity"], progress["entity_id"]) == (
        "picsweb", "learner_qualifications", e.lq_ids[0],
    )  # fmt: skip
    assert (progress["old"], progress["new"]) == (None, 40)
    (sent,) = rows_of(changes, rule="B2", field="registration_number")
    assert (sent["side"], sent["entity"], sent["entity_id"]) == (
        "onefile", "learning_aims", e.aim_ids[0],
    )  # fmt: skip
    assert sent["new"] == "R-PICS"
    before = len(changes)
    again = await refresh(service.api, [e.learner_id])  # B10: nothing changed
    assert again["result"]["learners"]["unchanged"] == 1, again
    assert len(await history(service.api, e.learner_id)) == before
    sim.set_progress(e.aim_ids[0], 40, 12)
    dry = await refresh(service.api, [e.learner_id], dry_run=True)
    assert dry["result"]["changes_total"] == 1
    assert len(await history(service.api, e.learner_id)) == before  # a dry run records nothing
    await refresh(service.api, [e.learner_id])
    (done,) = rows_of(await history(service.api, e.learner_id), field="elements_done")
    assert (done["rule"], done["old"], done["new"]) == ("B1", None, 12)


async def test_history_of_an_unknown_learner_and_bad_limits(service: Service) -> None:
    r = await service.api.get("/learners/999999/history")
    assert r.status_code == 404 and r.json()["error"] == "learner_not_found"
    for bad in ("0", "1001", "ten", "1.5"):
        r = await service.api.get("/learners/1/history", params={"limit": bad})
        assert r.status_code == 422, (bad, r.text)
        assert "limit" in r.text


async def test_a_review_created_from_onefile_is_recorded_field_by_field(
    service: Service, pool: asyncpg.Pool, simulator: Sim
) -> None:
    sim = simulator[1]
    e = await enrolled_learner(pool, sim)
    when = dt.datetime(2026, 5, 4, 13, 0, tzinfo=dt.UTC)
    rid = sim.add_review(e.user_id, when, e.assessor_id)
    await refresh(service.api, [e.learner_id])
    new = rows_of(await history(service.api, e.learner_id), rule="B5")
    fields = {c["field"]: c["new"] for c in new}
    assert fields["onefile_review_id"] == rid
    assert (fields["planned_date"], fields["start_time"]) == ("2026-05-04", "14:00:00")
