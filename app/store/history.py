"""The history of what enrolment and the exchange wrote (rule B11), in schema onefile_sync.

One row per field written, with the job, the rule, the side, the entity and its id, the old
and the new value. PICSWeb's writes are recorded on the connection of the write, inside its
transaction (a crash keeps both or neither); OneFile's as soon as OneFile has answered (a
record created there with its PICSWeb link, in the link's transaction; an update right after
the call — a crash between OneFile's answer and that insert loses the row, as nothing can
make a remote write and a local one atomic). Values are recorded as written, personal data
included: they live in this table only, never in logs or error messages.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from app.db import sql
from app.db.pool import Conn
from app.fencing import fenced_execute

Q = sql.load("service_store.sql")

Side = Literal["picsweb", "onefile"]
CREATED = "created"  # the field of a record created in OneFile; `new` is its OneFile id
PRUNE_BATCH = 5000  # rows per delete: short transactions, whatever the backlog


@dataclass(frozen=True)
class Entry:
    """One field written. Holds personal data: never log it."""

    learner_id: int
    job_id: int | None
    rule: str
    side: Side
    entity: str
    entity_id: int
    field: str
    old: Any
    new: Any

    def __repr__(self) -> str:  # values stay out of tracebacks
        return f"Entry({self.side} {self.entity} {self.entity_id} {self.field}, {self.rule})"


@dataclass(frozen=True)
class Recorded:
    """A history row as read back, newest first."""

    at: dt.datetime
    job_id: int | None
    rule: str
    side: Side
    entity: str
    entity_id: int
    field: str
    old: Any
    new: Any


def fields_written(
    learner_id: int,
    job_id: int | None,
    side: Side,
    entity: str,
    entity_id: int,
    changes: Mapping[str, tuple[Any, Any]],
    rule: str | Mapping[str, str],
) -> list[Entry]:
    """An entry per changed field; `rule` one for all, or by field."""
    out = []
    for name, (old, new) in changes.items():
        why = rule if isinstance(rule, str) else rule[name]
        out.append(Entry(learner_id, job_id, why, side, entity, entity_id, name, old, new))
    return out


def created(learner_id: int, job_id: int | None, rule: str, entity: str, onefile_id: int) -> Entry:
    """A record created in OneFile."""
    return Entry(learner_id, job_id, rule, "onefile", entity, onefile_id, CREATED, None, onefile_id)


def _json(value: Any) -> str:
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        value = value.isoformat()
    return json.dumps(value)


def _columns(entries: Sequence[Entry]) -> list[list[Any]]:
    return [
        [e.learner_id for e in entries],
        [e.job_id for e in entries],
        [e.rule for e in entries],
        [e.side for e in entries],
        [e.entity for e in entries],
        [e.entity_id for e in entries],
        [e.field for e in entries],
        [_json(e.old) for e in entries],
        [_json(e.new) for e in entries],
    ]


class HistoryStore:
    """Writes and reads of onefile_sync.history; never closes the pool it was given."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, conn: Conn, entries: Iterable[Entry]) -> None:
        """On the caller's connection: inside the transaction of the write recorded."""
        rows = list(entries)
        if rows:
            await conn.execute(Q["record_history"], *_columns(rows))

    async def record_now(self, entries: Iterable[Entry]) -> None:
        """On its own (fenced): what OneFile has just answered to."""
        rows = list(entries)
        if rows:
            await fenced_execute(self._pool, Q["record_history"], *_columns(rows))

    async def of_learner(self, learner_id: int, limit: int) -> list[Recorded]:
        rows = await self._pool.fetch(Q["learner_history"], learner_id, limit)
        return [Recorded(**dict(r)) for r in rows]

    async def prune(self, retention_days: int, batch: int = PRUNE_BATCH) -> int:
        """Delete rows older than the retention, `batch` at a time; how many went."""
        removed = 0
        while True:
            status = await self._pool.execute(Q["prune_history"], retention_days, batch)
            n = int(status.split()[-1])
            removed += n
            if n < batch:
                return removed
