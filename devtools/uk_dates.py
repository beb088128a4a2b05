"""Today's date as PICSWeb's users see it: the tools' one reading of "today" (tests use it too)."""

from __future__ import annotations

import datetime as dt

from app.exchange.due_reviews import UK


def uk_today(now: dt.datetime) -> dt.date:
    """The UK calendar date of the instant `now` (which must be aware)."""
    return now.astimezone(UK).date()
