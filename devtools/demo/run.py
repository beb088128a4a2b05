"""`onefile-sync-dev demo`: the whole service on embedded defaults, no server or account needed.

An embedded Postgres with generated PICSWeb data, the OneFile simulator on a loopback port, the
real service on another, then — through the service's own HTTP API, as PICSWeb would call it —
enrolment of every learner, a day of changes in OneFile, a sync with a progress bar, and a
second sync to show what a day without changes costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.follow import follow_job, job_table, start_job
from app.main import create_app
from app.settings import Settings
from devtools.demo.embedded import embedded_postgres
from devtools.demo.generate import generate_picsweb
from devtools.demo.picsweb_schema import create_picsweb_tables
from devtools.loopback import fresh_database
from devtools.loopback import serve_loopback as serve
from devtools.simulator import SimulatorConfig, create_simulator_app
from devtools.simulator.config import SIM_TOKEN

# Tokens of the demo's own throw-away service and simulator, on loopback only.
DEMO_TOKEN = "demo-service-token-not-secret"  # noqa: S105
REFUSED = "refused (A1)"


async def run_demo(
    learners: int, rate: int, period: float, latency: float, console: Console
) -> int:
    """Returns a process exit code: 0 when every job succeeded."""
    admin_url = os.environ.get("DATABASE_URL")
    with contextlib.ExitStack() as stack:
        if not admin_url:
            console.print("[dim]starting an embedded PostgreSQL in .pgdata/demo …[/dim]")
            admin_url = stack.enter_context(embedded_postgres(Path(".pgdata") / "demo"))
        db_url = await fresh_database(admin_url, "onefile_sync_demo")
        conn = await asyncpg.connect(db_url)
        try:
            await create_picsweb_tables(conn)
            summary = await generate_picsweb(conn, learners=learners, seed=1)
        finally:
            await conn.close()
        console.print(f"PICSWeb: {summary.learners} learners generated ({summary.counts})")

        # OneFile as the public evidence makes it likely (docs/onefile-api.md): bare-text
        # session, thin search rows, pages capped at 100, replacing updates, UK-midnight dates…
        sim_cfg = SimulatorConfig.realistic(
            rate_limit=rate, rate_period=period, latency=latency, seed=1
        )
        sim_app = create_simulator_app(sim_cfg)
        async with serve(sim_app, "off") as sim_url:
            settings = Settings(
                database_url=SecretStr(db_url),
                onefile_base_url=f"{sim_url}{sim_cfg.path_prefix}/",
                onefile_api_token=SecretStr(SIM_TOKEN),
                onefile_organisation_id=sim_cfg.organisation_id,
                onefile_classroom_id=min(sim_cfg.classroom_ids),
                onefile_rate_limit=rate,
                onefile_rate_period=period,
                service_api_token=SecretStr(DEMO_TOKEN),
                log_level="WARNING",
            )
            service = create_app(settings)
            async with (
                serve(service, "on") as svc_url,
                httpx.AsyncClient(
                    base_url=svc_url, headers={"Authorization": f"Bearer {DEMO_TOKEN}"}, timeout=30
                ) as api,
            ):
                console.print(
                    f"OneFile simulator: {sim_url}  ·  service: {svc_url}  ·  "
                    f"quota {rate} calls / {period:g} s"
                )
                return await _scenario(api, db_url, sim_app.state.sim, summary.learners, console)
    return 1


async def _scenario(api: httpx.AsyncClient, db_url: str, sim: Any, n: int, console: Console) -> int:
    conn = await asyncpg.connect(db_url)
    try:
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM picsweb.learners ORDER BY id")]
    finally:
        await conn.close()
    ok = True
    with _progress(console) as progress:
        task = progress.add_task("enrolling learners", total=len(ids))
        started = time.monotonic()
        sem = asyncio.Semaphore(32)
        outcomes: dict[str, int] = {}

        async def enrol(learner_id: int) -> None:
            async with sem:
                r = await api.post(f"/learners/{learner_id}/enrol")
                if r.status_code != 202:
                    key = REFUSED if r.status_code == 422 else f"refused {r.status_code}"
                else:
                    job = await follow_job(api, r.json()["id"], interval=0.5)
                    key = job["status"]
                outcomes[key] = outcomes.get(key, 0) + 1
                progress.advance(task)

        await asyncio.gather(*(enrol(i) for i in ids))
    console.print(
        f"enrolment: {outcomes} in {time.monotonic() - started:.1f} s, "
        f"{sim.count_calls()} OneFile calls"
    )
    # A few generated officers have no email: rule A1 refuses their learners (422), by design.
    ok &= set(outcomes) <= {"succeeded", REFUSED}

    changed = sim.apply_changes(0.3, seed=2)
    console.print(f"OneFile: {len(changed)} learners changed by their assessors")
    for label, body in (("sync (full)", {"full": True}), ("sync (a day with no change)", {})):
        before = sim.count_calls()
        t0 = time.monotonic()
        job = await start_job(api, "POST", "/sync", json=body)
        with _progress(console) as progress:
            bar = progress.add_task(label, total=None)

            def update(j: dict[str, Any], bar: Any = bar, progress: Progress = progress) -> None:
                progress.update(bar, completed=j["progress"]["done"], total=j["progress"]["total"])

            job = await follow_job(api, job["id"], update)
        calls = sim.count_calls() - before
        _summary(console, label, job, calls, time.monotonic() - t0, n)
        ok &= job["status"] == "succeeded"
    return 0 if ok else 1


@contextlib.contextmanager
def _progress(console: Console) -> Iterator[Progress]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        yield progress


def _summary(
    console: Console, label: str, job: dict[str, Any], calls: int, secs: float, n: int
) -> None:
    console.print(
        job_table(
            job,
            label,
            [
                ("learners", str(n)),
                ("OneFile calls", str(calls)),
                ("calls per learner", f"{calls / max(n, 1):.3f}"),
                ("wall time", f"{secs:.1f} s"),
            ],
        )
    )
