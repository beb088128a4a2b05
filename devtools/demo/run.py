"""`onefile-sync-dev demo`: the whole service on embedded defaults, no server or account needed.

An embedded Postgres with generated PICSWeb data, the OneFile simulator on a loopback port, the
real service on another, then — through the service's own HTTP API, as PICSWeb would call it —
enrolment of every learner, a day of changes in OneFile, a sync with a progress bar, and a
second sync to show what a day without changes costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.db.target import parse_target
from app.follow import FINAL, follow_job, start_job
from app.main import create_app
from app.settings import Settings
from devtools.demo import report
from devtools.demo.embedded import embedded_postgres
from devtools.demo.generate import generate_picsweb
from devtools.demo.picsweb_schema import create_picsweb_tables
from devtools.loopback import fresh_database
from devtools.loopback import serve_loopback as serve
from devtools.simulator import SimulatorConfig, create_simulator_app
from devtools.simulator.config import SIM_TOKEN

# Tokens of the demo's own throw-away service and simulator, on loopback only.
DEMO_TOKEN = "demo-service-token-not-secret"  # noqa: S105
DEMO_DATABASE = "onefile_sync_demo"
DATA_DIR = Path(".pgdata") / "demo"


async def run_demo(
    learners: int,
    rate: int,
    period: float,
    latency: float,
    console: Console,
    *,
    admin_url: str | None = None,
    database: str = DEMO_DATABASE,
) -> int:
    """Returns a process exit code: 0 when every job succeeded. `admin_url`: a Postgres server
    to create `database` on; without one, an embedded PostgreSQL in .pgdata/demo."""
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        data_dir = None
        if not admin_url:
            data_dir = str(DATA_DIR.resolve())
            console.print(f"Starting an embedded PostgreSQL in {DATA_DIR} …", style="dim")
            admin_url = stack.enter_context(embedded_postgres(DATA_DIR))
        db_url = await fresh_database(admin_url, database)
        conn = await asyncpg.connect(db_url)
        try:
            await create_picsweb_tables(conn)
            summary = await generate_picsweb(conn, learners=learners, seed=1)
        finally:
            await conn.close()
        console.print(report.generated_table(summary.counts))

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
                    f"OneFile simulator at {sim_url}, the service at {svc_url}; "
                    f"OneFile's quota: {rate:,} calls every {period:g} s",
                    soft_wrap=True,
                )
                ran = await _scenario(api, db_url, sim_app.state.sim, console)
        closing = report.Closing(
            learners=summary.learners,
            enrolled=ran.enrolled,
            refused=ran.refused,
            syncs=ran.syncs,
            seconds=time.monotonic() - began,
            database=str(parse_target(db_url)),
            data_dir=data_dir,
            simulator=sim_url,
            service=svc_url,
        )
        for line in report.closing_lines(closing):
            console.print(line, highlight=False, markup=False, soft_wrap=True)
        return 0 if ran.ok else 1


@dataclass
class _Ran:
    ok: bool = True
    enrolled: int = 0
    refused: int = 0
    syncs: list[tuple[str, str, int]] = field(default_factory=list)


async def _scenario(api: httpx.AsyncClient, db_url: str, sim: Any, console: Console) -> _Ran:
    conn = await asyncpg.connect(db_url)
    try:
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM picsweb.learners ORDER BY id")]
    finally:
        await conn.close()
    ran = _Ran()
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    with _progress(console) as progress:
        # Each learner counts when its enrolment job has ended, whatever the ending.
        task = progress.add_task("Enrolling learners", total=len(ids))
        sem = asyncio.Semaphore(32)

        async def enrol(learner_id: int) -> None:
            async with sem:
                r = await api.post(f"/learners/{learner_id}/enrol")
                if r.status_code == 202:
                    job = await follow_job(api, r.json()["id"], interval=0.5)
                    outcomes[job["status"]] += 1
                else:
                    outcomes["refused" if r.status_code == 422 else str(r.status_code)] += 1
                progress.advance(task)

        await asyncio.gather(*(enrol(i) for i in ids))
    console.print(report.enrolment_table(outcomes, time.monotonic() - started, sim.count_calls()))
    ran.enrolled, ran.refused = outcomes["succeeded"], outcomes["refused"]
    # A few generated officers have no email: rule A1 refuses their learners (422), by design.
    ran.ok &= set(outcomes) <= {"succeeded", "refused"}

    changed = sim.apply_changes(0.3, seed=2)
    console.print(f"OneFile: assessors changed {len(changed):,} learners' records")
    for label, body in (("Full sync", {"full": True}), ("Sync again at once, nothing changed", {})):
        before = sim.count_calls()
        t0 = time.monotonic()
        job = await start_job(api, "POST", "/sync", json=body)
        with _progress(console) as progress:
            bar = progress.add_task(label, total=None)

            def update(
                j: dict[str, Any], bar: Any = bar, progress: Progress = progress, label: str = label
            ) -> None:
                total = j["progress"]["total"]
                if total == 0:
                    # Nothing to exchange: a full bar, not 0/0 beside a count of learners.
                    progress.update(bar, description=f"{label}: nothing to exchange")
                    total = None if j["status"] not in FINAL else 1
                    progress.update(bar, total=total, completed=total or 0)
                else:
                    progress.update(bar, completed=j["progress"]["done"], total=total)

            job = await follow_job(api, job["id"], update)
        calls = sim.count_calls() - before
        console.print(report.sync_table(label, job, calls, time.monotonic() - t0))
        ran.syncs.append(
            (label, "finished" if job["status"] == "succeeded" else job["status"], calls)
        )
        ran.ok &= job["status"] == "succeeded"
    return ran


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
