"""Configuration of the OneFile API simulator (mutable: /_sim/config changes it at run time).

Besides quota, latency and faults, the configuration says *which* OneFile to be. Public evidence
(docs/onefile-evidence.md) leaves several answers open — how the session comes, how thin a
search row is, whether a page size is honoured, whether an update replaces the record, … — so
each is an option whose default is the reading the service was first built on, and `REALISTIC`
turns on every answer the evidence makes likely. `dialect.py` applies them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def _default_standards() -> dict[int, str]:
    return {sid: f"Standard {sid}" for sid in range(501, 531)}


# The token the simulator accepts unless told otherwise (a local fake: nothing secret).
SIM_TOKEN = "sim-token"  # noqa: S105


@dataclass(slots=True)
class SimulatorConfig:
    api_tokens: frozenset[str] = frozenset({SIM_TOKEN})
    organisation_id: int = 1  # the only centre; any other OrganisationID is a 400
    classroom_ids: frozenset[int] = frozenset({1})
    visit_type_ids: frozenset[int] = frozenset({1, 2})
    standards: dict[int, str] = field(default_factory=_default_standards)
    # Rate limit: strict sliding window per customer token; 429s count too.
    rate_limit: int = 300
    rate_period: float = 60.0
    send_retry_after: bool = False
    # Latency: each OneFile call sleeps latency × uniform(1 − jitter, 1 + jitter).
    latency: float = 0.0
    latency_jitter: float = 0.5
    # Faults, drawn per call after the rate limit (the call counts) and before any work.
    fault_rate: float = 0.0  # 500/502/503
    timeout_rate: float = 0.0  # sleep hang_seconds, then 504
    garbage_rate: float = 0.0  # 200 with a non-JSON body
    hang_seconds: float = 30.0
    # When True a "timeout" call does its work first and then hangs (the answer is lost):
    # the nastiest real-life case for creates. Off by default.
    timeout_does_work: bool = False
    session_ttl: float = 86400.0
    seed: int | None = None
    path_prefix: str = "/api/v2.1"
    # ---- which OneFile (docs/onefile-api.md, "Revised 2026-11-29"); defaults: the first reading
    # "json": the session id as a JSON string; "text": bare, still labelled application/json.
    session_body: str = "json"
    # Search rows hold only THIN_ROW_FIELDS (dialect.py); GET {Entity}/{id} stays full.
    thin_rows: bool = False
    # A search asked for more rows than page_cap answers page_cap rows. The server clamps the
    # size (page p holds rows (p−1)·cap+1 … p·cap), or with page_cap_skips keeps the asked
    # size's offsets (page p holds rows (p−1)·size+1 … (p−1)·size+cap: the rest are skipped).
    page_cap: int | None = None
    page_cap_skips: bool = False
    # POST User/{id}, POST LearningAim/{id}: merge the fields sent, or replace the record
    # (writable fields absent from the body are cleared).
    update_replaces: bool = False
    expired_session_status: int = 401  # or 403, for an expired or unknown session
    email_required: bool = False  # every role needs an Email, assessors included
    review_search_needs_centre: bool = False  # Review/Search without OrganisationID is a 400
    placement_answer: str = "id"  # POST Placement answers the bare id, or the "object"
    inactive_placement_refused: bool = False  # a learner's PlacementID must be Active
    # Date-only values served as UK midnight (5 May → 2026-05-04T23:00:00.000Z), not UTC's.
    dates_as_uk_midnight: bool = False
    # A learner whose DefaultAssessorID's MISID is shared by two users is refused (help centre).
    duplicate_misid_refused: bool = False

    def __post_init__(self) -> None:
        check_runtime_values(self.runtime_values())
        self.path_prefix = "/" + self.path_prefix.strip("/") if self.path_prefix.strip("/") else ""

    @classmethod
    def realistic(cls, **overrides: Any) -> SimulatorConfig:
        """A OneFile answering as the public evidence makes likely (`REALISTIC`), overridable."""
        return cls(**(REALISTIC | overrides))

    def runtime_values(self) -> dict[str, Any]:
        """The settings /_sim/config may change (never the API tokens)."""
        return {name: getattr(self, name) for name in RUNTIME_FIELDS}

    def behaviours(self) -> dict[str, Any]:
        """The which-OneFile options (those of `REALISTIC`, plus page_cap_skips)."""
        return {name: getattr(self, name) for name in BEHAVIOURS}

    def apply(self, changes: dict[str, Any]) -> None:
        """Validate and apply run-time changes; ValueError names the bad setting."""
        unknown = sorted(set(changes) - set(RUNTIME_FIELDS))
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        merged = self.runtime_values() | changes
        check_runtime_values(merged)
        for name, value in changes.items():
            setattr(self, name, RUNTIME_FIELDS[name](value))


# Every behaviour the public evidence makes likely (docs/onefile-evidence.md), all at once.
REALISTIC: dict[str, Any] = {
    "session_body": "text",
    "thin_rows": True,
    "page_cap": 100,
    "update_replaces": True,
    "expired_session_status": 403,
    "email_required": True,
    "review_search_needs_centre": True,
    "placement_answer": "object",
    "inactive_placement_refused": True,
    "dates_as_uk_midnight": True,
    "duplicate_misid_refused": True,
}
BEHAVIOURS = (*REALISTIC, "page_cap_skips")


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


# Name → how a checked value is stored.
RUNTIME_FIELDS: dict[str, Callable[[Any], Any]] = {
    "latency": float,
    "latency_jitter": float,
    "fault_rate": float,
    "timeout_rate": float,
    "garbage_rate": float,
    "send_retry_after": bool,
    "rate_limit": int,
    "rate_period": float,
    "hang_seconds": float,
    "timeout_does_work": bool,
    "session_ttl": float,
    "session_body": str,
    "thin_rows": bool,
    "page_cap": _optional_int,
    "page_cap_skips": bool,
    "update_replaces": bool,
    "expired_session_status": int,
    "email_required": bool,
    "review_search_needs_centre": bool,
    "placement_answer": str,
    "inactive_placement_refused": bool,
    "dates_as_uk_midnight": bool,
    "duplicate_misid_refused": bool,
}
_CHOICES: dict[str, tuple[Any, ...]] = {
    "session_body": ("json", "text"),
    "placement_answer": ("id", "object"),
    "expired_session_status": (401, 403),
}


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def check_runtime_values(values: dict[str, Any]) -> None:
    for name, store in RUNTIME_FIELDS.items():
        value = values[name]
        if name in _CHOICES:
            if isinstance(value, bool) or value not in _CHOICES[name]:
                allowed = " or ".join(repr(c) for c in _CHOICES[name])
                raise ValueError(f"{name} must be {allowed}")
        elif store is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
        elif store is _optional_int:
            if value is not None and not (_is_number(value) and float(value).is_integer()):
                raise ValueError(f"{name} must be an integer or null")
        elif not _is_number(value):
            raise ValueError(f"{name} must be a number")
        elif store is int and not float(value).is_integer():
            raise ValueError(f"{name} must be an integer")
    for name in ("fault_rate", "timeout_rate", "garbage_rate", "latency_jitter"):
        if not 0.0 <= values[name] <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1")
    for name in ("latency", "hang_seconds"):
        if values[name] < 0:
            raise ValueError(f"{name} must not be negative")
    if values["rate_limit"] < 1:
        raise ValueError("rate_limit must be at least 1")
    if values["page_cap"] is not None and values["page_cap"] < 1:
        raise ValueError("page_cap must be at least 1 (or null: no cap)")
    for name in ("rate_period", "session_ttl"):
        if values[name] <= 0:
            raise ValueError(f"{name} must be positive")
