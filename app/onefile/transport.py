"""The OneFile transport: session, quota, retries and decoding — the only code that knows httpx.

Every call, Authentication included, passes the shared `Quota` first. Transient failures follow
the declared `RetryPolicy`; a create whose outcome is unknown is not blindly re-sent (that is
how duplicates are born) but raised as `OneFileAmbiguous`, so the caller looks for the record
first. httpx errors are mapped to the tree in `errors.py` here and nowhere else.

The session (docs/onefile-api.md, Authentication): the whole body of `POST Authentication` is
the session id, bare text whatever the Content-Type says (public clients put it unchanged into
`X-TokenID`); a JSON-quoted string is accepted too. So the answer to Authentication is never
held to the "is it JSON?" test of other answers: it passes when it reads as one session id
(no white space, no markup, no JSON structure), and anything else — an HTML error page, a
truncated JSON array — is garbage, retried like any other. A session is renewed before 24 h,
and when OneFile refuses it (401 or 403: which one is unknown). A refused session that OneFile
had accepted before has expired: renew. A session refused right after it was opened, when it
had never been accepted, means the API token itself is refused: `OneFileAuthError`.

Every request sent (retries included, Authentication excepted) is counted in the running job's
`CallTally` when one is set (`counting_calls`), so a job reports what it really cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.metrics import Metrics
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
AUTH_ROUTE = "POST Authentication"
REFUSED = (401, 403)  # an expired or unknown session: OneFile's status is not documented
ATTEMPTS_PER_CALL = 3  # a session may expire again while a call waits out a 429 pause

Json = Any


# ---- counting calls per job ---------------------------------------------------------------


@dataclass
class CallTally:
    """OneFile calls made on behalf of one job (a retry is a call: the quota counts it)."""

    calls: int = 0
    gets: int = 0
    by_route: dict[str, int] = field(default_factory=dict)

    def add(self, method: str, route: str) -> None:
        self.calls += 1
        if method == "GET":
            self.gets += 1
        self.by_route[route] = self.by_route.get(route, 0) + 1


_tally: ContextVar[CallTally | None] = ContextVar("onefile_call_tally", default=None)


@contextlib.contextmanager
def counting_calls() -> Iterator[CallTally]:
    """Count the OneFile calls of this task (and of the tasks it starts) inside the block."""
    tally = CallTally()
    token = _tally.set(tally)
    try:
        yield tally
    finally:
        _tally.reset(token)


# ---- the session id --------------------------------------------------------------------------

_NOT_IN_A_SESSION = re.compile(r"[\s\"'<>{}\[\]\\,;]")


def read_session(text: str) -> str | None:
    """The session id in the body of `POST Authentication`, or None when it is not one.

    Bare text, or a JSON string; white space and one pair of surrounding quotes are stripped.
    """
    body = text.strip()
    if body.startswith('"'):
        try:
            decoded = json.loads(body)
        except json.JSONDecodeError:
            decoded = body[1:-1] if len(body) >= 2 and body.endswith('"') else None
        body = decoded.strip() if isinstance(decoded, str) else ""
    if not body or len(body) > 4096 or _NOT_IN_A_SESSION.search(body):
        return None
    return body


def session_body_kind(text: str) -> str:
    """ "json" when the session came as a JSON string, else "text" (for the probe)."""
    return "json" if text.strip().startswith('"') else "text"


# ---- the transport ---------------------------------------------------------------------------


class _Retry(Exception):
    """Internal: this attempt failed in a way the policy may retry."""

    def __init__(self, error: OneFileError, reason: str, retry_after: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.reason = reason
        self.retry_after = retry_after


def _looks_like_json(resp: httpx.Response) -> bool:
    try:
        resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return True


def _is_session(resp: httpx.Response) -> bool:
    return read_session(resp.text) is not None


class Transport:
    """Sends one logical OneFile call: session, quota, retries; answers a 2xx response."""

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
        self.quota = quota
        self._policy = policy or RetryPolicy()
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._session: str | None = None
        self._session_at = 0.0
        self._session_accepted = False  # has OneFile answered a call made with it?
        self.session_body = ""  # "text" or "json": how the last session came (the probe)
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

    # ---- session -----------------------------------------------------------------------

    async def authenticate(self) -> None:
        """Open a new OneFile session (costs one call of the quota)."""
        resp = await self._send_with_policy(
            AUTH_ROUTE,
            lambda: self._http.post("Authentication", headers={"X-CustomerToken": self._token}),
            idempotent=True,
            readable=_is_session,
        )
        if resp.status_code in REFUSED:
            raise OneFileAuthError(
                "the API token was refused", route=AUTH_ROUTE, status=resp.status_code
            )
        self._raise_for_status(AUTH_ROUTE, resp)
        session = read_session(resp.text)
        if session is None:  # a 2xx without a body: _is_session only judges bodies
            raise OneFileUnavailable("no session id in the answer", route=AUTH_ROUTE)
        self._session = session
        self._session_at = self._clock()
        self._session_accepted = False
        self.session_body = session_body_kind(resp.text)
        log.info("onefile session opened", extra={"route": AUTH_ROUTE})

    async def _session_id(self) -> str:
        async with self._auth_lock:
            if self._session is None or self._clock() - self._session_at > SESSION_MAX_AGE:
                await self.authenticate()
            assert self._session is not None
            return self._session

    async def _renew(self, refused: str) -> None:
        async with self._auth_lock:
            if self._session == refused:  # nobody renewed it meanwhile
                self._session = None
                await self.authenticate()

    def _accepted(self, session: str) -> None:
        if self._session == session:
            self._session_accepted = True

    # ---- calls ---------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        route: str,
        path: str,
        body: Json = None,
        *,
        idempotent: bool = True,
    ) -> httpx.Response:
        """One logical call; returns a 2xx response or raises the mapped error."""
        refused_before = False
        for attempt in range(1, ATTEMPTS_PER_CALL + 1):
            session = await self._session_id()
            fresh = not self._session_accepted
            resp = await self._send_with_policy(
                route,
                lambda s=session: self._http.request(  # type: ignore[misc]
                    method, path, json=body, headers={"X-TokenID": s}
                ),
                idempotent=idempotent,
                method=method,
            )
            if resp.status_code in REFUSED:
                if refused_before and fresh and not self._session_accepted:
                    # A session opened for this very call was refused: the token is.
                    raise OneFileAuthError(
                        "the API token was refused (a fresh session was refused too)",
                        route=route,
                        status=resp.status_code,
                    )
                if attempt == ATTEMPTS_PER_CALL:
                    raise OneFileAuthError(
                        "the API token was refused (the session was refused after renewal)",
                        route=route,
                        status=resp.status_code,
                    )
                refused_before = True
                await self._renew(session)
                continue
            self._accepted(session)
            self._raise_for_status(route, resp)
            return resp
        raise AssertionError("unreachable")

    async def _send_with_policy(
        self,
        route: str,
        send: Callable[[], Awaitable[httpx.Response]],
        *,
        idempotent: bool,
        readable: Callable[[httpx.Response], bool] = _looks_like_json,
        method: str = "POST",
    ) -> httpx.Response:
        failures = 0
        limited = 0
        while True:
            try:
                return await self._attempt(
                    route, send, idempotent=idempotent, readable=readable, method=method
                )
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
                    self.quota.pause(pause)
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
        readable: Callable[[httpx.Response], bool],
        method: str,
    ) -> httpx.Response:
        await self.quota.acquire()
        tally = _tally.get()
        if tally is not None and route != AUTH_ROUTE:
            tally.add(method, route)
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
            if 200 <= status < 300 and resp.content and not readable(resp):
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
    def json(route: str, resp: httpx.Response) -> Json:
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return resp.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise OneFileUnavailable("unreadable answer", route=route) from None


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
