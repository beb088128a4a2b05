"""`make bench-freshness` (issue 12 item 3): how far PICSWeb lags OneFile, and what each
sync cadence costs of the daily quota.

Two measurements for each OneFile the simulator can be (as first read, and the realistic
preset), both against the real service process (devtools/bench/run.py's harness):

1. Cost of a cadence on an unchanged centre of 1,000 and of 10,000 learners: one full and one
   incremental sync are run and their OneFile calls counted; a day's calls are those counts
   times the runs per day (nightly full only: 1 full; with an incremental run every 15 min:
   1 full + 96 incremental; hourly: 1 full + 24 incremental, an upper bound since the runs
   that fall during the full one are refused with a 409). The quota is out of the way there:
   call counts do not depend on it (no 429 is answered, so none is retried).
2. Freshness: 1,000 learners under the bench's compressed quota (1,000 calls per 10 s, 20
   times the real 300 a minute), so the 15-minute cadence is compressed 20 times too: an
   incremental sync is asked for every 45 s. After the nightly full sync, OneFile's assessors
   move a learner's progress (an aim's ElementsDone) at random moments, and PICSWeb is polled
   until it shows the new value. The delay is reported in bench seconds and scaled back by the
   compression to real minutes (which also scales the fixed costs of a run — job claim,
   round trips — 20 times, so the real figure is if anything pessimistic).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg
import httpx

from devtools.bench.run import OUT, Options, prepare, run_sync
from devtools.loopback import serve_loopback as serve
from devtools.service_process import SERVICE_TOKEN, service_env, service_process
from devtools.simulator import SimulatorConfig, SimulatorState, create_simulator_app
from devtools.simulator.config import REALISTIC, SIM_TOKEN

REAL_RATE = 300 / 60  # OneFile's quota, calls per second (docs/service.md's defaults)
DAILY_QUOTA = 300 * 1440  # 432,000 calls a day
CADENCES = {  # runs per day: (full, incremental)
    "nightly full only": (1, 0),
    "nightly full + hourly incremental": (1, 24),
    "nightly full + 15-min incremental": (1, 96),
}
OUT_OF_THE_WAY = 1_000_000  # calls per 10 s: the quota never holds a call back
# Aims whose PICSWeb row the exchange updates (B1: a qualification with units is left out).
EXCHANGED_AIMS = """
SELECT q.onefile_learning_aim_id AS aim
FROM picsweb.learner_qualifications AS q
WHERE q.onefile_learning_aim_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM picsweb.learner_qualification_units AS u
                  WHERE u.learner_qualification_id = q.id)
