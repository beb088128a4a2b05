"""Every error the API returns is JSON: {"error": <code>, "message": <sentence>, ...}.

Handlers here map FastAPI's and Starlette's own errors to that shape, and validation errors to
a message naming the field (never echoing the value sent, which may be personal data).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("app.api")


class ApiError(Exception):
    """An error answer decided by an endpoint."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.extra = extra
        self.headers: dict[str, str] = {}


def error_body(error: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": error, "message": message, **extra}


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "path", "query", "header")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.error, exc.message, **exc.extra),
            status_code=exc.status,
            headers=exc.headers or None,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for err in exc.errors():
            msg = str(err.get("msg", "invalid"))
            if err.get("type") == "json_invalid":
                return JSONResponse(
                    error_body("malformed_json", "the request body is not valid JSON"),
                    status_code=400,
                )
            fields.append({"field": _field_name(err.get("loc", ())), "problem": msg})
        names = ", ".join(sorted({f["field"] for f in fields}))
        return JSONResponse(
            error_body("invalid_request", f"invalid value for: {names}", fields=fields),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        return JSONResponse(
            error_body(codes.get(exc.status_code, "http_error"), str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", extra={"error_type": type(exc).__name__})
        return JSONResponse(
            error_body("internal_error", "the service failed to answer; it has been logged"),
            status_code=500,
        )
