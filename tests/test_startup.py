"""`uvicorn app.main:app` as an operator runs it: refusals at start-up, health, SIGTERM.

Each refusal is checked on the process's whole output: a non-zero exit, JSON on every line
(uvicorn's first ones included), no traceback, exactly one error line that names the setting
to fix, and no password or token anywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from app.db.target import parse_target
from devtools.demo.picsweb_schema import create_picsweb_tables
from devtools.loopback import fresh_database
from devtools.simulator import SimulatorState
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


SERVE = (sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1")


async def start(env: dict[str, str], port: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *SERVE, "--port", str(port), cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


PASSWORD = "pw-Secret-4711"  # in every DATABASE_URL below; trust auth ignores it


def with_password(url: str) -> str:
    p = urlsplit(url)
    auth, _, hosts = p.netloc.rpartition("@")
    user = auth.partition(":")[0] or "postgres"
    return urlunsplit((p.scheme, f"{user}:{PASSWORD}@{hosts}", p.path, p.query, p.fragment))


async def run_to_exit(env: dict[str, str]) -> tuple[int, str]:
    """Start the service, wait for it to give up; its exit status and whole output."""
    proc = await asyncio.create_subprocess_exec(
        *SERVE, "--port", str(free_port()), cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def assert_one_clean_error(code: int, output: str, *expected: str) -> None:
    """Exit non-zero; every line JSON; no traceback; one error line naming what to fix."""
    assert code != 0, output
    assert "Traceback" not in output, output
    records = [json.loads(line) for line in output.splitlines()]  # fails on a non-JSON line
    assert records[0]["logger"] == "uvicorn.error", "uvicorn's own first line is JSON too"
    errors = [r for r in records if r["level"] in ("error", "critical")]
    assert len(errors) == 1, output
    for text in expected:
        assert text in errors[0]["event"], (text, errors[0])
    for secret in (PASSWORD, "sim-token", "startup-test-token"):
        assert secret not in output


@dataclass
class Db:
    """A database of this test's own on the test server, dropped at the end."""

    admin: str
    name: str

    @property
    def url(self) -> str:
        return with_password(pg.with_database(self.admin, self.name))

    @property
    def where(self) -> str:
        return parse_target(self.admin).where

    async def execute(self, statement: str) -> None:
        conn = await asyncpg.connect(pg.with_database(self.admin, self.name))
        try:
            await conn.execute(statement)
        finally:
            await conn.close()


@pytest.fixture
async def own_db(pg_admin: str) -> AsyncIterator[Db]:
    name = f"onefile_sync_startup_{uuid.uuid4().hex[:8]}"
    await fresh_database(pg_admin, name)
    try:
        yield Db(pg_admin, name)
    finally:
        await pg.drop(pg_admin, name)


async def test_configuration_errors_are_all_named_in_one_line(db_url: str) -> None:
    env = service_env(with_password(db_url), "http://127.0.0.1:9/api/v2.1/")
    del env["SERVICE_API_TOKEN"], env["DATABASE_URL"]
    env["ONEFILE_RATE_LIMIT"] = "lots"
    code, output = await run_to_exit(env)
    assert_one_clean_error(
        code, output, "DATABASE_URL: required", "ONEFILE_RATE_LIMIT", "SERVICE_API_TOKEN: required"
    )
    assert "lots" not in output


async def test_a_malformed_database_url_is_named_not_shown() -> None:
    url = f"postgresql://admin:{PASSWORD}@[bad"
    code, output = await run_to_exit(service_env(url, "http://127.0.0.1:9/api/v2.1/"))
    assert_one_clean_error(code, output, "DATABASE_URL: is not a valid URL")


async def test_an_unreachable_database_names_host_and_port() -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/picsweb"
    code, output = await run_to_exit(service_env(url, "http://127.0.0.1:9/api/v2.1/"))
    assert_one_clean_error(code, output, f"DATABASE_URL: cannot connect to 127.0.0.1:{port}")


async def test_a_missing_database_is_named_with_its_server(pg_admin: str) -> None:
    db = Db(pg_admin, f"onefile_sync_absent_{uuid.uuid4().hex[:8]}")  # never created
    code, output = await run_to_exit(service_env(db.url, "http://127.0.0.1:9/api/v2.1/"))
    assert_one_clean_error(
        code, output, f'DATABASE_URL: database "{db.name}" does not exist on {db.where}'
    )


async def test_missing_picsweb_tables(own_db: Db) -> None:
    code, output = await run_to_exit(service_env(own_db.url, "http://127.0.0.1:9/api/v2.1/"))
    assert_one_clean_error(
        code, output, f'DATABASE_URL: database "{own_db.name}"', "PICSWeb tables missing"
    )


async def test_a_migration_that_fails(own_db: Db) -> None:
    conn = await asyncpg.connect(pg.with_database(own_db.admin, own_db.name))
    try:
        await create_picsweb_tables(conn)
    finally:
        await conn.close()
    # Something already holds the name the first migration creates.
    await own_db.execute("CREATE SCHEMA onefile_sync; CREATE TABLE onefile_sync.jobs (x int)")
    code, output = await run_to_exit(service_env(own_db.url, "http://127.0.0.1:9/api/v2.1/"))
    assert_one_clean_error(
        code, output, "DATABASE_URL", "migration 0001_jobs.sql failed: DuplicateTableError"
    )


async def test_a_migration_changed_after_it_was_applied(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("UPDATE onefile_sync.schema_migrations SET checksum = 'x'")
    finally:
        await conn.close()
    env = service_env(with_password(db_url), "http://127.0.0.1:9/api/v2.1/")
    code, output = await run_to_exit(env)
    assert_one_clean_error(code, output, "DATABASE_URL", "was changed after it was applied")


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
    records = [json.loads(line) for line in err.decode().splitlines()]  # every line is JSON
    assert records[0]["event"].startswith("Started server process")
    assert any(r["event"] == "service stopped" for r in records)
    assert not [r for r in records if r["level"] == "error"]
    assert "startup-test-token" not in err.decode()
