"""Shared fixtures: a real Postgres per test, the OneFile simulator over HTTP, the service."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.db.pool import create_pool
from app.jobs.worker import PoolConfig
from app.main import create_app
from app.settings import Settings
from devtools.loopback import serve_loopback as serve_http
from devtools.simulator import SimulatorConfig, SimulatorState, create_simulator_app
from tests import pg

API_TOKEN = "test-service-token-0123456789"
SIM_TOKEN = "sim-token"


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[str]:
    with pg.admin_url() as url:
        yield url


@pytest.fixture(scope="session")
async def pg_template(pg_admin: str) -> AsyncIterator[str]:
    name = await pg.create_template(pg_admin)
    yield name
    await pg.drop(pg_admin, name)


@pytest.fixture
async def db_url(pg_admin: str, pg_template: str) -> AsyncIterator[str]:
    name = await pg.clone(pg_admin, pg_template)
    yield pg.with_database(pg_admin, name)
    await pg.drop(pg_admin, name)


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(db_url, size=4)
    yield p
    await p.close()


@pytest.fixture
def sim_config() -> SimulatorConfig:
    """A fast simulator; tests that need a tight quota or faults build their own."""
    return SimulatorConfig(rate_limit=100_000, rate_period=60.0, seed=7)


@pytest.fixture
async def simulator(sim_config: SimulatorConfig) -> AsyncIterator[tuple[str, SimulatorState]]:
    app = create_simulator_app(sim_config)
    async with serve_http(app) as url:
        yield f"{url}{sim_config.path_prefix}/", app.state.sim


def make_settings(db_url: str, onefile_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": SecretStr(db_url),
        "onefile_base_url": onefile_url,
        "onefile_api_token": SecretStr(SIM_TOKEN),
        "onefile_organisation_id": 1,
        "onefile_classroom_id": 1,
        "onefile_visit_type_id": 2,
        "onefile_rate_limit": 6000,
        "onefile_rate_period": 60.0,
        "service_api_token": SecretStr(API_TOKEN),
        "job_lease_seconds": 6.0,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Service:
    app: FastAPI
    api: httpx.AsyncClient
    settings: Settings


ServiceFactory = Callable[..., contextlib.AbstractAsyncContextManager[Service]]


@pytest.fixture
def service_factory(db_url: str, simulator: tuple[str, SimulatorState]) -> ServiceFactory:
    """Builds the real service (lifespan, workers) against this test's database and simulator."""

    @contextlib.asynccontextmanager
    async def factory(
        *,
        run_workers: bool = True,
        pool_config: PoolConfig | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        **overrides: Any,
    ) -> AsyncIterator[Service]:
        settings = make_settings(db_url, simulator[0], **overrides)
        app = create_app(
            settings,
            run_workers=run_workers,
            configure_logs=False,
            clock=clock,
            pool_config=pool_config
            or PoolConfig(slots=4, lease_seconds=6.0, poll_interval=0.2, shutdown_grace=2.0),
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://service",
                headers={"Authorization": f"Bearer {API_TOKEN}"},
            ) as api:
                yield Service(app, api, settings)

    return factory


@pytest.fixture
async def service(service_factory: ServiceFactory) -> AsyncIterator[Service]:
    async with service_factory() as svc:
        yield svc
