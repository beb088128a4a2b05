"""Fencing: work that was handed over stops, and whatever it still tries does not land.

A lease — leadership (app/jobs/leader.py), a job's claim (app/jobs/worker.py) — is a promise
about time, and a process cannot tell that its time ran out while it was frozen (SIGSTOP, a
stalled node, a long pause) or cut off from the database: when it wakes it carries on from
where it stopped, while another process already does the same work. Two defences, here:

- **By its own clock.** A `Deadline` knows the local monotonic time at which the last renewal
  that the database *confirmed* was sent; `lease − safety` later it has passed. The lease on
  the database's clock started after that send, so the deadline passes at least `safety`
  before anyone else can take the lease — without a round trip, even when the database is
  away. The OneFile quota calls `check()` before a call waits and again just before it is sent
  (app/onefile/quota.py); a job's writes call it too.
- **By the database.** A write in a job's name runs in a transaction that first locks the
  job's row FOR KEY SHARE with its claim token and a current lease (`guard`). The token is a
  key column (unique), so a takeover, which changes it, either waits for the write to commit
  or makes the write find no claim — a stale write lands while its claim was valid, or not at
  all — while the job's heartbeat and progress, which change no key, are never held up (with
  FOR SHARE, a stream of learner transactions starved the heartbeat under load).

The running job's fence sits in a context variable, like its call priority: the worker sets it
in the job's task and the tasks the handler starts inherit it, so repositories need only
`fenced_transaction` / `fenced_execute` and know nothing of jobs. Outside a job (API, CLI)
there is no fence and these helpers are plain statements.

What no fence here can stop: OneFile takes no token, so a call that passed its last check and
whose process froze in the microseconds before its bytes left is sent when the process wakes.
That window is the few hundred microseconds from the quota's check to the socket write.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

import asyncpg

if TYPE_CHECKING:
    from app.db.pool import Conn


class LeaseLost(Exception):
    """This process's lease on the work has ended: stop now and write nothing more.

    Not an error of the work itself: a job that meets it is neither failed nor finished — its
    new holder carries on.
    """


class ClockFence(Protocol):
    """A lease checked by the local clock alone (leadership's, app/jobs/leader.py)."""

    def check(self) -> None:
        """Raise `LeaseLost` when the lease has passed by the local clock (no I/O)."""


class Fence(ClockFence, Protocol):
    """What the holder of a job's claim checks before acting in its name."""

    async def guard(self, conn: Conn) -> None:
        """`check()`, then lock the claim in `conn`'s transaction or raise `LeaseLost`."""


current_fence: ContextVar[Fence | None] = ContextVar("fence", default=None)


class Deadline:
    """A lease by the local clock: it holds until `lease − safety` after the send of the last
    renewal that was confirmed."""

    def __init__(
        self,
        lease: float,
        safety: float,
        *,
        sent_at: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= safety < lease:
            raise ValueError("the safety margin must be shorter than the lease")
        self.lease = lease
        self.safety = safety
        self._clock = clock
        self.until = sent_at + lease - safety
        self.lost = False

    def renewed(self, sent_at: float) -> None:
        """A renewal sent at `sent_at` (this clock, taken before sending) was confirmed."""
        self.until = max(self.until, sent_at + self.lease - self.safety)

    def lose(self) -> None:
        """The database said the lease is no longer ours: passed, whatever the clock says."""
        self.lost = True

    @property
    def passed(self) -> bool:
        return self.lost or self._clock() > self.until

    def remaining(self) -> float:
        return 0.0 if self.lost else self.until - self._clock()


# ---- writes in the name of the running job --------------------------------------------------


@contextlib.asynccontextmanager
async def fenced_transaction(db: asyncpg.Pool | Conn) -> AsyncIterator[Conn]:
    """A transaction whose writes land only while the running job's claim holds."""
    fence = current_fence.get()
    async with contextlib.AsyncExitStack() as stack:
        conn: Conn
        if isinstance(db, asyncpg.Pool):
            conn = await stack.enter_async_context(db.acquire())
        else:
            conn = db
        await stack.enter_async_context(conn.transaction())
        if fence is not None:
            await fence.guard(conn)
        yield conn


async def fenced_execute(db: asyncpg.Pool | Conn, query: str, *args: Any) -> str:
    """One write statement, fenced when it runs in a job's name."""
    if current_fence.get() is None:
        return await db.execute(query, *args)
    async with fenced_transaction(db) as conn:
        return await conn.execute(query, *args)


async def fenced_fetchval(db: asyncpg.Pool | Conn, query: str, *args: Any) -> Any:
    """One write statement that returns a value, fenced when it runs in a job's name."""
    if current_fence.get() is None:
        return await db.fetchval(query, *args)
    async with fenced_transaction(db) as conn:
        return await conn.fetchval(query, *args)
