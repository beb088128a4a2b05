"""The job handlers by kind, given to the worker pool by the lifespan (app/main.py).

The queue (app/jobs/) knows nothing of OneFile: what a job means for OneFile is set here — its
calls' place in the quota (an enrolment or a refresh jumps the batch sync) and a OneFile error
that escapes a handler ending the job `failed` with OneFile's (redacted) message.
"""

from __future__ import annotations

from app.exchange.daily import make_refresh_handler, make_sync_handler
from app.exchange.deps import ExchangeDeps
from app.exchange.enrol import make_enrol_handler
from app.exchange.learner_locks import LearnerLocks
from app.jobs.models import PRIORITY_OF, Job, Outcome
from app.jobs.worker import Handler, JobContext
from app.onefile.errors import OneFileError
from app.onefile.quota import call_priority


def onefile_job(handler: Handler) -> Handler:
    """`handler` with its OneFile calls at the job's priority and OneFile errors as failures."""

    async def run(job: Job, ctx: JobContext) -> Outcome:
        call_priority.set(PRIORITY_OF[job.kind])  # this task's calls only (a context var)
        try:
            return await handler(job, ctx)
        except OneFileError as exc:
            return Outcome("failed", error=str(exc))

    return run


def make_handlers(deps: ExchangeDeps) -> dict[str, Handler]:
    """A handler for every job kind (the worker pool refuses to start without one); the
    refresh and the sync share their learner locks."""
    locks = LearnerLocks()
    return {
        "enrol": onefile_job(make_enrol_handler(deps)),
        "refresh": onefile_job(make_refresh_handler(deps, locks)),
        "sync": onefile_job(make_sync_handler(deps, locks)),
    }
