"""The FastAPI app and its lifespan. `uvicorn app.main:app` starts the service.

The lifespan builds, in order: settings, logging, the asyncpg pool (then checks PICSWeb's
tables and migrates our own schema), the quota, the OneFile client, the job store and the
leader that runs the worker pool. On shutdown (SIGTERM included) it tears them down in reverse:
the workers finish or release their jobs, then the client closes, then the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from app.api.document import install_document
from app.api.errors import install_error_handlers
from app.api.middleware import GuardBodyMiddleware, RequestLogMiddleware
from app.api.routes import router
from app.db.open import open_database
from app.exchange.deps import ExchangeDeps, utcnow
from app.exchange.handlers import make_handlers
from app.jobs.leader import Leader, LeaderTiming
from app.jobs.store import JobStore
from app.jobs.worker import PoolConfig, WorkerPool
from app.logs import configure_logging
from app.malloc import pin_mmap_threshold
from app.metrics import Metrics
from app.onefile.client import OneFileClient
from app.onefile.quota import Quota
from app.picsweb.lookup import PicswebLookup
from app.services import Services
from app.settings import Settings, load_settings
from app.startup import QuietLifespanFailures, explain_startup_failures
from app.store.history import HistoryStore
from app.store.service_store import ServiceStore

log = logging.getLogger("app")

DESCRIPTION = """Connects PICSWeb with OneFile: enrols learners (rules A1–A9) and runs the
daily exchange (rules B1–B10) under OneFile's rate limit. Every endpoint but `/health` and
`/metrics` needs `Authorization: Bearer <SERVICE_API_TOKEN>`. Work is queued as jobs: the POST
endpoints answer 202 with the job and a `Location: /jobs/{id}` to follow. Request bodies are
limited to 64 KiB (413) and may not contain NUL characters, raw or escaped (400)."""


def create_app(
    settings: Settings | None = None,
    *,
    onefile_transport: httpx.AsyncBaseTransport | None = None,
    run_workers: bool = True,
    configure_logs: bool = True,
    pool_config: PoolConfig | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> FastAPI:
    """Build the app; settings are read from the environment at start-up when not given.
    `clock` (tests) is the moment the exchange measures against (A8); the wall clock if None."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cfg = settings or load_settings()
        if configure_logs:
            configure_logging(cfg.log_level)
        # Without it, glibc's heap grows ~1 KB per learner with every full sweep (app/malloc.py).
        pin_mmap_threshold()
        token = cfg.service_api_token
        app.state.expected_token = None if token is None else token.get_secret_value().encode()
        metrics = Metrics()
        metrics.quota_limit.set(cfg.onefile_rate_limit / cfg.onefile_rate_period)
        owner = f"{socket.gethostname()}:{os.getpid()}"
        # Unique per process: a successor terminates a deposed leader's connections by it.
        app_name = f"onefile-sync {uuid.uuid4().hex[:12]}"
        pool = await open_database(
            cfg.dsn,
            size=cfg.db_pool_size,
            on_query=metrics.count_statement,
            application_name=app_name,
        )
        stop = asyncio.Event()
        leader_task: asyncio.Task[None] | None = None
        client: OneFileClient | None = None
        try:
            quota = Quota(
                cfg.onefile_rate_limit,
                cfg.onefile_rate_period,
                margin=cfg.onefile_rate_margin,
                on_wait=metrics.quota_wait.observe,
            )
            client = OneFileClient(
                base_url=str(cfg.onefile_base_url),
                api_token=cfg.onefile_api_token.get_secret_value(),
                quota=quota,
                centre=cfg.onefile_centre,
                page_size=cfg.onefile_page_size,
                aim_fields=cfg.aim_field_names,
                timeout=cfg.onefile_timeout,
                transport=onefile_transport,
                metrics=metrics,
            )
            store = JobStore(pool)
            deps = ExchangeDeps(
                pool=pool,
                onefile=client,
                organisation_id=cfg.onefile_organisation_id,
                classroom_id=cfg.onefile_classroom_id,
                visit_type_id=cfg.onefile_visit_type_id,
                learner_concurrency=cfg.learner_concurrency,
                full_sync_every_days=cfg.full_sync_every_days,
                history_retention_days=cfg.history_retention_days,
                metrics=metrics,
                now=clock or utcnow,
            )
            handlers = make_handlers(deps)
            pcfg = pool_config or PoolConfig(
                slots=cfg.worker_slots,
                lease_seconds=cfg.job_lease_seconds,
                max_attempts=cfg.job_max_attempts,
            )
            leader = Leader(
                dsn=cfg.dsn,
                make_pool=lambda epoch, fence: WorkerPool(
                    store=store,
                    handlers=handlers,
                    owner=owner,
                    config=pcfg,
                    epoch=epoch,
                    leader_fence=fence,
                    metrics=metrics,
                ),
                owner=owner,
                app_name=app_name,
                on_term=quota.assume_previous_caller,
                timing=LeaderTiming(cfg.leader_lease_seconds),
                metrics=metrics,
            )
            app.state.services = Services(
                settings=cfg,
                pool=pool,
                store=store,
                lookup=PicswebLookup(pool),
                service_store=ServiceStore(pool),
                history=HistoryStore(pool),
                quota=quota,
                onefile=client,
                metrics=metrics,
                leader=leader,
            )
            if run_workers:
                leader_task = asyncio.create_task(leader.run(stop), name="leader")
            log.info("service started")
            yield
        finally:
            stop.set()
            if leader_task is not None:
                with contextlib.suppress(Exception):
                    await leader_task
            if client is not None:
                await client.aclose()
            await pool.close()
            log.info("service stopped")

    app = FastAPI(
        title="onefile-sync",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=explain_startup_failures(lifespan),
    )
    install_error_handlers(app)
    app.include_router(router)
    install_document(app)
    app.add_middleware(GuardBodyMiddleware)
    app.add_middleware(RequestLogMiddleware)
    app.add_middleware(QuietLifespanFailures)
    return app


def __getattr__(name: str) -> FastAPI:
    """`app.main:app`, built when first asked for — by uvicorn, right after it configured its
    own logging and before its first line, so every line it logs is JSON. Importing this module
    (tests, `make openapi`) builds nothing and leaves logging alone."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    configure_logging()
    built = globals()["app"] = create_app()
    return built
