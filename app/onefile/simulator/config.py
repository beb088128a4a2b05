"""Configuration of the OneFile API simulator (mutable: /_sim/config changes it at run time)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _default_standards() -> dict[int, str]:
    return {sid: f"Standard {sid}" for sid in range(501, 531)}


@dataclass(slots=True)
class SimulatorConfig:
    api_tokens: frozenset[str] = frozenset({"sim-token"})
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

    def __post_init__(self) -> None:
        check_runtime_values(self.runtime_values())
        self.path_prefix = "/" + self.path_prefix.strip("/") if self.path_prefix.strip("/") else ""

    def runtime_values(self) -> dict[str, Any]:
        """The settings /_sim/config may change (never the API tokens)."""
        return {name: getattr(self, name) for name in RUNTIME_FIELDS}

    def apply(self, changes: dict[str, Any]) -> None:
        """Validate and apply run-time changes; ValueError names the bad setting."""
        unknown = sorted(set(changes) - set(RUNTIME_FIELDS))
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        merged = self.runtime_values() | changes
        check_runtime_values(merged)
        for name, value in changes.items():
            kind = RUNTIME_FIELDS[name]
            setattr(self, name, kind(value))


RUNTIME_FIELDS: dict[str, type] = {
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
}


def check_runtime_values(values: dict[str, Any]) -> None:
    for name, kind in RUNTIME_FIELDS.items():
        value = values[name]
        if kind is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number")
        if kind is int and not float(value).is_integer():
            raise ValueError(f"{name} must be an integer")
    for name in ("fault_rate", "timeout_rate", "garbage_rate", "latency_jitter"):
        if not 0.0 <= values[name] <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1")
    for name in ("latency", "hang_seconds"):
        if values[name] < 0:
            raise ValueError(f"{name} must not be negative")
    if values["rate_limit"] < 1:
        raise ValueError("rate_limit must be at least 1")
    for name in ("rate_period", "session_ttl"):
        if values[name] <= 0:
            raise ValueError(f"{name} must be positive")
