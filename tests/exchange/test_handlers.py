"""What a job means for OneFile, set by the exchange's handler wrapper (the queue knows none)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import cast

import pytest

from app.exchange.handlers import onefile_job
from app.exchange.learner_locks import LearnerLocks
from app.jobs.models import Job, JobKind, Outcome
from app.jobs.worker import JobContext
from app.onefile.errors import OneFileBadRequest
from app.onefile.quota import BATCH, INTERACTIVE, call_priority


def job(kind: JobKind) -> Job:
    return Job(
        id=1, kind=kind, status="running", priority=0, learner_id=None, params={},
        progress_done=0, progress_total=None, result=None, error=None, attempts=1,
        created_at=dt.datetime.now(dt.UTC), started_at=None, finished_at=None,
    )  # fmt: skip


NO_CONTEXT = cast(JobContext, None)  # the wrapper hands it on untouched


@pytest.mark.parametrize(
    ("kind", "priority"), [("enrol", INTERACTIVE), ("refresh", INTERACTIVE), ("sync", BATCH)]
)
async def test_a_jobs_onefile_calls_take_its_priority(kind: JobKind, priority: int) -> None:
    seen: list[int] = []

    async def handler(j: Job, ctx: JobContext) -> Outcome:
        seen.append(call_priority.get())
        return Outcome("succeeded")

    call_priority.set(-1)  # whatever the task had before
    assert await onefile_job(handler)(job(kind), NO_CONTEXT) == Outcome("succeeded")
    assert seen == [priority]


async def test_a_onefile_error_fails_the_job_with_onefiles_message() -> None:
    async def handler(j: Job, ctx: JobContext) -> Outcome:
        raise OneFileBadRequest("ClassroomID 99 is unknown", route="POST User", status=400)

    outcome = await onefile_job(handler)(job("enrol"), NO_CONTEXT)
    assert outcome.status == "failed"
    assert outcome.error == "OneFile POST User (400): ClassroomID 99 is unknown"


async def test_learner_locks_let_one_job_at_a_time_exchange_a_learner() -> None:
    """The refresh and sync handlers share these (make_handlers): the second holder of a
    learner waits for the first; another learner does not."""
    locks = LearnerLocks()
    order: list[str] = []
    first_in = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with locks.hold(7):
            order.append("first in")
            first_in.set()
            await release.wait()
            order.append("first out")

    async def second() -> None:
        await first_in.wait()
        async with locks.hold(7):
            order.append("second in")

    async def other() -> None:
        await first_in.wait()
        async with locks.hold(8):
            order.append("other in")
        release.set()

    await asyncio.gather(first(), second(), other())
    assert order == ["first in", "other in", "first out", "second in"]
