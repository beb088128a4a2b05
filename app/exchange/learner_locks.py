"""One learner at a time: a refresh and a sync never exchange the same learner at once.

The handlers of one service share one `LearnerLocks` (exchange/handlers.py builds it and hands
it to the refresh and sync handlers); a lock lives only while someone holds or waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class LearnerLocks:
    """An asyncio lock per learner id, created on first use and dropped when unused."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, learner_id: int) -> AsyncIterator[None]:
        lock = self._locks.setdefault(learner_id, asyncio.Lock())
        self._users[learner_id] = self._users.get(learner_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[learner_id] -= 1
            if not self._users[learner_id]:
                del self._users[learner_id], self._locks[learner_id]
