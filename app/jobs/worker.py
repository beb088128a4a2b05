"""The worker pool: claims jobs under a lease, runs their handler, finishes or releases them.

A job is claimed with a lease that a heartbeat keeps extending, and each claim gets a token of
its own (`jobs.claim`): the heartbeat, progress, failures, finish and release name it, and so
does every write the handler makes (app/fencing.py), so a runner whose claim was taken back
changes nothing. `attempts` could not be the token: a release gives an attempt back.

A runner also fences itself by its own clock (`JobFence`): `lease − lease/5` after the send of
its last confirmed heartbeat it stops before its next OneFile call or write, whatever it was
doing — frozen for a minute, it wakes to find its lease gone and raises `LeaseLost`; the job is
neither failed nor finished, and whoever claims it next carries on. Before this fence a runner
that woke after its lease ran out claimed the same job again from its own pool and the two ran
side by side (issue 13: the same owner, so the heartbeat could not tell).

When a process dies the job goes back to the queue when the next leader takes over (at once:
app/jobs/leader.py), or when its lease runs out; handlers are written to resume, so the rerun
finishes what was started and duplicates nothing. On shutdown the jobs in hand get a grace
period, then are cancelled and handed straight back to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import get_args

import asyncpg

from app.db.pool import Conn
from app.fencing import ClockFence, Deadline, LeaseLost, current_fence
from app.jobs.models import Job, JobKind, Outcome
from app.jobs.store import JobStore
from app.logs import job_id_var
from app.metrics import Metrics

log = logging.getLogger("app.jobs")

# Errors of our own infrastructure: the job is not at fault, so it goes back to the queue.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
)


class JobFence:
    """A claim's fence: the leader's, then the claim's own lease by the local clock, then (for
    writes) its token in the database. Implements app/fencing.py's `Fence`."""

    def __init__(
        self, job: Job, claim: int, deadline: Deadline, store: JobStore, leader: ClockFence | None
    ) -> None:
        self.job_id = job.id
        self.claim = claim
        self.deadline = deadline
        self._store = store
        self._leader = leader

    def check(self) -> None:
        if self._leader is not None:
            self._leader.check()
        if self.deadline.passed:
            raise LeaseLost(f"the claim of job {self.job_id} has passed")

    async def guard(self, conn: Conn) -> None:
        self.check()
        if not await self._store.holds(conn, self.job_id, self.claim):
            self.lost()

    def lost(self) -> None:
        """The database says the claim is gone: raise, and stay lost."""
        self.deadline.lose()
        raise LeaseLost(f"the claim of job {self.job_id} was taken back")