"""
SHOWN = """
SELECT onefile_learning_aim_id AS aim, elements_done
FROM picsweb.learner_qualifications WHERE onefile_learning_aim_id = ANY($1::bigint[])
"""


@dataclass
class FreshnessOptions:
    sizes: tuple[int, ...] = (1000, 10000)
    learners: int = 1000  # the freshness run's centre
    rate: int = 1000  # per period: the bench's compressed quota
    period: float = 10.0
    latency: float = 0.04
    every: float = 900.0  # the incremental cadence, real seconds
    cycles: int = 8  # cadence intervals during which changes are made
    changes: int = 40


def _sim_config(kind: str, rate: int, period: float, latency: float) -> SimulatorConfig:
    preset = REALISTIC if kind == "realistic" else {}
    return SimulatorConfig(
        **preset, rate_limit=rate, rate_period=period, latency=latency, latency_jitter=0.5,
        seed=5,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def _centre(
    kind: str, admin_url: str, learners: int, rate: int, period: float, latency: float
) -> Any:
    """A seeded centre, the simulator serving it and the service against both."""
    sim_cfg = _sim_config(kind, rate, period, latency)
    sim_app = create_simulator_app(sim_cfg)
    sim: SimulatorState = sim_app.state.sim
    t = time.monotonic()
    db_url, ids = await prepare(admin_url, learners, sim, f"onefile_sync_fresh_{kind}")
    print(f"[{kind}] prepared {len(ids)} enrolled learners in {time.monotonic() - t:.1f} s")
    opts = Options(learners=learners, rate=rate, period=period, latency=latency, onefile=kind)
    async with serve(sim_app, "off") as sim_base:
        env = service_env(
            db_url,
            f"{sim_base}{sim_cfg.path_prefix}/",
            onefile_token=SIM_TOKEN,
            rate=rate,
            period=period,
        )
        async with (
            service_process(env, OUT / f"freshness-{kind}.log") as svc,
            httpx.AsyncClient(
                base_url=svc.url, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}, timeout=120
            ) as api,
        ):
            yield sim, svc, api, opts, db_url


async def cost(kind: str, admin_url: str, size: int, latency: float) -> dict[str, Any]:
    """Calls of one full and one incremental sync on an unchanged centre of `size`."""
    async with _centre(kind, admin_url, size, OUT_OF_THE_WAY, 10.0, latency) as (
        sim, svc, api, opts, _,
    ):  # fmt: skip
        full = await run_sync(api, sim, svc, opts, {"full": True})
        incremental = await run_sync(api, sim, svc, opts, {"full": False})
    for run in (full, incremental):
        assert run.job["status"] == "succeeded", run.job
    assert incremental.job["result"]["mode"] == "incremental"
    out = {
        "learners": size,
        "full_calls": full.calls,
        "full_seconds": round(full.seconds, 1),
        "incremental_calls": incremental.calls,
        "incremental_seconds": round(incremental.seconds, 2),
        "calls_429": full.calls_429 + incremental.calls_429,
    }
    print(f"[{kind}] {size} learners: full {full.calls} calls, incremental {incremental.calls}")
    return out


def per_day(c: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Calls a day and share of the daily quota, for each cadence."""
    out = {}
    for cadence, (fulls, incrementals) in CADENCES.items():
        calls = fulls * c["full_calls"] + incrementals * c["incremental_calls"]
        out[cadence] = {"calls": calls, "share": calls / DAILY_QUOTA}
    return out


async def freshness(kind: str, admin_url: str, fo: FreshnessOptions) -> dict[str, Any]:
    """Delays from a OneFile change to PICSWeb showing it, with the compressed cadence."""
    compression = (fo.rate / fo.period) / REAL_RATE
    interval = fo.every / compression
    window = fo.cycles * interval
    rng = random.Random(12)
    async with _centre(kind, admin_url, fo.learners, fo.rate, fo.period, fo.latency) as (
        sim, svc, api, opts, db_url,
    ):  # fmt: skip
        nightly = await run_sync(api, sim, svc, opts, {"full": True})
        assert nightly.job["status"] == "succeeded", nightly.job
        conn = await asyncpg.connect(db_url)
        try:
            aims = sorted(r["aim"] for r in await conn.fetch(EXCHANGED_AIMS))
            chosen = rng.sample(aims, min(fo.changes, len(aims)))
            moments = sorted(rng.uniform(0, window) for _ in chosen)
            pending: dict[int, tuple[float, int]] = {}
            delays: list[float] = []
            statuses: list[int] = []
            stop = asyncio.Event()
            start = time.monotonic()

            async def cadence() -> None:
                while not stop.is_set():
                    r = await api.post("/sync", json={"full": False})
                    assert r.status_code in (202, 409), r.text
                    statuses.append(r.status_code)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), interval)

            async def changes() -> None:
                for aim_id, at in zip(chosen, moments, strict=True):
                    await asyncio.sleep(max(0.0, start + at - time.monotonic()))
                    aim = sim.learning_aim(aim_id)
                    total = aim["TotalElements"] or 40
                    done = (aim["ElementsDone"] or 0) + 1
                    if done > total:
                        done = 0
                    sim.set_progress(aim_id, total, done)
                    pending[aim_id] = (time.monotonic(), done)

            async def watch() -> None:
                while pending or not changing.done():
                    if pending:
                        now = time.monotonic()
                        for row in await conn.fetch(SHOWN, list(pending)):
                            made, done = pending[row["aim"]]
                            if row["elements_done"] == done:
                                delays.append(now - made)
                                del pending[row["aim"]]
                    await asyncio.sleep(0.2)

            ticking = asyncio.create_task(cadence())
            changing = asyncio.create_task(changes())
            try:
                # Every change shows within an interval and a run; beyond three, it never will.
                await asyncio.wait_for(watch(), window + 3 * interval)
            except TimeoutError:
                pass
            finally:
                stop.set()
                changing.cancel()
                await asyncio.gather(ticking, changing, return_exceptions=True)
        finally:
            await conn.close()
    delays.sort()
    out: dict[str, Any] = {
        "learners": fo.learners,
        "compression": compression,
        "interval_seconds": interval,
        "changes": len(chosen),
        "seen": len(delays),
        "never_seen": len(chosen) - len(delays),
        "syncs_asked": len(statuses),
        "syncs_refused_409": statuses.count(409),
        "delays_seconds": [round(d, 2) for d in delays],
    }
    if delays:
        out["median_seconds"] = statistics.median(delays)
        out["worst_seconds"] = delays[-1]
        out["median_real_minutes"] = out["median_seconds"] * compression / 60
        out["worst_real_minutes"] = out["worst_seconds"] * compression / 60
    print(
        f"[{kind}] freshness: {len(delays)} of {len(chosen)} changes seen; median "
        f"{out.get('median_seconds', float('nan')):.1f} s, worst "
        f"{out.get('worst_seconds', float('nan')):.1f} s (interval {interval:.0f} s)"
    )
    return out


