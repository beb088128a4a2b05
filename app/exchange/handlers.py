"""The job handlers by kind. Enrolment and the daily exchange register theirs here."""

from __future__ import annotations

from app.exchange.deps import ExchangeDeps
from app.jobs.worker import Handler


def make_handlers(deps: ExchangeDeps) -> dict[str, Handler]:
    """Kinds without a handler end `failed` with "not implemented" (see jobs/worker.py)."""
    del deps
    return {}
