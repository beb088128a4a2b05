"""The long-lived parts the lifespan builds, bundled for the endpoints."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from app.jobs.leader import Leader
from app.jobs.store import JobStore
from app.metrics import Metrics
from app.onefile.client import OneFileClient
from app.onefile.quota import Quota
from app.picsweb.lookup import PicswebLookup
from app.settings import Settings
from app.store.history import HistoryStore
from app.store.service_store import ServiceStore


@dataclass
class Services:
    settings: Settings
    pool: asyncpg.Pool
    store: JobStore
    lookup: PicswebLookup
    service_store: ServiceStore
    history: HistoryStore
    quota: Quota
    onefile: OneFileClient
    metrics: Metrics
    leader: Leader | None
