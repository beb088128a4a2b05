"""The OneFile API v2.1 client: the only code that speaks HTTP (and JSON) to OneFile.

Every call, Authentication included, passes the shared `Quota` first. Sessions are renewed
before 24 h and once on a 401. Transient failures follow the declared `RetryPolicy`; a create
whose outcome is unknown is not blindly re-sent (that is how duplicates are born) but raised as
`OneFileAmbiguous`, so the caller looks for the record first. httpx errors are mapped to the
tree in `errors.py` here and nowhere else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import httpx
from pydantic import ValidationError

from app.metrics import Metrics
from app.onefile import records as r
from app.onefile.errors import (
    OneFileAmbiguous,
    OneFileAuthError,
    OneFileBadRequest,
    OneFileError,
    OneFileNotFound,
    OneFileRateLimited,
    OneFileUnavailable,
)
from app.onefile.quota import Quota
from app.onefile.retry import RetryPolicy, parse_retry_after

log = logging.getLogger("app.onefile")

SESSION_MAX_AGE = 23 * 3600.0  # OneFile expires sessions after 24 h: renew an hour early
MAX_PAGE_SIZE = 1000

Json = Any


class _Retry(Exception):
    """Internal: this attempt failed in a way the policy may retry."""

    def __init__(self, error: OneFileError, reason: str, retry_after: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.reason = reason
        self.retry_after = retry_after


class OneFileClient:
    """Typed calls of the OneFile API, under one quota and one retry policy."""

    def __init__(
        self,
        *,
        base_url: str,
        api_token: str,
        quota: Quota,
        policy: RetryPolicy | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._token = api_token
        self._quota = quota
        self._policy = policy or RetryPolicy()
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._session: str | None = None
        self._session_at = 0.0
        self._auth_lock = asyncio.Lock()
        base = base_url if base_url.endswith("/") else base_url + "/"
        self._http = httpx.AsyncClient(
            base_url=base,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
            # The pid tells replicas apart in OneFile's (and the simulator's) view of calls.
            headers={
                "Accept": "application/json",
                "User-Agent": f"onefile-sync (pid {os.getpid()})",
            },
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- session -------------------------------------------------------------------------

    async def authenticate(self) -> None:
        """Open a new OneFile session (costs one call of the quota)."""
        route = "POST Authentication"
        resp = await self._send_with_policy(
            route,
            lambda: self._http.post("Authentication", headers={"X-CustomerToken": self._token}),
            idempotent=True,
        )
        if resp.status_code == 401:
            raise OneFileAuthError("the API token was refused", route=route, status=401)
        self._raise_for_status(route, resp)
        session = resp.text.strip().strip('"').strip()
        if not session:
            raise OneFileUnavailable("empty session id", route=route, status=resp.status_code)
        self._session = session
        self._session_at = self._clock()
        log.info("onefile session opened", extra={"route": route})

    async def _session_id(self) -> str:
        async with self._auth_lock:
            if self._session is None or self._clock() - self._session_at > SESSION_MAX_AGE:
                await self.authenticate()
            assert self._session is not None
            return self._session

    async def _renew_after_401(self, stale: str) -> None:
        async with self._auth_lock:
            if self._session == stale:  # nobody renewed it meanwhile
                self._session = None
                await self.authenticate()

    # ---- transport -------------------------------------------------------------------------

    async def _call(
        self, method: str, route: str, path: str, body: Json = None, *, idempotent: bool = True
    ) -> httpx.Response:
        """One logical call: session, quota, retries; returns a 2xx response."""
        # Up to two renewals: a session can expire again while a call waits for the quota
        # (a long 429 pause), and one learner's call must not fail a whole job for that.
        for attempt in (1, 2, 3):
            session = await self._session_id()
            resp = await self._send_with_policy(
                route,
                lambda s=session: self._http.request(  # type: ignore[misc]
                    method, path, json=body, headers={"X-TokenID": s}
                ),
                idempotent=idempotent,
            )
            if resp.status_code == 401 and attempt < 3:
                await self._renew_after_401(session)
                continue
            if resp.status_code == 401:
                raise OneFileAuthError("session refused after renewal", route=route, status=401)
            self._raise_for_status(route, resp)
            return resp
        raise AssertionError("unreachable")

    async def _send_with_policy(
        self,
        route: str,
        send: Callable[[], Awaitable[httpx.Response]],
        *,
        idempotent: bool,
    ) -> httpx.Response:
        failures = 0
        limited = 0
        while True:
            try:
                return await self._attempt(route, send, idempotent=idempotent)
            except _Retry as retry:
                if self._metrics is not None:
                    self._metrics.onefile_retries.labels(retry.reason).inc()
                if retry.reason == "rate_limited":
                    limited += 1
                    if limited >= self._policy.rate_limited_attempts:
                        raise OneFileRateLimited(
                            f"still rate limited after {limited} attempts",
                            route=route,
                            status=429,
                        ) from None
                    pause = self._policy.rate_limited_backoff(limited, retry.retry_after)
                    # OneFile blocks the whole token: hold every worker, not just this call.
                    self._quota.pause(pause)
                    log.warning(
                        "onefile rate limited",
                        extra={"route": route, "status": 429, "pause_s": round(pause, 3)},
                    )
                    continue
                failures += 1
                if failures >= self._policy.attempts:
                    raise retry.error from None
                await self._sleep(self._policy.backoff(failures))

    async def _attempt(
        self,
        route: str,
        send: Callable[[], Awaitable[httpx.Response]],
        *,
        idempotent: bool,
    ) -> httpx.Response:
        await self._quota.acquire()
        started = self._clock()
        status = 0
        try:
            resp = await send()
            status = resp.status_code
            if status == 429:
                raise _Retry(
                    OneFileRateLimited("rate limited", route=route, status=429),
                    "rate_limited",
                    parse_retry_after(resp.headers.get("Retry-After")),
                )
            if status >= 500:
                err_cls = OneFileUnavailable if idempotent else OneFileAmbiguous
                error = err_cls(f"OneFile answered {status}", route=route, status=status)
                if not idempotent:
                    raise error  # the create may have happened: the caller must look first
                raise _Retry(error, "server_error")
            if 200 <= status < 300 and resp.content and not _looks_like_json(resp):
                err_cls = OneFileUnavailable if idempotent else OneFileAmbiguous
                error = err_cls("unreadable answer", route=route, status=status)
                if not idempotent:
                    raise error
                raise _Retry(error, "garbage")
            return resp
        except httpx.TimeoutException:
            if not idempotent:
                raise OneFileAmbiguous("no answer in time", route=route) from None
            raise _Retry(OneFileUnavailable("no answer in time", route=route), "timeout") from None
        except (httpx.ConnectError, httpx.ConnectTimeout):
            # Never reached OneFile: safe to send again even for a create.
            raise _Retry(OneFileUnavailable("could not connect", route=route), "connect") from None
        except httpx.TransportError:
            if not idempotent:
                raise OneFileAmbiguous("connection broken", route=route) from None
            raise _Retry(OneFileUnavailable("connection broken", route=route), "network") from None
        finally:
            elapsed = self._clock() - started
            if self._metrics is not None:
                self._metrics.onefile_calls.labels(route, str(status)).inc()
                self._metrics.onefile_latency.labels(route).observe(elapsed)
                if status == 429:
                    self._metrics.onefile_rate_limited.inc()
            log.debug(
                "onefile call",
                extra={"route": route, "status": status, "duration_ms": round(elapsed * 1000, 1)},
            )

    def _raise_for_status(self, route: str, resp: httpx.Response) -> None:
        status = resp.status_code
        if 200 <= status < 300:
            return
        if status == 400:
            raise OneFileBadRequest(_message_of(resp), route=route, status=400)
        if status == 404:
            raise OneFileNotFound("unknown id", route=route, status=404)
        raise OneFileBadRequest(f"unexpected status {status}", route=route, status=status)

    # ---- decoding --------------------------------------------------------------------------

    @staticmethod
    def _json(route: str, resp: httpx.Response) -> Json:
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return resp.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise OneFileUnavailable("unreadable answer", route=route) from None

    def _new_id(self, route: str, resp: httpx.Response) -> int:
        body = self._json(route, resp)
        if isinstance(body, dict):  # tolerate {"ID": n}
            body = body.get("ID", body.get("Id"))
        try:
            return int(body)
        except (TypeError, ValueError):
            raise OneFileAmbiguous("no id in the answer to a create", route=route) from None

    async def _search(
        self, entity: str, flt: Mapping[str, Any], size: int = 100
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of a paged search, one at a time; stops at the first page shorter than `size`."""
        async for rows in self._search_ahead(entity, flt, max(1, min(size, MAX_PAGE_SIZE)), 1, 1):
            yield rows

    async def _search_ahead(
        self, entity: str, flt: Mapping[str, Any], size: int, expected_pages: int, window: int = 8
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages in order; up to `window` of the first `expected_pages` requested side by side.

        A long paged read done one page at a time leaves the quota idle for a round trip per
        page. When the caller can estimate the page count, asking for those pages a few at a
        time costs no extra call; the window bounds what is held in memory. Past the estimate
        the read goes on one page at a time, until a page shorter than `size`.
        """
        route = f"POST {entity}/Search"

        async def page(n: int) -> list[dict[str, Any]]:
            resp = await self._call("POST", route, f"{entity}/Search/{n}/{size}", dict(flt))
            rows = self._json(route, resp) or []
            if not isinstance(rows, list):
                raise OneFileUnavailable(
                    "a search answered something else than a list", route=route
                )
            return rows

        in_flight: deque[asyncio.Future[list[dict[str, Any]]]] = deque()
        requested = 0
        try:
            while True:
                while requested < max(1, expected_pages) and len(in_flight) < window:
                    requested += 1
                    in_flight.append(asyncio.ensure_future(page(requested)))
                if not in_flight:  # beyond the estimate: one page at a time
                    requested += 1
                    in_flight.append(asyncio.ensure_future(page(requested)))
                rows = await in_flight.popleft()
                yield rows
                if len(rows) < size:
                    return
        finally:
            for t in in_flight:
                t.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    async def _search_all(
        self, entity: str, flt: Mapping[str, Any], size: int = 100
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async for rows in self._search(entity, flt, size):
            out.extend(rows)
        return out

    @staticmethod
    def _parse(model: type[r._RecordT], route: str, rows: list[dict[str, Any]]) -> list[r._RecordT]:
        try:
            return [model.model_validate(row) for row in rows]
        except (ValidationError, ValueError, TypeError):
            raise OneFileUnavailable("a record could not be read", route=route) from None

    # ---- users -----------------------------------------------------------------------------

    async def create_user(self, fields: Mapping[str, Any]) -> r.User:
        """POST User: a learner (Role 1) or an assessor (Role 5). Not retried when ambiguous."""
        route = "POST User"
        resp = await self._call("POST", route, "User", dict(fields), idempotent=False)
        body = self._json(route, resp)
        if not isinstance(body, dict):
            raise OneFileAmbiguous("no user record in the answer", route=route)
        return self._parse(r.User, route, [body])[0]

    async def update_user(self, user_id: int, fields: Mapping[str, Any]) -> None:
        await self._call("POST", "POST User/{id}", f"User/{user_id}", dict(fields))

    async def search_users(self, flt: Mapping[str, Any], size: int = 100) -> list[r.User]:
        rows = await self._search_all("User", flt, size)
        return self._parse(r.User, "POST User/Search", rows)

    async def iter_users(
        self, flt: Mapping[str, Any], size: int = 1000
    ) -> AsyncIterator[list[r.User]]:
        async for rows in self._search("User", flt, size):
            yield self._parse(r.User, "POST User/Search", rows)

    async def assign_lead_assessor(
        self, assessor_id: int, learner_id: int, standard_id: int
    ) -> None:
        body = {"LearnerID": learner_id, "Level": r.ASSIGN_LEVEL_LEAD, "StandardID": standard_id}
        await self._call("POST", "POST User/{id}/Assign", f"User/{assessor_id}/Assign", body)

    # ---- placements ------------------------------------------------------------------------

    async def create_placement(self, organisation_id: int, name: str, misid: str | None) -> int:
        route = "POST Placement"
        body: dict[str, Any] = {"OrganisationID": organisation_id, "Name": name}
        if misid:
            body["MISID"] = misid
        resp = await self._call("POST", route, "Placement", body, idempotent=False)
        return self._new_id(route, resp)

    async def search_placements(self, flt: Mapping[str, Any]) -> list[r.Placement]:
        rows = await self._search_all("Placement", flt)
        return self._parse(r.Placement, "POST Placement/Search", rows)

    # ---- standards and learning aims -------------------------------------------------------

    async def assign_standard(self, standard_id: int, learner_id: int) -> int:
        route = "POST Standard/{id}/Assign/{learner}"
        resp = await self._call(
            "POST", route, f"Standard/{standard_id}/Assign/{learner_id}", None, idempotent=False
        )
        return self._new_id(route, resp)

    async def learning_aims(self, user_id: int) -> list[r.LearningAim]:
        rows = await self._search_all("LearningAim", {"UserID": user_id})
        return self._parse(r.LearningAim, "POST LearningAim/Search", rows)

    async def update_learning_aim(self, aim_id: int, fields: Mapping[str, Any]) -> None:
        await self._call("POST", "POST LearningAim/{id}", f"LearningAim/{aim_id}", dict(fields))

    # ---- visits and reviews ----------------------------------------------------------------

    async def create_visit(self, fields: Mapping[str, Any]) -> int:
        route = "POST Visit"
        resp = await self._call("POST", route, "Visit", dict(fields), idempotent=False)
        return self._new_id(route, resp)

    async def create_review(self, fields: Mapping[str, Any]) -> int:
        route = "POST Review"
        resp = await self._call("POST", route, "Review", dict(fields), idempotent=False)
        return self._new_id(route, resp)

    async def reviews_of_learner(self, learner_id: int) -> list[r.Review]:
        rows = await self._search_all("Review", {"LearnerID": learner_id})
        return self._parse(r.Review, "POST Review/Search", rows)

    async def iter_centre_reviews(
        self, organisation_id: int, expected: int = 0
    ) -> AsyncIterator[list[r.Review]]:
        """Every review of the centre, a thousand to a page; `expected` reviews are read ahead."""
        pages = expected // MAX_PAGE_SIZE + 1
        async for rows in self._search_ahead(
            "Review", {"OrganisationID": organisation_id}, MAX_PAGE_SIZE, pages
        ):
            yield self._parse(r.Review, "POST Review/Search", rows)


def _looks_like_json(resp: httpx.Response) -> bool:
    try:
        resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return True


_PERSONAL = re.compile(r"\S+@\S+|\d{4,}|'[^']*'|\"[^\"]*\"")


def _message_of(resp: httpx.Response) -> str:
    """OneFile's own reason for a 400, trimmed, with anything value-like redacted.

    OneFile's messages name fields; should one ever echo a value we sent (an email, a ULN),
    it must not reach a job's failure reason or a log line.
    """
    try:
        body = resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "bad request"
    if isinstance(body, dict):
        msg = body.get("message") or body.get("Message")
        if isinstance(msg, str) and msg:
            return _PERSONAL.sub("…", msg)[:300]
    return "bad request"
