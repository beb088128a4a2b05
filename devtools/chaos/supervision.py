"""Process supervision for the chaos runs: one service process kept running through SIGKILLs
and restarts, and API calls that ride out restarts and outages (devtools/service_process.py
starts, stops, kills and freezes the process itself)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from app.follow import FINAL
from devtools.chaos.faults import Chaos
from devtools.chaos.world import World
from devtools.service_process import (
    SERVICE_TOKEN,
    ServiceProcess,
    service_env,
    start_service,
)
from devtools.simulator.config import SIM_TOKEN


class Supervisor:
    """Keeps one service process running; `kill()` then `start()` is the crash."""

    def __init__(self, env: dict[str, str], logdir: Path, name: str = "service") -> None:
        self.env = env
        self.logdir = logdir
        self.name = name
        self.svc: ServiceProcess | None = None
        self.starts = 0
        self.pids: list[int] = []

    async def start(self, *, want_leader: bool = True) -> ServiceProcess:
        self.starts += 1
        log = self.logdir / f"{self.name}-{self.starts}.log"
        self.svc = await start_service(self.env, log, want_leader=want_leader)
        self.pids.append(self.svc.proc.pid)
        return self.svc

    async def kill(self) -> None:
        if self.svc is not None:
            svc, self.svc = self.svc, None
            await svc.kill()

    async def stop(self) -> None:
        if self.svc is not None:
            svc, self.svc = self.svc, None
            await svc.stop()

    async def request(
        self, method: str, path: str, *, deadline: float = 120, **kw: Any
    ) -> httpx.Response:
        """One API call; rides out restarts and outages (transport errors, 5xx) until `deadline`."""
        end = time.monotonic() + deadline
        while True:
            svc = self.svc
            if svc is not None:
                try:
                    async with httpx.AsyncClient(
                        base_url=svc.url,
                        headers={"Authorization": f"Bearer {SERVICE_TOKEN}"},
                        timeout=10,
                    ) as api:
                        r = await api.request(method, path, **kw)
                    if r.status_code < 500:
                        return r
                except httpx.TransportError:
                    pass
            if time.monotonic() > end:
                raise TimeoutError(f"{method} {path}: no answer in {deadline} s")
            await asyncio.sleep(0.2)

    async def job(self, job_id: int) -> dict[str, Any]:
        r = await self.request("GET", f"/jobs/{job_id}")
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    async def wait_jobs(
        self,
        ids: list[int],
        *,
        every: float = 0.25,
        timeout: float = 900,  # noqa: ASYNC109
    ) -> dict[int, dict[str, Any]]:
        end = time.monotonic() + timeout
        done: dict[int, dict[str, Any]] = {}
        while True:
            for jid in ids:
                if jid not in done:
                    job = await self.job(jid)
                    if job["status"] in FINAL:
                        done[jid] = job
            if len(done) == len(ids):
                return done
            if time.monotonic() > end:
                raise TimeoutError(f"jobs not finished after {timeout} s: {set(ids) - set(done)}")
            await asyncio.sleep(every)


# The quota's margin is an absolute allowance for jitter between our sends and OneFile's count,
# written as a fraction of the period (0.6 s at 1% of 60 s in production). Here the count is
# the simulator's, in this process, and on a loaded 2-core machine it is late too: arrivals
# lagged sends by up to 118 ms beside two CPU burners, and the simulator itself, starved,
# once went 0.64 s without reading a request and then stamped four within 0.5 ms (a bucket of
# two never sends that) — 51 calls in a 4.76-s window it had compressed (issue 13). The
# compressed worlds keep 1 s.
JITTER_ALLOWANCE = 1.0


def chaos_env(db_url: str, sim_url: str, world: World, chaos: Chaos) -> dict[str, str]:
    env = service_env(
        db_url, sim_url, onefile_token=SIM_TOKEN, rate=chaos.rate or world.rate, period=world.period
    )
    env.update(
        ONEFILE_RATE_MARGIN=str(max(0.01, JITTER_ALLOWANCE / world.period)),
        JOB_LEASE_SECONDS=str(chaos.lease),
        JOB_MAX_ATTEMPTS=str(chaos.max_attempts),
        LOG_LEVEL="INFO",
    )
    if chaos.onefile_timeout is not None:
        env["ONEFILE_TIMEOUT"] = str(chaos.onefile_timeout)
    return env