async def bench_freshness(admin_url: str, kinds: list[str], fo: FreshnessOptions) -> dict[str, Any]:
    """Cost at every size and freshness, for each OneFile kind."""
    res: dict[str, Any] = {}
    for kind in kinds:
        costs = [await cost(kind, admin_url, size, 0.005) for size in fo.sizes]
        res[kind] = {
            "cost": [{**c, "per_day": per_day(c)} for c in costs],
            "freshness": await freshness(kind, admin_url, fo),
        }
    return res


def table(res: dict[str, Any], kinds: list[str]) -> list[str]:
    """The README's table (markdown)."""
    lines = [
        "| OneFile | learners | cadence | calls a day | share of 432,000 |",
        "|---|---|---|---|---|",
    ]
    for kind in kinds:
        for c in res[kind]["cost"]:
            for cadence, v in c["per_day"].items():
                lines.append(
                    f"| {kind} | {c['learners']:,} | {cadence} | {v['calls']:,} "
                    f"| {v['share']:.2%} |"
                )
    lines += [
        "",
        "| OneFile | one full sync, calls | one incremental sync (unchanged), calls |",
        "|---|---|---|",
    ]
    for kind in kinds:
        for c in res[kind]["cost"]:
            lines.append(
                f"| {kind}, {c['learners']:,} learners | {c['full_calls']:,} "
                f"| {c['incremental_calls']:,} |"
            )
    lines += [
        "",
        "| OneFile | changes seen | median delay | worst delay | interval |",
        "|---|---|---|---|---|",
    ]
    for kind in kinds:
        f = res[kind]["freshness"]
        if "median_seconds" in f:
            lines.append(
                f"| {kind} | {f['seen']} of {f['changes']} | {f['median_seconds']:.1f} s "
                f"(≈ {f['median_real_minutes']:.1f} min real) | {f['worst_seconds']:.1f} s "
                f"(≈ {f['worst_real_minutes']:.1f} min real) | {f['interval_seconds']:.0f} s "
                f"(15 min ÷ {f['compression']:.0f}) |"
            )
        else:
            lines.append(f"| {kind} | 0 of {f['changes']} | — | — | — |")
    return lines


def main(admin_url: str, kinds: list[str], fo: FreshnessOptions | None = None) -> int:
    """Run it all, print the tables, keep the detail in .bench/freshness.json."""
    fo = fo or FreshnessOptions()
    load_before = os.getloadavg()
    res = asyncio.run(bench_freshness(admin_url, kinds, fo))
    res["load_before"], res["load_after"] = load_before, os.getloadavg()
    res["options"] = asdict(fo)
    (OUT / "freshness.json").write_text(json.dumps(res, indent=2, default=str))
    print("\n" + "\n".join(table(res, kinds)))
    b, a = res["load_before"], res["load_after"]
    print(
        f"\nload average (1, 5, 15 min): before {b[0]:.2f} {b[1]:.2f} {b[2]:.2f}, "
        f"after {a[0]:.2f} {a[1]:.2f} {a[2]:.2f} on {os.cpu_count()} cores"
    )
    print(f"results in {OUT / 'freshness.json'}")
    seen_all = all(res[k]["freshness"]["never_seen"] == 0 for k in kinds)
    return 0 if seen_all else 1
