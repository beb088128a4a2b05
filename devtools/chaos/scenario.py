"""A chaos scenario: the real service (`uvicorn app.main:app` subprocesses) against the OneFile
simulator and Postgres, broken on purpose, then checked for losses and duplicates.

A scenario enrols the world's group, changes both sides the same way (seeded, independent of
OneFile ids), then syncs everyone; `Chaos` says what breaks meanwhile: SIGKILLs and restarts,
OneFile faults, 429 bursts, expired sessions, a Postgres outage."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from app.db.pool import _init_connection
from app.follow import FINAL
from devtools.chaos.checks import (
    Result,
    duplicates_and_losses,
    faults_of,
    job_brief,
    job_problems,
    last_ok,
    onefile_snapshot,
    parse_metrics,
    picsweb_snapshot,
)
from devtools.chaos.faults import Chaos, killer, onefile_trouble, outage
from devtools.chaos.pgproxy import PgProxy
from devtools.chaos.supervision import Supervisor, chaos_env
from devtools.chaos.world import (
    Log,
    World,
    apply_changes,
    drop_database,
    new_database,
    prepare_world,
    quiet,
    simulator,
)
from devtools.service_process import free_port
from devtools.simulator import SimulatorState


async def run_scenario(
    admin_url: str,
    world: World,
    chaos: Chaos,
    workdir: Path,
    label: str,
    *,
    log: Log = quiet,
    keep_db: bool = False,
) -> Result:
    """Enrol the world's group, change both sides, sync everyone — breaking what `chaos` says."""
    t_start = time.monotonic()
    result = Result(label)
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    rng = random.Random(chaos.seed)
    db_name = f"onefile_sync_chaos_{label}_{free_port()}"
    async with simulator(world, chaos.seed, chaos.rate) as (sim_app, sim_base, sim_url):
        sim: SimulatorState = sim_app.state.sim
        db_url = await new_database(admin_url, db_name)
        try:
            group = await prepare_world(db_url, world, sim)
            log(f"[{label}] world: {world.learners} learners, {len(group)} to enrol via the API")
            async with contextlib.AsyncExitStack() as stack:
                service_db = db_url
                proxy = None
                if chaos.pg_outage:
                    proxy = await stack.enter_async_context(PgProxy(db_url))
                    service_db = proxy.url
                sup = Supervisor(chaos_env(service_db, sim_url, world, chaos), workdir, label)
                stack.push_async_callback(sup.stop)
                await sup.start()
                ctl = await stack.enter_async_context(httpx.AsyncClient(base_url=sim_base))
                if chaos.faults:
                    (await ctl.post("/_sim/config", json=chaos.faults)).raise_for_status()

                # -- enrolment --
                jobs: list[int] = []
                for lid in group:
                    r = await sup.request("POST", f"/learners/{lid}/enrol")
                    assert r.status_code == 202, (lid, r.status_code, r.text)
                    jobs.append(r.json()["id"])

                async def enrol_busy() -> bool:
                    for j in jobs:
                        if (await sup.job(j))["status"] not in FINAL:
                            return True
                    return False

                kills = asyncio.create_task(
                    killer(sup, chaos.kills_enrol, rng, chaos, "enrol", enrol_busy, result, log)
                )
                finished = await sup.wait_jobs(jobs)
                await kills
                failed = [j["learner_id"] for j in finished.values() if j["status"] != "succeeded"]
                if failed and chaos.retry_sync:
                    # A2: enrolling again resumes where the first attempt stopped.
                    result.enrol_retried = len(failed)
                    again = []
                    for lid in failed:
                        r = await sup.request("POST", f"/learners/{lid}/enrol")
                        assert r.status_code == 202, (lid, r.status_code, r.text)
                        again.append(r.json()["id"])
                    await sup.wait_jobs(again)
                log(f"[{label}] enrolment done: {len(jobs)} jobs, {len(failed)} not succeeded")

                # -- a day of changes, then the sync --
                result.changes = await apply_changes(db_url, sim, world)
                r = await sup.request("POST", "/sync", json={})
                assert r.status_code == 202, (r.status_code, r.text)
                sync_id = r.json()["id"]

                async def sync_busy() -> bool:
                    return (await sup.job(sync_id))["status"] not in FINAL

                side: list[asyncio.Task[Any]] = [
                    asyncio.create_task(
                        killer(sup, chaos.kills_sync, rng, chaos, "sync", sync_busy, result, log)
                    )
                ]
                if chaos.burst_429 or chaos.expire_sessions:
                    side.append(
                        asyncio.create_task(onefile_trouble(ctl, chaos, rng, sync_busy, result))
                    )
                if proxy is not None:
                    side.append(
                        asyncio.create_task(outage(sup, proxy, chaos, sync_id, result, log))
                    )
                sync_job = (await sup.wait_jobs([sync_id]))[sync_id]
                for t in side:
                    await t
                result.syncs.append(job_brief(sync_job))
                log(f"[{label}] sync {sync_id}: {sync_job['status']} {sync_job['progress']}")
                if sync_job["status"] == "partial" and chaos.retry_sync:
                    r = await sup.request("POST", "/sync", json={})
                    assert r.status_code == 202, (r.status_code, r.text)
                    again_job = (await sup.wait_jobs([r.json()["id"]]))[r.json()["id"]]
                    result.syncs.append(job_brief(again_job))
                    log(f"[{label}] second sync: {again_job['status']}")
                if chaos.faults:
                    await ctl.post(
                        "/_sim/config",
                        json={"fault_rate": 0.0, "timeout_rate": 0.0, "garbage_rate": 0.0},
                    )
                assert sup.svc is not None
                async with httpx.AsyncClient(base_url=sup.svc.url) as plain:
                    result.metrics = parse_metrics((await plain.get("/metrics")).text)
                result.extra["service_starts"] = sup.starts
                result.extra["pids"] = sup.pids

            # -- the verdict --
            if chaos.faults.get("timeout_rate"):
                # A hang the client gave up on is logged by the simulator when it ends.
                await asyncio.sleep(float(chaos.faults.get("hang_seconds", 0)) + 0.5)
            calls = sim.calls
            result.onefile_calls = dict(Counter(str(c.status) for c in calls))
            result.faults_injected = faults_of(calls)
            conn = await asyncpg.connect(db_url)
            try:
                await _init_connection(conn)
                bad_jobs, result.jobs = await job_problems(conn)
                if chaos.retry_sync:
                    # A job that ended partial/failed and whose work a retry finished is allowed.
                    bad_jobs = bad_jobs if not last_ok(result) else []
                result.problems += bad_jobs
                result.problems += await duplicates_and_losses(conn, sim)
                result.picsweb = await picsweb_snapshot(conn, sim)
                result.onefile = onefile_snapshot(sim)
            finally:
                await conn.close()
        finally:
            if not keep_db:
                await drop_database(admin_url, db_url)
    result.seconds = round(time.monotonic() - t_start, 1)
    return result
