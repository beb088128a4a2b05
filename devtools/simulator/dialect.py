"""How this OneFile answers: the choices public evidence leaves open, applied in one place.

OneFile's help centre and the public clients that call it (docs/onefile-evidence.md) disagree,
or are silent, on how some answers look: whether the session is JSON or bare text, whether a
search row carries the whole record, whether a page size is honoured, how a date-only value is
written on the wire. The handlers in `api.py` decide *what* to answer; this module decides *how
it looks*, from the live `SimulatorConfig` (so /_sim/config changes take effect on the next
call). Keeping it here means a handler never asks "which OneFile am I?" — it hands its rows or
its record over and the dialect shapes them.

Rules that refuse requests (Email required, inactive placements, …) stay with the handlers
that validate: they are what a call may do, not how an answer looks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from itertools import islice
from typing import Any

from .config import SimulatorConfig
from .wire import Record, bad, dumps, to_wire, uk_day, utc_day

MAX_PAGE_SIZE = 1000

# What a thin search row holds (the help centre's User/Search sample; the public clients'
# Review/Search reads; onefile-sdk's LearningAim row). GET {Entity}/{id} always answers whole.
THIN_ROW_FIELDS: dict[str, tuple[str, ...]] = {
    "User": ("ID", "FirstName", "LastName", "MISID"),
    "LearningAim": ("ID", "StandardID", "UserID", "Status"),
    "Review": ("ID", "ScheduledFor"),
    "Placement": ("ID", "Name"),
}


class Dialect:
    """The shape of answers under one `SimulatorConfig` (read live, never copied)."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config

    # ---- sessions ----------------------------------------------------------------------

    def session_body(self, session_id: str) -> bytes:
        """The body of POST Authentication: a JSON string, or the bare id (still labelled
        application/json by the caller, as the public clients suggest OneFile does)."""
        if self.config.session_body == "text":
            return session_id.encode()
        return dumps(session_id)

    @property
    def session_refused_status(self) -> int:
        """Status of a call whose session is expired, unknown or missing."""
        return self.config.expired_session_status

    # ---- records and rows --------------------------------------------------------------

    def record(self, record: Record) -> Record:
        """A whole record as served (GET, POST User's answer): dates in the serving mode."""
        return to_wire(record, uk_midnight=self.config.dates_as_uk_midnight)

    def row(self, entity: str, record: Record) -> Record:
        """A search row: the whole record, or only its thin fields."""
        if self.config.thin_rows:
            record = {name: record[name] for name in THIN_ROW_FIELDS[entity]}
        return self.record(record)

    def page(self, entity: str, rows: Iterable[Record], page: int, size: int) -> list[Record]:
        """Page `page` of `rows` when `size` rows are asked for, under the configured cap."""
        if page < 1:
            raise bad("page numbers start at 1")
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise bad(f"page size must be between 1 and {MAX_PAGE_SIZE}")
        cap = self.config.page_cap
        served = size if cap is None else min(size, cap)
        # A clamping server pages by what it serves; a skipping one keeps the asked offsets.
        stride = size if self.config.page_cap_skips else served
        start = (page - 1) * stride
        return [self.row(entity, r) for r in islice(rows, start, start + served)]

    # ---- values written ----------------------------------------------------------------

    def day_written(self, instant: dt.datetime) -> dt.date:
        """The calendar date a date-only value written as `instant` means: its UK date when
        this OneFile serves UK midnights (so what it serves reads back unchanged), else its
        UTC date. Midnight UTC, as public clients write, is the same date either way."""
        return uk_day(instant) if self.config.dates_as_uk_midnight else utc_day(instant)

    def placement_created(self, record: Record) -> Any:
        """The answer to POST Placement: the bare new id, or the placement record."""
        if self.config.placement_answer == "object":
            return self.record(record)
        return record["ID"]
