"""Wire format of the simulated OneFile API: dates, errors and field checks.

Date-times (ScheduledFor, LastModified, …) are held as aware UTC datetimes. Date-only values
(a learning aim's StartDate, a user's DOB, …) are held as calendar dates (`datetime.date`), so
that serving them as midnight UTC or as UK midnight is exact either way and a value written in
one form never moves by a day.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

UTC = dt.UTC
UK = ZoneInfo("Europe/London")
Record = dict[str, Any]
DayOf = Callable[[dt.datetime], dt.date]

_INSTANT = re.compile(
    r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})", re.ASCII
)


class ApiError(Exception):
    """An answer other than success: status and the {"message": ...} text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad(message: str) -> ApiError:
    return ApiError(400, message)


def now_ms() -> dt.datetime:
    """Now, UTC, truncated to the millisecond (what OneFile shows is what it compares)."""
    now = dt.datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def format_instant(value: dt.datetime) -> str:
    v = value.astimezone(UTC)
    return v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}Z"


def parse_instant(text: str) -> dt.datetime:
    """ISO-8601 with an explicit offset (Z, +00:00, …), optional fraction → aware UTC.

    Naive date-times and bare dates are refused: OneFile date-only values travel as
    midnight UTC date-times, and a naive value is ambiguous.
    """
    m = _INSTANT.fullmatch(text.strip())
    if m is None:
        raise ValueError(text)
    base, frac, zone = m.groups()
    micro = (frac or "").ljust(6, "0")[:6]
    zone = "+00:00" if zone == "Z" else zone
    return dt.datetime.fromisoformat(f"{base}.{micro}{zone}").astimezone(UTC)


def format_day(day: dt.date, *, uk_midnight: bool = False) -> str:
    """A date-only value on the wire: midnight UTC of the day, or the instant of UK midnight
    (5 May 2026 → 2026-05-04T23:00:00.000Z; 5 January → 2026-01-05T00:00:00.000Z)."""
    zone = UK if uk_midnight else UTC
    return format_instant(dt.datetime(day.year, day.month, day.day, tzinfo=zone))


def utc_day(instant: dt.datetime) -> dt.date:
    """The calendar date of an instant in UTC (a date-only value read as OneFile first was)."""
    return instant.astimezone(UTC).date()


def uk_day(instant: dt.datetime) -> dt.date:
    """The calendar date of an instant in UK time."""
    return instant.astimezone(UK).date()


def as_midnight_utc(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC)


def coerce_day(value: dt.datetime | dt.date | str) -> dt.date:
    """For state helpers: a date, or an aware datetime / OneFile text taken as its UTC date."""
    if isinstance(value, dt.datetime | str):
        return utc_day(coerce_instant(value))
    return value


def coerce_instant(value: dt.datetime | dt.date | str) -> dt.datetime:
    """For state helpers: a datetime (aware), a date (midnight UTC) or OneFile text."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("date-times must be timezone-aware")
        return value.astimezone(UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    return parse_instant(value)


def to_wire(record: Mapping[str, Any], *, uk_midnight: bool = False) -> Record:
    """A record as JSON-ready values: instants as OneFile writes them, dates per `format_day`."""
    return {k: _wire_value(v, uk_midnight) for k, v in record.items()}


def _wire_value(value: Any, uk_midnight: bool) -> Any:
    if isinstance(value, dt.datetime):  # before dt.date: a datetime is a date too
        return format_instant(value)
    if isinstance(value, dt.date):
        return format_day(value, uk_midnight=uk_midnight)
    return value


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# ---- field checks ------------------------------------------------------------------------
# Kinds: "int" (JSON integer), "str" (non-empty text), "date" (ISO-8601 instant), "day" (a
# date-only value: an ISO-8601 instant, kept as the calendar date `day_of` gives), "num" (JSON
# number), "bool" (JSON true/false), "code" (text or integer: ILR codes such as L12/L13/L15).


def check_fields(
    body: Mapping[str, Any],
    kinds: Mapping[str, str],
    *,
    mandatory: Iterable[str] = (),
    what: str = "field",
    day_of: DayOf = utc_day,
) -> Record:
    """Refuse unknown fields and missing mandatory ones; type-check → a typed copy."""
    unknown = [k for k in body if k not in kinds]
    if unknown:
        raise bad(f"unknown {what}(s): {', '.join(unknown)}")
    missing = [k for k in mandatory if _blank(body.get(k))]
    if missing:
        raise bad(f"missing mandatory field(s): {', '.join(missing)}")
    checked = {name: check_value(name, kinds[name], value) for name, value in body.items()}
    for name, value in checked.items():
        if kinds[name] == "day" and value is not None:
            checked[name] = day_of(value)
    return checked


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_value(name: str, kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(f"{name} must be an integer")
        return value
    if kind == "num":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(f"{name} must be a number")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise bad(f"{name} must be a string")
        return value
    if kind == "code":
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise bad(f"{name} must be a string or an integer")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad(f"{name} must be true or false")
        return value
    if kind in ("date", "day"):
        if not isinstance(value, str):
            raise bad(f"{name} must be an ISO-8601 date-time string")
        try:
            return parse_instant(value)
        except ValueError:
            raise bad(f"{name} is not a valid ISO-8601 date-time: {value[:40]!r}") from None
    raise AssertionError(kind)


def path_int(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None
