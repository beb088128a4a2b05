"""The job handlers by kind. Enrolment and the daily exchange register theirs here."""

from __future__ import annotations

from app.exchange.daily import make_refresh_handler, make_sync_handler
from app.exchange.deps import ExchangeDeps
from app.exchange.enrol import make_enrol_handler
from app.jobs.worker import Handler


def make_handlers(deps: ExchangeDeps) -> dict[str, Handler]:
    """Kinds without a handler end `failed` with "not implemented" (see jobs/worker.py)."""
    handlers: dict[str, Handler] = {}
    handlers["enrol"] = make_enrol_handler(deps)
    handlers["refresh"] = make_refresh_handler(deps)
    handlers["sync"] = make_sync_handler(deps)
    return handlers
