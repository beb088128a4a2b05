"""The HTTP API: auth, validation, job resources, health and metrics, through the real app."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from tests.conftest import Service, ServiceFactory
from tests.exchange.factories import wait_job


async def insert_learner(pool: asyncpg.Pool, **fields: Any) -> int:
    """A minimal PICSWeb learner with an officer and a placement unless told otherwise."""
    async with pool.acquire() as conn, conn.transaction():
        officer = await conn.fetchval(
            "INSERT INTO picsweb.officers (first_name, surname, ident, email) "
            "VALUES ('Ann', 'Officer', 'OFF1', 'ann@staff.example.test') RETURNING id"
        )
        org = await conn.fetchval(
            "INSERT INTO picsweb.organisations (name, ident) VALUES ('Acme', 'ORG1') RETURNING id"
        )
        values = {
            "first_name": "Jo",
            "surname": "Learner",
            "email": "jo@example.test",
            "main_officer_id": officer,
            "onefile_user_id": None,
            "uln": "1234567890",
        }
        values.update({k: v for k, v in fields.items() if k != "placement"})
        cols = ", ".join(values)
        params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
        learner = await conn.fetchval(
            f"INSERT INTO picsweb.learners ({cols}) VALUES ({params}) RETURNING id",
            *values.values(),
        )
        if fields.get("placement", True):
            await conn.execute(
                "INSERT INTO picsweb.placements (learner_id, organisation_id, type, start_date) "
                "VALUES ($1, $2, 'P', current_date)",
                learner,
                org,
            )
    return int(learner)


async def test_every_endpoint_but_health_and_metrics_needs_the_token(service: Service) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service.app), base_url="http://s"
    ) as anon:
        for method, path in [
            ("POST", "/sync"),
            ("POST", "/refresh"),
            ("POST", "/learners/1/enrol"),
            ("GET", "/jobs/1"),
        ]:
            r = await anon.request(method, path)
            assert r.status_code == 401, path
            assert r.json()["error"] == "unauthorized"
            assert r.headers["www-authenticate"] == "Bearer"
        r = await anon.post("/sync", headers={"Authorization": "Bearer wrong-token"})
        assert r.status_code == 401
        assert (await anon.get("/health")).status_code == 200
        assert (await anon.get("/metrics")).status_code == 200


async def hold_running(pool: asyncpg.Pool, job_id: int) -> None:
    """The job as a worker holds it mid-run: claimed, its lease far from expiry (no worker runs
    in these tests, so nothing moves it on)."""
    await pool.execute(
        "UPDATE onefile_sync.jobs SET status = 'running', started_at = now(), "
        "lease_owner = 'test', lease_expires_at = now() + interval '1 hour' WHERE id = $1",
        job_id,
    )


@pytest.mark.parametrize("held", ["queued", "running"])
async def test_sync_is_queued_once(
    service_factory: ServiceFactory, pool: asyncpg.Pool, held: str
) -> None:
    """docs/service.md: while a sync is queued or running, another call is 409 with its id."""
    async with service_factory(run_workers=False) as service:
        first = await service.api.post("/sync")
        assert first.status_code == 202
        job = first.json()
        assert first.headers["location"] == f"/jobs/{job['id']}"
        assert job["kind"] == "sync"
        assert job["status"] == "queued"
        assert job["progress"] == {"done": 0, "total": None}
        if held == "running":
            await hold_running(pool, job["id"])
        second = await service.api.post("/sync", json={"full": True})
        assert second.status_code == 409
        assert second.json()["job_id"] == job["id"]
        assert second.json()["error"] == "sync_already_active"
        assert (await service.api.get(f"/jobs/{job['id']}")).json()["status"] == held

        await pool.execute(
            "UPDATE onefile_sync.jobs SET status = 'succeeded', finished_at = now() WHERE id = $1",
            job["id"],
        )
        third = await service.api.post("/sync")
        assert third.status_code == 202  # once it has finished, a new one is queued
        assert third.json()["id"] != job["id"]


async def test_get_job_shape_and_unknown_job(service: Service) -> None:
    r = await service.api.post("/sync", json={"dry_run": True})
    job_id = r.json()["id"]
    got = await service.api.get(f"/jobs/{job_id}")
    assert got.status_code == 200
    body = got.json()
    for key in (
        "id",
        "kind",
        "status",
        "progress",
        "failures",
        "created_at",
        "started_at",
        "finished_at",
    ):
        assert key in body
    assert body["params"] == {"full": None, "dry_run": True}  # no `full`: the schedule decides
    missing = await service.api.get("/jobs/999999")
    assert missing.status_code == 404
    assert missing.json()["error"] == "job_not_found"


async def test_enrol_refusals(service: Service, pool: asyncpg.Pool) -> None:
    r = await service.api.post("/learners/424242/enrol")
    assert r.status_code == 404
    assert r.json()["error"] == "learner_not_found"

    bad = await insert_learner(pool, email=None, main_officer_id=None, placement=False, uln="12345")
    r = await service.api.post(f"/learners/{bad}/enrol")
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "not_enrollable"
    assert {p["field"] for p in body["problems"]} == {
        "email",
        "main_officer_id",
        "placements",
        "uln",
    }
    assert "12345" not in r.text

    linked = await insert_learner(pool, onefile_user_id=10077)
    r = await service.api.post(f"/learners/{linked}/enrol")
    assert r.status_code == 409
    assert r.json()["onefile_user_id"] == 10077


async def test_a_second_enrol_joins_the_active_one(
    service_factory: ServiceFactory, pool: asyncpg.Pool
) -> None:
    """A second enrol of the same learner while the first is queued or running returns the
    same job (202), never a second one."""
    async with service_factory(run_workers=False) as service:
        learner = await insert_learner(pool)
        first = await service.api.post(f"/learners/{learner}/enrol")
        assert first.status_code == 202
        job_id = first.json()["id"]
        again = await service.api.post(f"/learners/{learner}/enrol")
        assert again.status_code == 202
        assert again.json()["id"] == job_id
        await hold_running(pool, job_id)
        third = await service.api.post(f"/learners/{learner}/enrol")
        assert third.status_code == 202
        assert third.json()["id"] == job_id
        assert third.json()["status"] == "running"
        count = await pool.fetchval("SELECT count(*) FROM onefile_sync.jobs WHERE kind = 'enrol'")
        assert count == 1


async def test_refresh_validation(service: Service, pool: asyncpg.Pool) -> None:
    enrolled = await insert_learner(pool, onefile_user_id=10001)
    not_enrolled = await insert_learner(pool)
    r = await service.api.post("/refresh", json={"learner_ids": [enrolled, 777777]})
    assert r.status_code == 404
    assert r.json()["learner_ids"] == [777777]
    r = await service.api.post("/refresh", json={"learner_ids": [enrolled, not_enrolled]})
    assert r.status_code == 422
    assert r.json()["learner_ids"] == [not_enrolled]
    r = await service.api.post("/refresh", json={"learner_ids": [enrolled]})
    assert r.status_code == 202
    assert r.json()["kind"] == "refresh"
    assert r.json()["progress"]["total"] == 1
    # JSON Schema counts 3.0 as an integer: the document says integer, so it is accepted.
    r = await service.api.post("/refresh", json={"learner_ids": [float(enrolled)]})
    assert r.status_code == 202, r.text
    assert r.json()["params"]["learner_ids"] == [enrolled]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "field"),
    [
        ("POST", "/learners/abc/enrol", {}, 422, "learner_id"),
        ("POST", "/learners/0/enrol", {}, 422, "learner_id"),
        ("POST", "/learners/99999999999999999999999/enrol", {}, 422, "learner_id"),
        ("GET", "/jobs/-1", {}, 422, "job_id"),
        ("POST", "/refresh", {"content": b"{not json"}, 400, None),
        ("POST", "/refresh", {"json": {}}, 422, "learner_ids"),
        ("POST", "/refresh", {"json": {"learner_ids": []}}, 422, "learner_ids"),
        ("POST", "/refresh", {"json": {"learner_ids": ["x"]}}, 422, "learner_ids.0"),
        ("POST", "/refresh", {"json": {"learner_ids": [1], "extra": 1}}, 422, "extra"),
        ("POST", "/refresh", {"json": {"learner_ids": list(range(1, 1002))}}, 422, "learner_ids"),
        ("POST", "/sync", {"json": {"full": "maybe"}}, 422, "full"),
        ("POST", "/sync", {"json": {"ful": True}}, 422, "ful"),
        # Strict where the document says boolean or integer: no coercion of 0, "true" or "3"
        # (3.0 is an integer to JSON Schema, and accepted: test_refresh_validation).
        ("POST", "/sync", {"json": {"dry_run": 0}}, 422, "dry_run"),
        ("POST", "/sync", {"json": {"full": "true"}}, 422, "full"),
        ("POST", "/sync", {"json": {"full": 1}}, 422, "full"),
        ("POST", "/sync", {"json": {"full": 0}}, 422, "full"),
        ("POST", "/refresh", {"json": {"learner_ids": [1], "dry_run": 1}}, 422, "dry_run"),
        ("POST", "/refresh", {"json": {"learner_ids": ["3"]}}, 422, "learner_ids.0"),
        ("POST", "/refresh", {"json": {"learner_ids": [True]}}, 422, "learner_ids.0"),
        ("POST", "/refresh", {"json": {"learner_ids": [3.5]}}, 422, "learner_ids.0"),
        # The bounds the document writes: ids below 2^63, at most 1,000 of them.
        ("POST", "/refresh", {"json": {"learner_ids": [2**63]}}, 422, "learner_ids.0"),
        ("POST", f"/learners/{2**63}/enrol", {}, 422, "learner_id"),
        ("GET", f"/jobs/{2**63}", {}, 422, "job_id"),
        ("POST", "/sync", {"content": b'{"full": "\\u0000"}'}, 400, None),
        ("POST", "/refresh", {"content": b'{"learner_ids": [1]\x00}'}, 400, None),
        ("POST", "/refresh", {"content": b"[" + b"1," * 40000 + b"1]"}, 413, None),
    ],
)
async def test_bad_input_is_a_4xx_naming_the_field(
    service: Service,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    headers = {"content-type": "application/json"} if "content" in kwargs else {}
    r = await service.api.request(method, path, headers=headers, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= {"error", "message"}
    if field is not None:
        assert field in body["message"]


async def test_unknown_route_is_json(service: Service) -> None:
    r = await service.api.get("/nope")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"


async def test_health_reports_database_quota_and_leader(service: Service) -> None:
    for _ in range(50):
        body = (await service.api.get("/health")).json()
        if body["leader"]:
            break
        await asyncio.sleep(0.05)
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["leader"] is True
    assert body["quota"]["limit"] == 6000


async def test_health_is_503_while_the_database_is_away(
    service_factory: ServiceFactory, db_url: str, pg_admin: str
) -> None:
    async with service_factory(run_workers=False) as svc:
        admin = await asyncpg.connect(pg_admin)
        name = urlsplit(db_url).path.lstrip("/")
        try:
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
            r = await svc.api.get("/health")
            assert r.status_code == 503
            assert r.json()["database"] == "down"
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            for _ in range(40):
                r = await svc.api.get("/health")
                if r.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert r.status_code == 200
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            await admin.close()


def samples(text: str) -> dict[str, float]:
    """The exposition's sample lines, `name{labels}` → value (HELP and TYPE lines left out:
    they name every metric whatever happened)."""
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$", text, re.MULTILINE)
    }


async def test_metrics_count_the_jobs_and_the_onefile_calls(
    service_factory: ServiceFactory,
) -> None:
    async with service_factory(run_workers=False) as idle:
        job = (await idle.api.post("/sync")).json()
        queued = samples((await idle.api.get("/metrics")).text)
        assert queued['onefile_sync_jobs{kind="sync",status="queued"}'] == 1
        assert queued["onefile_sync_queue_depth"] == 1
        assert queued["onefile_quota_wait_seconds_count"] == 0

    async with service_factory() as busy:  # its workers run the queued sync
        assert (await wait_job(busy.api, job["id"]))["status"] == "succeeded"
        done = samples((await busy.api.get("/metrics")).text)
        assert done['onefile_sync_jobs{kind="sync",status="succeeded"}'] == 1
        assert 'onefile_sync_jobs{kind="sync",status="queued"}' not in done
        assert done["onefile_sync_queue_depth"] == 0
        assert done['onefile_sync_jobs_finished_total{kind="sync",status="succeeded"}'] == 1
        # The sync called OneFile (its session at least), each call through the quota.
        assert done["onefile_quota_wait_seconds_count"] >= 1


async def test_metrics_say_when_the_last_sync_of_each_status_finished(
    service: Service, pool: asyncpg.Pool
) -> None:
    """Freshness comes from the database: a dry run does not count, each status its own."""

    def last_syncs(text: str) -> dict[str, float]:
        return {
            m.group(1): float(m.group(2))
            for m in re.finditer(
                r'^onefile_sync_last_sync_timestamp_seconds\{status="(\w+)"\} (\S+)$',
                text,
                re.MULTILINE,
            )
        }

    assert last_syncs((await service.api.get("/metrics")).text) == {}
    done = await wait_job(service.api, (await service.api.post("/sync")).json()["id"])
    assert done["status"] == "succeeded"
    dry = await service.api.post("/sync", json={"dry_run": True})
    assert (await wait_job(service.api, dry.json()["id"]))["status"] == "succeeded"
    await pool.execute(
        "INSERT INTO onefile_sync.jobs (kind, priority, status, finished_at) "
        "VALUES ('sync', 1, 'failed', now() - interval '1 hour')"
    )
    finished = dt.datetime.fromisoformat(done["finished_at"]).timestamp()
    seen = last_syncs((await service.api.get("/metrics")).text)
    assert seen.keys() == {"succeeded", "failed"}
    assert seen["succeeded"] == pytest.approx(finished, abs=0.01)  # not the later dry run
    assert seen["failed"] < seen["succeeded"]
