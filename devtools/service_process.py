"""The service as deployed, in a subprocess: `uvicorn app.main:app`, shared by bench and chaos.

Start (on a free loopback port, waiting until /health says 200 — and, when asked, that this
process leads), stop (SIGTERM: the lifespan's orderly shutdown), kill (SIGKILL: no shutdown, no
lease released), freeze and thaw (SIGSTOP/SIGCONT: a process that stops answering but still
holds its connections). Its CPU time and peak RSS are watched for the benchmark's figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
# The throw-away local service's API token (loopback only).
SERVICE_TOKEN = "tooling-service-token-0123456789"  # noqa: S105


class ServiceProcess:
    """One service process, its CPU time and peak RSS watched."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str, log: Path) -> None:
        self.proc = proc
        self.url = url
        self.log = log
        self.ps = psutil.Process(proc.pid)
        self.peak_rss = 0
        self._watch = asyncio.create_task(self._sample())

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def _sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            while True:
                self.peak_rss = max(self.peak_rss, self.ps.memory_info().rss)
                await asyncio.sleep(0.05)

    def cpu(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    async def stop(self) -> None:
        """SIGTERM and wait: the service finishes or releases the work in hand."""
        self._watch.cancel()
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGCONT)  # a frozen process cannot act on SIGTERM
            self.proc.terminate()
        await asyncio.wait_for(self.proc.wait(), 60)

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no lease released, connections just vanish."""
        self._watch.cancel()
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    def freeze(self) -> None:
        """SIGSTOP: the process stops answering, its connections and leases stay open."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGCONT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(
    db_url: str,
    onefile_url: str,
    *,
    onefile_token: str,
    rate: int,
    period: float,
    organisation_id: int = 1,
    classroom_id: int = 1,
) -> dict[str, str]:
    """The service's settings (docs/service.md) for a local run against `onefile_url`; this
    machine's own ONEFILE_* and SERVICE_* variables are left out so none can leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONEFILE_", "SERVICE_"))}
    env.update(
        DATABASE_URL=db_url,
        ONEFILE_BASE_URL=onefile_url,
        ONEFILE_API_TOKEN=onefile_token,
        ONEFILE_ORGANISATION_ID=str(organisation_id),
        ONEFILE_CLASSROOM_ID=str(classroom_id),
        ONEFILE_RATE_LIMIT=str(rate),
        ONEFILE_RATE_PERIOD=str(period),
        SERVICE_API_TOKEN=SERVICE_TOKEN,
        LOG_LEVEL="WARNING",
    )
    return env


async def spawn_service(env: Mapping[str, str], log: Path) -> ServiceProcess:
    """`uvicorn app.main:app` on a free loopback port, its output in `log`; not waited for."""
    port = free_port()
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
            "--port", str(port), "--no-access-log", cwd=ROOT, env=dict(env),
            stdout=sink, stderr=sink,
        )  # fmt: skip
    return ServiceProcess(proc, f"http://127.0.0.1:{port}", log)


async def start_service(
    env: Mapping[str, str],
    log: Path,
    *,
    want_leader: bool = True,
    timeout: float = 60,  # noqa: ASYNC109
) -> ServiceProcess:
    """Spawn the service and wait for /health 200 (and the lead, if asked); killed on failure."""
    svc = await spawn_service(env, log)
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=svc.url, timeout=5) as probe:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError, ValueError):
                r = await probe.get("/health")
                if r.status_code == 200 and (r.json().get("leader") or not want_leader):
                    return svc
            if svc.proc.returncode is not None:
                raise RuntimeError(f"the service exited; see {log}")
            await asyncio.sleep(0.1)
    await svc.kill()
    raise RuntimeError(f"the service did not become ready in {timeout} s; see {log}")


@contextlib.asynccontextmanager
async def service_process(
    env: Mapping[str, str],
    log: Path,
    *,
    want_leader: bool = True,
    timeout: float = 60,  # noqa: ASYNC109 - a deadline for start-up alone, not the block
) -> AsyncIterator[ServiceProcess]:
    """A started service for the block's length, stopped (SIGTERM) after it."""
    svc = await start_service(env, log, want_leader=want_leader, timeout=timeout)
    try:
        yield svc
    finally:
        await svc.stop()
