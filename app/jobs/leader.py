"""Leadership: one process of the deployment calls OneFile, and its successor knows when the
previous one stopped.

Two things decide who leads, both held through one dedicated connection per replica:

- **A lease row** (`onefile_sync.leadership`): the leader's `epoch` — a fencing token, one
  more at every takeover — and `expires_at` on the database's clock, renewed every
  `lease / 5` seconds. Only the current epoch, with its lease running, can claim jobs
  (app/db/sql/jobs.sql), and its renewal fails the moment someone else has taken over.
- **A session advisory lock**, taken by that connection before the lease. Whoever obtains it
  knows that the session which held it has ended — the process crashed, was SIGKILLed, or lost
  its connection — so it takes the lease at once, without waiting for the expiry.

Why both. The lock alone (the previous design) cannot tell a frozen leader from a live one: a
process stopped by SIGSTOP, or a node cut off behind a half-open TCP connection, keeps its
session and its lock — measured: no takeover at all during a 25-s freeze, and on Linux's
default keepalive a lost node would have kept the lock for more than two hours. A lease alone
makes every crash cost a whole lease. Together: a replica that finds the lease expired while
the lock is still held *deposes* the holder — ends its epoch, then terminates every connection
of its process (each process has its own `application_name`), which frees the lock and rolls
back anything that process still had open — and then takes the lock and the lease.

The old leader fences itself by its own clock (app/fencing.py): it stops before its next OneFile
call once `lease − safety` has passed since it sent the last renewal that was confirmed. Since
the lease in the database started after that send, a leader whose lease expired has stopped
calling at least `safety` before anyone can take over; a frozen one checks the clock first
thing on waking, sends nothing, and finds its connections terminated and its epoch gone.

How long without a leader (lease L, 5 s by default; measured figures in the README):
- crash or SIGKILL: the server sees the connection close, the lock is free at the next poll
  (L/10); the successor then allows a previous leader that might be alive, and only about to
  notice its lost connection, its next renewal (≤ 1.5 × L/5) — about 2 s in all;
- frozen leader, or a node lost without closing its connection: at most L after its last
  renewal, plus a poll — whatever TCP does. Server-side keepalives on the lease connection
  (`tcp_keepalives_*`, a silent peer dropped after L + 3 s) are a second line for when no
  other replica runs; they are deliberately slower than the lease, because a lock freed while
  the lost leader's own clock still lets it call would let two leaders overlap.

The new leader's quota (app/onefile/quota.py, told through `on_term`) holds its first call
four spacings past the moment by which the previous leader has certainly stopped
(`Term.handover_at`): enough, for
two processes under the same bucket, to keep every window of the quota — 0.8 s at 300 calls a
minute instead of the 2.5-s grace of the advisory-lock design. Every job still `running` under an
earlier epoch goes back to the queue in the takeover's transaction: it resumes at once, not
when its claim (30 s by default) runs out.

What remains: a leader that is frozen *and* has its connection cut by someone else (an
operator, a server restart) while its lease still runs could, on waking inside that lease,
make one call per task already past its fence check before it notices — the fast path trusts
that a session which ended belongs to a process that ended, or that notices at its next
renewal. `pg_terminate_backend` needs the replicas to share a database role (one Secret).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from app.db import sql
from app.fencing import Deadline, LeaseLost
from app.jobs.worker import INFRASTRUCTURE_ERRORS, WorkerPool
from app.metrics import Metrics

log = logging.getLogger("app.jobs")
Q = sql.load("leader.sql")

LEADER_LOCK_KEY = 0x0F11E5_0002  # "onefile-sync OneFile workers" (the same key as before leases)
CHANNEL = "onefile_sync_jobs"
# Anything that means "the lease connection is gone or unusable".
CONNECTION_LOST: tuple[type[BaseException], ...] = (
    *INFRASTRUCTURE_ERRORS,
    asyncpg.PostgresError,
    TimeoutError,
)
DEPOSED_LOCK_WAIT = 2.0  # seconds to wait for a deposed leader's lock to be freed


@dataclass(frozen=True)
class LeaderTiming:
    """Every duration of the protocol, derived from the lease (LEADER_LEASE_SECONDS)."""

    lease: float = 5.0

    @property
    def renew_every(self) -> float:
        return self.lease / 5

    @property
    def safety(self) -> float:
        """How long before its lease ends, by its own clock, a leader stops calling OneFile."""
        return self.lease / 5

    @property
    def poll(self) -> float:
        """How often a follower looks for a free lock or an expired lease."""
        return self.lease / 10

    @property
    def crash_grace(self) -> float:
        """How long a predecessor whose session ended inside its lease may take to notice."""
        return 1.5 * self.renew_every

    def keepalives(self) -> dict[str, str]:
        """Server-side TCP keepalives of the lease connection: a silent peer is dropped after
        `lease + 3` seconds — never before its own clock has stopped it (see above)."""
        return {
            "tcp_keepalives_idle": str(math.ceil(self.lease)),
            "tcp_keepalives_interval": "1",
            "tcp_keepalives_count": "3",
        }


class LeaderFence:
    """The process-wide fence of leadership: `check()` raises once the lease has passed by
    this process's clock, or once the database said another process leads."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline

    def check(self) -> None:
        if self.deadline.passed:
            raise LeaseLost("the leadership lease has passed")


