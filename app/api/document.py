"""The OpenAPI document, served at /openapi.json and committed as openapi/openapi.json.

FastAPI validates the document through its own pydantic model, whose numeric bounds are
floats: an id's bound of 2^63 comes out as 9.223372036854776e+18. 2^63 is exact as a float,
so turning integral floats back into integers gives the exact bound a reader and a client
generator expect (app/api/schemas.py says why the bound is exclusive).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def _exact(node: Any) -> Any:
    if isinstance(node, float) and node.is_integer():
        return int(node)
    if isinstance(node, dict):
        return {key: _exact(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_exact(value) for value in node]
    return node


def install_document(app: FastAPI) -> None:
    """Make `app.openapi()` (and so /openapi.json) return the document with exact numbers."""
    generate = app.openapi
    exact: dict[str, Any] = {}

    def document() -> dict[str, Any]:
        if not exact:
            exact.update(_exact(generate()))
        return exact

    app.openapi = document  # type: ignore[method-assign]