class JobContext:
    """What a handler may do with its job: report progress and per-learner failures.

    `fence` is the claim's fence; the worker also puts it in app/fencing.py's context variable,
    so OneFile calls and repository writes made for this job check it without being told.
    """

    PROGRESS_EVERY = 0.5  # seconds between progress writes; the last one is always written

    def __init__(self, job: Job, store: JobStore, fence: JobFence, metrics: Metrics | None) -> None:
        self.job = job
        self.fence = fence
        self._store = store
        self._metrics = metrics
        self._last_progress = 0.0

    async def progress(self, done: int, total: int | None, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_progress >= self.PROGRESS_EVERY:
            self._last_progress = now
            self.fence.check()
            if not await self._store.progress(self.job.id, self.fence.claim, done, total):
                self.fence.lost()

    async def fail_learner(self, learner_id: int, reason: str) -> None:
        self.fence.check()
        if not await self._store.add_failure(self.job.id, self.fence.claim, learner_id, reason):
            self.fence.lost()
        if self._metrics is not None:
            self._metrics.learners_exchanged.labels(self.job.kind, "failed").inc()

    async def learner_ok(self, learner_id: int, *, had_failed: bool = False) -> None:
        """A learner went through; clears a failure recorded by an earlier attempt of this job."""
        if had_failed:
            self.fence.check()
            if not await self._store.clear_failure(self.job.id, self.fence.claim, learner_id):
                self.fence.lost()
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
    """Runs up to `slots` jobs at once; interactive ones are claimed first (see jobs.sql).

    One pool per term of leadership: it claims under that term's `epoch`, and every job's
    fence includes the leader's (`leader_fence`).
    """

    def __init__(
        self,
        *,
        store: JobStore,
        handlers: Mapping[str, Handler],
        owner: str,
        config: PoolConfig,
        epoch: int,
        leader_fence: ClockFence | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        missing = sorted(set(get_args(JobKind)) - set(handlers))
        if missing:  # every kind the API queues has its handler: none waits for code to come
            raise ValueError(f"no handler for job kind(s): {', '.join(missing)}")
        self._store = store
        self._handlers = handlers
        self._owner = owner
        self._cfg = config
        self._epoch = epoch
        self._leader = leader_fence
        self._metrics = metrics
        self._clock = clock
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self.wake = asyncio.Event()

    @property
    def running_jobs(self) -> list[int]:
        return list(self._tasks)

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and run jobs until `stop` is set; then finish or release the work in hand."""
        try:
            while not stop.is_set():
                if len(self._tasks) < self._cfg.slots and self._may_claim():
                    sent = self._clock()
                    job = await self._store.claim(self._owner, self._cfg.lease_seconds, self._epoch)
                    if job is not None:
                        task = asyncio.create_task(self._run(job, sent), name=f"job-{job.id}")
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

    def _may_claim(self) -> bool:
        """Not once leadership has passed by this process's clock (the database agrees)."""
        if self._leader is None:
            return True
        try:
            self._leader.check()
        except LeaseLost:
            return False
        return True

    def abort(self) -> None:
        """Stop every job now (leadership lost); the next leader takes them back."""
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

    async def _run(self, job: Job, claim_sent: float) -> None:
        assert job.claim is not None  # a claimed job always has its token
        job_id_var.set(job.id)
        lease = self._cfg.lease_seconds
        deadline = Deadline(lease, lease / 5, sent_at=claim_sent, clock=self._clock)
        fence = JobFence(job, job.claim, deadline, self._store, self._leader)
        current_fence.set(fence)  # the handler's outside calls and writes check it
        started = time.monotonic()
        log.info("job started", extra={"job_id": job.id, "kind": job.kind, "attempt": job.attempts})
        if job.attempts > self._cfg.max_attempts:
            await self._finish(
                job,
                fence,
                Outcome(
                    "failed", error=f"gave up: the job was interrupted {job.attempts - 1} times"
                ),
                started,
            )
            return
        handler = self._handlers[job.kind]
        ctx = JobContext(job, self._store, fence, self._metrics)
        heartbeat = asyncio.create_task(self._heartbeat(job, fence, asyncio.current_task()))
        try:
            outcome = await handler(job, ctx)
        except asyncio.CancelledError:
            heartbeat.cancel()
            await self._release(job, fence)
            raise
        except LeaseLost:
            # Neither failed nor finished: the claim is someone else's (or will be once its
            # lease runs out in the database); nothing more is written in its name.
            log.warning(
                "job stopped: its claim has passed; its next holder carries on",
                extra={"job_id": job.id},
            )
            return
        except INFRASTRUCTURE_ERRORS as exc:
            log.warning(
                "job interrupted by an infrastructure error; it will run again",
                extra={"job_id": job.id, "error_type": type(exc).__name__},
            )
            await self._release(job, fence)
            return
        except Exception as exc:
            log.exception("job handler crashed", extra={"job_id": job.id, "kind": job.kind})
            outcome = Outcome("failed", error=f"internal error ({type(exc).__name__})")
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        await self._finish(job, fence, outcome, started)

    async def _finish(self, job: Job, fence: JobFence, outcome: Outcome, started: float) -> None:
        # The token decides, in the same statement: a claim taken back finishes nothing.
        done = await self._store.finish(
            job.id, fence.claim, outcome.status, outcome.result, outcome.error
        )
        duration = round(time.monotonic() - started, 3)
        if done is None:
            log.warning("job claim lost before it finished", extra={"job_id": job.id})
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

    async def _release(self, job: Job, fence: JobFence) -> None:
        with contextlib.suppress(*INFRASTRUCTURE_ERRORS):
            await asyncio.shield(self._store.release(job.id, fence.claim))
        log.info("job released to the queue", extra={"job_id": job.id})

    async def _heartbeat(
        self, job: Job, fence: JobFence, runner: asyncio.Task[None] | None
    ) -> None:
        lease = self._cfg.lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            sent = self._clock()
            try:
                ours = await self._store.heartbeat(job.id, fence.claim, lease)
            except INFRASTRUCTURE_ERRORS:
                ours = None  # a short outage: the lease rides it out, or the deadline passes
            if ours:
                fence.deadline.renewed(sent)
                continue
            if ours is False:
                fence.deadline.lose()
            if fence.deadline.passed and runner is not None:
                log.warning("job claim lost; stopping", extra={"job_id": job.id})
                runner.cancel()
                return