@dataclass(frozen=True)
class Term:
    """One process's time as leader."""

    epoch: int
    taken_at: float  # this process's clock, read before the takeover was sent
    # This process's clock: by then the previous leader has made its last OneFile call.
    handover_at: float
    previous: str  # "none", "ended" (expired, deposed, resigned) or "session lost"
    jobs_taken_back: int


MakePool = Callable[[int, LeaderFence], WorkerPool]


class Leader:
    """Campaigns for leadership, runs the worker pool while it leads, steps down when it
    loses the lease or its connection, resigns on shutdown."""

    def __init__(
        self,
        *,
        dsn: str,
        make_pool: MakePool,
        owner: str,
        app_name: str,
        on_term: Callable[[float], None] | None = None,
        timing: LeaderTiming | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dsn = dsn
        self._make_pool = make_pool
        self._owner = owner
        self._app_name = app_name
        # Told the hand-over moment at each term taken (the caller's OneFile quota holds its
        # first call past it); the queue itself knows nothing of OneFile.
        self._on_term = on_term
        self.timing = timing or LeaderTiming()
        self._metrics = metrics
        self._clock = clock
        self.is_leader = False
        self.pool: WorkerPool | None = None
        self.term: Term | None = None

    async def run(self, stop: asyncio.Event) -> None:
        t = self.timing
        while not stop.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self._dsn,
                    timeout=10,
                    server_settings={"application_name": self._app_name, **t.keepalives()},
                )
                term = await self._campaign(conn, stop)
                if term is not None:
                    await self._lead(conn, term, stop)
            except CONNECTION_LOST as exc:
                log.warning("leader connection failed", extra={"error_type": type(exc).__name__})
            except Exception:
                # Whatever broke (a worker pool that failed, a connection left in a state
                # asyncpg refuses after a freeze), leadership is given up and sought again:
                # the campaign must outlive any single term.
                log.exception("leadership ended by an error; campaigning again")
            finally:
                self._step_down()
                if conn is not None:
                    # Closing the session frees the lock at once (a clean close or not).
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), timeout=2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=t.poll)

    # ---- campaign ---------------------------------------------------------------------------

    async def _campaign(self, conn: asyncpg.Connection, stop: asyncio.Event) -> Term | None:
        """Wait for the lock (taking the lease then) or for an expired lease (deposing its
        holder first). None when asked to stop."""
        t = self.timing
        while not stop.is_set():
            if await conn.fetchval(Q["try_leader_lock"], LEADER_LOCK_KEY):
                return await self._take(conn)
            terminated = await conn.fetchval(Q["depose"])
            if terminated is not None:
                log.warning(
                    "deposed a leader whose lease ran out while it held the lock",
                    extra={"count": terminated},
                )
                # Its connections are ending: the lock is free within milliseconds.
                waited = 0.0
                while waited < DEPOSED_LOCK_WAIT:
                    if await conn.fetchval(Q["try_leader_lock"], LEADER_LOCK_KEY):
                        return await self._take(conn)
                    await asyncio.sleep(0.05)
                    waited += 0.05
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=t.poll)
        return None

    async def _take(self, conn: asyncpg.Connection) -> Term:
        """Holding the lock: take the lease (next epoch) and every job of earlier epochs."""
        t = self.timing
        sent = self._clock()
        async with conn.transaction():
            previous = await conn.fetchrow(Q["previous_leader"])
            if previous is not None and previous["app_name"] not in (None, self._app_name):
                # A predecessor whose session ended may still run (cut off, or about to
                # notice): its other connections go too, with their transactions and locks.
                await conn.fetchval(Q["terminate_process"], previous["app_name"])
            epoch = int(
                await conn.fetchval(Q["take_leadership"], self._owner, self._app_name, t.lease)
            )
            taken_back = len(await conn.fetch(Q["take_back_jobs"], epoch))
        if previous is None or not previous["current"]:
            # Its lease ran out (or it resigned): its own clock stopped it `safety` before.
            handover_at, how = sent, "none" if previous is None else "ended"
        else:
            # Its session ended inside its lease: dead, or alive until its next renewal
            # fails — and never beyond its own fence.
            wait = min(t.crash_grace, max(0.0, float(previous["remaining_s"]) - t.safety))
            handover_at, how = sent + wait, "session lost"
        return Term(epoch, sent, handover_at, how, taken_back)

    # ---- leading ----------------------------------------------------------------------------

    async def _lead(self, conn: asyncpg.Connection, term: Term, stop: asyncio.Event) -> None:
        t = self.timing
        deadline = Deadline(t.lease, t.safety, sent_at=term.taken_at, clock=self._clock)
        fence = LeaderFence(deadline)
        if self._on_term is not None:
            self._on_term(term.handover_at)
        self.term = term
        self.is_leader = True
        if self._metrics is not None:
            self._metrics.is_leader.set(1)
        log.info(
            "leadership taken: this process runs the OneFile workers",
            extra={
                "epoch": term.epoch,
                "previous": term.previous,
                "jobs_taken_back": term.jobs_taken_back,
                "handover_wait_s": round(max(0.0, term.handover_at - self._clock()), 3),
            },
        )
        pool = self.pool = self._make_pool(term.epoch, fence)
        await conn.add_listener(CHANNEL, lambda *_: pool.wake.set())
        pool_stop = asyncio.Event()
        pool_task = asyncio.create_task(pool.run(pool_stop), name="worker-pool")
        renewer = asyncio.create_task(self._renew(conn, term, deadline), name="leader-renewal")
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([pool_task, renewer, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            pool_stop.set()
            if not stop.is_set() or renewer.done():
                # The lease is lost or in doubt: another replica may lead now. Stop calling
                # OneFile at once; the new leader takes the jobs back.
                deadline.lose()
                log.warning("leadership lost: stopping the workers", extra={"epoch": term.epoch})
                pool.abort()
            # A clean stop drains (jobs finish or go back to the queue); an error of the pool
            # is raised below, once the renewal is wound down.
            await asyncio.gather(pool_task, return_exceptions=True)
            if stop.is_set() and not renewer.done():
                with contextlib.suppress(*CONNECTION_LOST):
                    await asyncio.wait_for(conn.execute(Q["resign"], term.epoch), t.renew_every)
                    log.info("leadership resigned", extra={"epoch": term.epoch})
            renewer.cancel()
            stopper.cancel()
            await asyncio.gather(renewer, stopper, return_exceptions=True)
            if pool_task.done() and not pool_task.cancelled():
                error = pool_task.exception()
                if error is not None:
                    raise error

    async def _renew(self, conn: asyncpg.Connection, term: Term, deadline: Deadline) -> None:
        """Renew the lease every `renew_every`; returns when it is lost or cannot be kept."""
        t = self.timing
        while True:
            await asyncio.sleep(t.renew_every)
            if deadline.passed:
                log.warning("leadership lease passed unrenewed", extra={"epoch": term.epoch})
                return
            sent = self._clock()
            try:
                renewed = await asyncio.wait_for(
                    conn.fetchval(Q["renew_leadership"], term.epoch, t.lease),
                    timeout=max(0.1, deadline.remaining()),
                )
            except TimeoutError:
                continue  # slow, not lost: the deadline decides
            except Exception as exc:
                # The connection is lost or unusable: the lock may be free already.
                log.warning("leader connection lost", extra={"error_type": type(exc).__name__})
                return
            if renewed is None:
                log.warning("leadership taken over by another replica", extra={"epoch": term.epoch})
                return
            deadline.renewed(sent)

    def _step_down(self) -> None:
        if self.is_leader:
            log.info("leadership released")
        self.is_leader = False
        self.pool = None
        if self._metrics is not None:
            self._metrics.is_leader.set(0)
