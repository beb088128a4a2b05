"""Bearer-token authentication for every endpoint but /health and /metrics."""

from __future__ import annotations

import hmac

from fastapi import Request

from app.api.errors import ApiError


def require_token(request: Request) -> None:
    """Compare the bearer token in constant time; a missing or wrong one is a 401."""
    expected: bytes | None = request.app.state.expected_token
    if expected is None:  # explicitly run unauthenticated (local development only)
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    ok = scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)
    if not ok:
        err = ApiError(401, "unauthorized", "a valid bearer token is required")
        err.headers = {"WWW-Authenticate": "Bearer"}
        raise err
