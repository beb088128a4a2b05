"""What breaks during a chaos scenario, and the tasks that break it: SIGKILLs with restarts,
429 bursts and expired sessions in the simulator, Postgres taken away behind a proxy."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from app.follow import FINAL
from devtools.chaos.checks import Result
from devtools.chaos.pgproxy import PgProxy
from devtools.chaos.world import Log

if TYPE_CHECKING:  # supervision imports Chaos from here; this module only names Supervisor
    from devtools.chaos.supervision import Supervisor


@dataclass
class Chaos:
    """What breaks during a scenario."""

    seed: int = 1
    kills_enrol: int = 0
    kills_sync: int = 0
    kill_delay: tuple[float, float] = (0.3, 3.0)  # seconds after the service leads
    faults: dict[str, Any] = field(default_factory=dict)  # simulator settings while it runs
    burst_429: int = 0  # times the simulator's limit drops to 1 call/s for `burst_seconds`
    burst_seconds: float = 3.0
    expire_sessions: int = 0  # times every OneFile session is expired mid-sync
    pg_outage: float = 0.0  # seconds the database is away during the sync
    onefile_timeout: float | None = None  # ONEFILE_TIMEOUT for the service
    lease: float = 3.0
    max_attempts: int = 50
    retry_sync: bool = False  # a `partial` first sync may be followed by one more
    # The OneFile quota (calls per world.period) for this run, when not the world's: a slower
    # quota stretches the work so that the kills land in the middle of it.
    rate: int | None = None

    @property
    def any(self) -> bool:
        return bool(
            self.kills_enrol or self.kills_sync or self.faults or self.burst_429
            or self.expire_sessions or self.pg_outage
        )  # fmt: skip


async def killer(
    sup: Supervisor,
    n: int,
    rng: random.Random,
    chaos: Chaos,
    phase: str,
    busy: Callable[[], Awaitable[bool]],
    result: Result,
    log: Log,
) -> None:
    for _ in range(n):
        await asyncio.sleep(rng.uniform(*chaos.kill_delay))
        if not await busy():
            return
        pid = sup.svc.proc.pid if sup.svc else None
        t0 = time.monotonic()
        await sup.kill()
        await sup.start()
        result.kills.append(
            {"phase": phase, "pid": pid, "restart_s": round(time.monotonic() - t0, 2)}
        )
        log(f"  kill {len(result.kills)} ({phase}): pid {pid} SIGKILLed, restarted")


async def onefile_trouble(
    ctl: httpx.AsyncClient,
    chaos: Chaos,
    rng: random.Random,
    busy: Callable[[], Awaitable[bool]],
    result: Result,
) -> None:
    """429 bursts (the simulator's limit drops for a while, as when another system burns the
    same token) and sessions expiring, at seeded moments while the sync runs."""
    events = ["burst"] * chaos.burst_429 + ["expire"] * chaos.expire_sessions
    rng.shuffle(events)
    done: Counter[str] = Counter()
    for ev in events:
        await asyncio.sleep(rng.uniform(0.5, 2.0))
        if not await busy():
            break
        if ev == "burst":
            before = (await ctl.get("/_sim/config")).json()
            await ctl.post("/_sim/config", json={"rate_limit": 1, "rate_period": 1.0})
            await asyncio.sleep(chaos.burst_seconds)
            await ctl.post(
                "/_sim/config",
                json={"rate_limit": before["rate_limit"], "rate_period": before["rate_period"]},
            )
        else:
            await ctl.post("/_sim/expire-sessions")
        done[ev] += 1
    result.extra["bursts_429"] = done["burst"]
    result.extra["sessions_expired"] = done["expire"]


async def outage(
    sup: Supervisor, proxy: PgProxy, chaos: Chaos, sync_id: int, result: Result, log: Log
) -> None:
    """Wait until the sync is under way, take the database away, watch /health, bring it back."""
    while True:
        job = await sup.job(sync_id)
        if job["status"] in FINAL:
            result.problems.append("the sync finished before the outage could start")
            return
        if job["status"] == "running" and job["progress"]["done"] > 0:
            break
        await asyncio.sleep(0.1)
    assert sup.svc is not None
    pid = sup.svc.proc.pid
    t0 = time.monotonic()
    await proxy.cut()
    log(f"  postgres away (cut {proxy.cut_connections} connections) at {job['progress']}")
    async with httpx.AsyncClient(base_url=sup.svc.url, timeout=5) as plain:

        async def probe() -> int:
            try:
                return (await plain.get("/health")).status_code
            except httpx.TransportError:
                return 0

        while time.monotonic() - t0 < chaos.pg_outage:
            result.health.append((round(time.monotonic() - t0, 2), await probe()))
            await asyncio.sleep(0.25)
        await proxy.restore()
        t1 = time.monotonic()
        log("  postgres back")
        while True:
            status = await probe()
            result.health.append((round(time.monotonic() - t0, 2), status))
            if status == 200:
                break
            if time.monotonic() - t1 > 30:
                result.problems.append("/health not 200 within 30 s of the database's return")
                break
            await asyncio.sleep(0.25)
    down = [s for t, s in result.health if t < chaos.pg_outage and t > 2.5]
    result.extra["health_during_outage"] = dict(
        Counter(s for t, s in result.health if t < chaos.pg_outage)
    )
    result.extra["health_200_after_s"] = round(time.monotonic() - t1, 2)
    if not down or any(s != 503 for s in down):
        result.problems.append(f"/health during the outage: {down} (want only 503)")
    if sup.svc is None or sup.svc.proc.pid != pid or sup.svc.proc.returncode is not None:
        result.problems.append("the service was restarted or died during the outage")
