"""Wire format of the simulated OneFile API: dates, errors and field checks."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

UTC = dt.UTC
Record = dict[str, Any]

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


def coerce_instant(value: dt.datetime | dt.date | str) -> dt.datetime:
    """For state helpers: a datetime (aware), a date (midnight UTC) or OneFile text."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("date-times must be timezone-aware")
        return value.astimezone(UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    return parse_instant(value)


def to_wire(record: Mapping[str, Any]) -> Record:
    return {k: format_instant(v) if isinstance(v, dt.datetime) else v for k, v in record.items()}


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# ---- field checks ------------------------------------------------------------------------
# Kinds: "int" (JSON integer), "str" (non-empty text), "date" (ISO-8601 instant),
# "num" (JSON number), "code" (text or integer: ILR codes such as L12/L13/L15).


def check_fields(
    body: Mapping[str, Any],
    kinds: Mapping[str, str],
    *,
    mandatory: Iterable[str] = (),
    what: str = "field",
) -> Record:
    """Refuse unknown fields and missing mandatory ones; type-check → a typed copy."""
    unknown = [k for k in body if k not in kinds]
    if unknown:
        raise bad(f"unknown {what}(s): {', '.join(unknown)}")
    missing = [k for k in mandatory if _blank(body.get(k))]
    if missing:
        raise bad(f"missing mandatory field(s): {', '.join(missing)}")
    return {name: check_value(name, kinds[name], value) for name, value in body.items()}


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
    if kind == "date":
        if not isinstance(value, str):
            raise bad(f"{name} must be an ISO-8601 date-time string")
        try:
            return parse_instant(value)
        except ValueError:
            raise bad(f"{name} is not a valid ISO-8601 date-time: {value[:40]!r}") from None
    raise AssertionError(kind)


def path_int(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None
