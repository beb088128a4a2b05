"""`uvicorn app.main:app` as an operator runs it: refusals at start-up, health, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import httpx

from app.onefile.simulator import SimulatorState
from tests import pg

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(db_url: str, onefile_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONEFILE_", "SERVICE_"))}
    env.update(
        DATABASE_URL=db_url,
        ONEFILE_BASE_URL=onefile_url,
        ONEFILE_API_TOKEN="sim-token",
        ONEFILE_ORGANISATION_ID="1",
        ONEFILE_CLASSROOM_ID="1",
        SERVICE_API_TOKEN="startup-test-token-123456",
    )
    env.update(extra)
    return env


async def start(env: dict[str, str], port: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "app.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_refuses_to_start_without_service_token(
    db_url: str, simulator: tuple[str, SimulatorState]
) -> None:
    env = service_env(db_url, simulator[0])
    del env["SERVICE_API_TOKEN"]
    proc = await start(env, free_port())
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode != 0
    text = err.decode()
    assert "SERVICE_API_TOKEN" in text
    assert "sim-token" not in text


async def test_refuses_to_start_without_picsweb_tables(
    pg_admin: str, simulator: tuple[str, SimulatorState]
) -> None:
    conn_name = f"onefile_sync_empty_{free_port()}"
    import asyncpg

    admin = await asyncpg.connect(pg_admin)
    await admin.execute(f'CREATE DATABASE "{conn_name}"')
    await admin.close()
    try:
        env = service_env(pg.with_database(pg_admin, conn_name), simulator[0])
        proc = await start(env, free_port())
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode != 0
        assert "PICSWeb tables missing" in err.decode()
    finally:
        await pg.drop(pg_admin, conn_name)


async def test_starts_serves_health_and_stops_cleanly_on_sigterm(
    db_url: str, simulator: tuple[str, SimulatorState]
) -> None:
    port = free_port()
    proc = await start(service_env(db_url, simulator[0]), port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(100):
                try:
                    r = await client.get("/health")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            assert r.status_code == 200
            r = await client.post(
                "/sync", headers={"Authorization": "Bearer startup-test-token-123456"}
            )
            assert r.status_code == 202
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    # uvicorn re-raises the signal it handled once shutdown is complete
    assert proc.returncode in (0, -signal.SIGTERM)
    lines = err.decode().splitlines()
    assert any('"event": "service stopped"' in line for line in lines)
    assert "startup-test-token" not in err.decode()
