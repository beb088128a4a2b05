"""The worker pool: claims jobs under a lease, runs their handler, finishes or releases them.

A job is claimed with a lease that a heartbeat keeps extending. When the process dies the lease
runs out and another worker (here or in another replica) claims the job again; handlers are
written to resume, so the rerun finishes what was started and duplicates nothing. On shutdown
the jobs in hand get a grace period, then are cancelled and handed straight back to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import asyncpg

from app.jobs.models import PRIORITY_OF, Job, Outcome
from app.jobs.store import JobStore
from app.logs import job_id_var
from app.metrics import Metrics
from app.onefile.errors import OneFileError
from app.onefile.quota import call_priority

log = logging.getLogger("app.jobs")

# Errors of our own infrastructure: the job is not at fault, so it goes back to the queue.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
)


class JobContext:
    """What a handler may do with its job: report progress and per-learner failures."""

    PROGRESS_EVERY = 0.5  # seconds between progress writes; the last one is always written

    def __init__(self, job: Job, store: JobStore, owner: str, metrics: Metrics | None) -> None:
        self.job = job
        self._store = store
        self._owner = owner
        self._metrics = metrics
        self._last_progress = 0.0

    async def progress(self, done: int, total: int | None, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_progress >= self.PROGRESS_EVERY:
            self._last_progress = now
            await self._store.progress(self.job.id, self._owner, done, total)

    async def fail_learner(self, learner_id: int, reason: str) -> None:
        await self._store.add_failure(self.job.id, learner_id, reason)
        if self._metrics is not None:
            self._metrics.learners_exchanged.labels(self.job.kind, "failed").inc()

    async def learner_ok(self, learner_id: int, *, had_failed: bool = False) -> None:
        """A learner went through; clears a failure recorded by an earlier attempt of this job."""
        if had_failed:
            await self._store.clear_failure(self.job.id, learner_id)
        if self._metrics is not None:
            self._metrics.learners_exchanged.labels(self.job.kind, "ok").inc()


Handler = Callable[[Job, JobContext], Awaitable[Outcome]]


@dataclass(frozen=True)
class PoolConfig:
    slots: int = 4
    lease_seconds: float = 30.0
    max_attempts: int = 5
    poll_interval: float = 1.0
    shutdown_grace: float = 10.0


class WorkerPool:
    """Runs up to `slots` jobs at once; interactive ones are claimed first (see jobs.sql)."""

    def __init__(
        self,
        *,
        store: JobStore,
        handlers: Mapping[str, Handler],
        owner: str,
        config: PoolConfig,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._handlers = handlers
        self._owner = owner
        self._cfg = config
        self._metrics = metrics
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self.wake = asyncio.Event()

    @property
    def running_jobs(self) -> list[int]:
        return list(self._tasks)

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and run jobs until `stop` is set; then finish or release the work in hand."""
        try:
            while not stop.is_set():
                if len(self._tasks) < self._cfg.slots:
                    job = await self._store.claim(self._owner, self._cfg.lease_seconds)
                    if job is not None:
                        task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
                        self._tasks[job.id] = task
                        task.add_done_callback(self._done)
                        continue
                self.wake.clear()
                waiters = [asyncio.create_task(self.wake.wait()), asyncio.create_task(stop.wait())]
                try:
                    await asyncio.wait(
                        waiters,
                        timeout=self._cfg.poll_interval,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    for w in waiters:
                        w.cancel()
        finally:
            await self._drain()

    def abort(self) -> None:
        """Stop every job now (leadership lost); each is released or its lease runs out."""
        for task in self._tasks.values():
            task.cancel()

    def _done(self, task: asyncio.Task[None]) -> None:
        for job_id, t in list(self._tasks.items()):
            if t is task:
                del self._tasks[job_id]
        self.wake.set()

    async def _drain(self) -> None:
        if not self._tasks:
            return
        tasks = list(self._tasks.values())
        _, pending = await asyncio.wait(tasks, timeout=self._cfg.shutdown_grace)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _run(self, job: Job) -> None:
        call_priority.set(PRIORITY_OF[job.kind])  # this task's OneFile calls jump the batch
        job_id_var.set(job.id)
        started = time.monotonic()
        log.info("job started", extra={"job_id": job.id, "kind": job.kind, "attempt": job.attempts})
        if job.attempts > self._cfg.max_attempts:
            await self._finish(
                job,
                Outcome(
                    "failed", error=f"gave up: the job was interrupted {job.attempts - 1} times"
                ),
                started,
            )
            return
        handler = self._handlers.get(job.kind)
        ctx = JobContext(job, self._store, self._owner, self._metrics)
        heartbeat = asyncio.create_task(self._heartbeat(job, asyncio.current_task()))
        try:
            if handler is None:
                outcome = Outcome("failed", error=f"{job.kind} jobs are not implemented yet")
            else:
                outcome = await handler(job, ctx)
        except asyncio.CancelledError:
            heartbeat.cancel()
            await self._release(job)
            raise
        except INFRASTRUCTURE_ERRORS as exc:
            heartbeat.cancel()
            log.warning(
                "job interrupted by an infrastructure error; it will run again",
                extra={"job_id": job.id, "error_type": type(exc).__name__},
            )
            await self._release(job)
            return
        except OneFileError as exc:
            outcome = Outcome("failed", error=str(exc))
        except Exception as exc:
            log.exception("job handler crashed", extra={"job_id": job.id, "kind": job.kind})
            outcome = Outcome("failed", error=f"internal error ({type(exc).__name__})")
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        await self._finish(job, outcome, started)

    async def _finish(self, job: Job, outcome: Outcome, started: float) -> None:
        done = await self._store.finish(
            job.id, self._owner, outcome.status, outcome.result, outcome.error
        )
        duration = round(time.monotonic() - started, 3)
        if done is None:
            log.warning("job lease lost before it finished", extra={"job_id": job.id})
            return
        if self._metrics is not None:
            self._metrics.jobs_finished.labels(job.kind, outcome.status).inc()
        log.info(
            "job finished",
            extra={
                "job_id": job.id,
                "kind": job.kind,
                "status": outcome.status,
                "duration_s": duration,
            },
        )

    async def _release(self, job: Job) -> None:
        with contextlib.suppress(*INFRASTRUCTURE_ERRORS):
            await asyncio.shield(self._store.release(job.id, self._owner))
        log.info("job released to the queue", extra={"job_id": job.id})

    async def _heartbeat(self, job: Job, runner: asyncio.Task[None] | None) -> None:
        interval = self._cfg.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                ours = await self._store.heartbeat(job.id, self._owner, self._cfg.lease_seconds)
            except INFRASTRUCTURE_ERRORS:
                continue  # the lease is long enough to ride out a short outage
            if not ours and runner is not None:
                log.warning("job lease taken over; stopping", extra={"job_id": job.id})
                runner.cancel()
                return
