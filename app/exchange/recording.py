"""Writes recorded in the history (rule B11), with the write in one transaction.

A PICSWeb link and the history rows that explain it (the record created in OneFile, the link
stored) commit together or not at all, so a crash never leaves a row for a write that did not
happen, nor a write without its row. OneFile's updates are recorded as soon as OneFile has
answered (app/store/history.py says why that cannot be atomic).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from app.db.pool import Conn
from app.fencing import fenced_transaction
from app.store.history import Entry, HistoryStore, created


@dataclass(frozen=True)
class Cause:
    """Why a write happens: the learner whose enrolment or exchange it is, its job, the rule."""

    learner_id: int
    job_id: int | None
    rule: str

    def created(self, entity: str, onefile_id: int) -> Entry:
        """A record created in OneFile."""
        return created(self.learner_id, self.job_id, self.rule, entity, onefile_id)

    def link(
        self,
        table: str,
        row_id: int,
        column: str,
        onefile_id: int,
        *,
        created_as: str | None = None,
        rule: str | None = None,
    ) -> list[Entry]:
        """A PICSWeb row linked to a OneFile record; `created_as` names the OneFile entity
        when the record was created just now (its `created` row comes first)."""
        why = rule or self.rule
        out = []
        if created_as is not None:
            out.append(created(self.learner_id, self.job_id, why, created_as, onefile_id))
        out.append(
            Entry(self.learner_id, self.job_id, why, "picsweb", table, row_id, column, None,
                  onefile_id)
        )  # fmt: skip
        return out


async def write_recorded(
    db: asyncpg.Pool | Conn,
    history: HistoryStore,
    write: Callable[[Conn], Awaitable[bool]],
    entries: Sequence[Entry],
) -> bool:
    """`write` (True: it wrote) and, when it wrote, `entries`, in one fenced transaction."""
    async with fenced_transaction(db) as conn:
        wrote = await write(conn)
        if wrote:
            await history.record(conn, entries)
    return wrote
