"""The ASGI app: OneFile calls under the path prefix, control endpoints under /_sim/."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import api
from .config import SimulatorConfig
from .dialect import Dialect
from .state import Session, SimulatorState, retry_after_header
from .wire import ApiError, dumps

JSON = "application/json; charset=utf-8"
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
_GARBAGE = (
    ("<html><body><h1>Service Unavailable</h1></body></html>", "text/html"),
    ("<html>Service Unavailable</html>", JSON),
    ('[{"ID":10001,"FirstName":"Ad', JSON),
)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    if payload is api.NO_BODY:
        return Response(status_code=status, headers=headers)
    return Response(dumps(payload), status_code=status, media_type=JSON, headers=headers)


def _message(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json(status, {"message": message}, headers)


class Simulator:
    """Per-app runtime: state, config and the RNG that draws latency and faults."""

    def __init__(self, config: SimulatorConfig, state: SimulatorState) -> None:
        self.config = config
        self.state = state
        self.rng = random.Random(config.seed)
        self.dialect = Dialect(config)
        self.ctx = api.Ctx(state, config, self.dialect)

    # ---- the OneFile API ---------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        state = self.state
        now = state.clock()
        method = request.method
        agent = request.headers.get("user-agent", "")
        found = api.match(method, request.path_params["rest"])
        if isinstance(found, int):
            state.record_call(now, method, f"{method} <unmatched>", found, agent)
            if found == 405:
                return _message(405, f"The requested resource does not support method {method}")
            return _message(404, "No HTTP resource was found that matches the request URI")
        route, params = found
        response = await self._answer(request, route, params, now)
        state.record_call(now, method, route.name, response.status_code, agent)
        return response

    async def _answer(
        self, request: Request, route: api.RouteDef, params: tuple[int, ...], now: float
    ) -> Response:
        state, cfg = self.state, self.config
        # 1. Whose call is it? (before anything else; unidentifiable calls are not counted)
        session = None
        if route is api.AUTHENTICATION:
            token = request.headers.get("x-customertoken")
            if token not in cfg.api_tokens:
                await self._latency()
                return _message(401, "invalid or missing X-CustomerToken")
        else:
            session = state.sessions.get(request.headers.get("x-tokenid") or "")
            if session is None:
                await self._latency()
                return self._session_refused()
            token = session.token
        assert token is not None
        # 2. The rate limit, at arrival time; a refused call counts too.
        wait = state.admit(token, now, cfg.rate_limit, cfg.rate_period)
        await self._latency()
        if wait is not None:
            headers = {"Retry-After": retry_after_header(wait)} if cfg.send_retry_after else None
            return _message(429, "API rate limit exceeded", headers)
        # 3. Faults, before doing anything.
        rng = self.rng
        if cfg.fault_rate and rng.random() < cfg.fault_rate:
            return self._fault(rng.choice((500, 502, 503)))
        if cfg.timeout_rate and rng.random() < cfg.timeout_rate:
            if cfg.timeout_does_work:
                await self._perform(request, route, params, session, now)
            await asyncio.sleep(cfg.hang_seconds)
            return _message(504, "Gateway Timeout")
        if cfg.garbage_rate and rng.random() < cfg.garbage_rate:
            text, media = rng.choice(_GARBAGE)
            return Response(text, status_code=200, media_type=media)
        return await self._perform(request, route, params, session, now)

    async def _perform(
        self,
        request: Request,
        route: api.RouteDef,
        params: tuple[int, ...],
        session: Session | None,
        now: float,
    ) -> Response:
        state, cfg = self.state, self.config
        if route is api.AUTHENTICATION:
            token = request.headers["x-customertoken"]
            sid = state.open_session(token, now)
            # Labelled JSON whatever the dialect: OneFile's header need not match its body.
            return Response(self.dialect.session_body(sid), 200, media_type=JSON)
        assert session is not None
        if session.expired or now - session.issued >= cfg.session_ttl:
            return self._session_refused()
        body: Any = None
        if route.takes_body:
            raw = await request.body()
            if not raw.strip():
                return _message(400, "the request body is missing")
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                return _message(400, "the request body is not valid JSON")
        assert route.handler is not None
        try:
            status, payload = route.handler(self.ctx, params, body)
        except ApiError as err:
            return _message(err.status, err.message)
        return _json(status, payload)

    def _session_refused(self) -> Response:
        status = self.dialect.session_refused_status
        return _message(status, "Authorization has been denied for this request.")

    async def _latency(self) -> None:
        cfg = self.config
        if cfg.latency > 0:
            j = cfg.latency_jitter
            await asyncio.sleep(cfg.latency * self.rng.uniform(1 - j, 1 + j))

    @staticmethod
    def _fault(status: int) -> Response:
        if status == 500:
            return _message(500, "An error has occurred.")
        text = "Bad Gateway" if status == 502 else "Service Unavailable"
        return Response(
            f"<html><body><h1>{status} {text}</h1></body></html>", status, None, "text/html"
        )

    # ---- control endpoints (never limited, faulted or logged) -----------------------------

    async def stats(self, request: Request) -> Response:
        return _json(200, self.state.stats())

    async def calls(self, request: Request) -> Response:
        rows = [
            {"t": c.t, "method": c.method, "route": c.route, "status": c.status, "agent": c.agent}
            for c in self.state.call_log
        ]
        return _json(200, rows)

    async def reset_calls(self, request: Request) -> Response:
        self.state.reset_calls()
        return Response(status_code=204)

    async def set_config(self, request: Request) -> Response:
        changes = await _control_body(request)
        if not isinstance(changes, dict):
            return _message(400, "a JSON object of settings is expected")
        try:
            self.config.apply(changes)
        except ValueError as err:
            return _message(400, str(err))
        return _json(200, self.config.runtime_values())

    async def get_config(self, request: Request) -> Response:
        return _json(200, self.config.runtime_values())

    async def expire_sessions(self, request: Request) -> Response:
        self.state.expire_sessions()
        return Response(status_code=204)

    async def dump(self, request: Request) -> Response:
        return _json(200, self.state.dump())

    async def changes(self, request: Request) -> Response:
        body = await _control_body(request)
        fraction = body.get("fraction", 0.1) if isinstance(body, dict) else None
        seed = body.get("seed") if isinstance(body, dict) else None
        if not isinstance(fraction, int | float) or not 0 <= fraction <= 1:
            return _message(400, "fraction must be a number between 0 and 1")
        if seed is not None and not isinstance(seed, int):
            return _message(400, "seed must be an integer")
        return _json(200, {"changed": self.state.apply_changes(float(fraction), seed)})

    async def seed(self, request: Request) -> Response:
        body = await _control_body(request)
        count = body.get("learners") if isinstance(body, dict) else None
        if not isinstance(count, int) or count < 0:
            return _message(400, "learners must be a non-negative integer")
        kwargs = {k: body[k] for k in ("standard_id", "reviews", "misid_prefix") if k in body}
        try:
            ids = self.state.seed_learners(count, **kwargs)
        except (TypeError, ValueError) as err:
            return _message(400, str(err))
        return _json(200, {"learners": ids})


async def _control_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return None


def create_simulator_app(
    config: SimulatorConfig | None = None, state: SimulatorState | None = None
) -> Starlette:
    """A OneFile API v2.1 simulator; the state is `app.state.sim`, the config
    `app.state.sim_config` (both live: change them and the next call sees it)."""
    config = config if config is not None else SimulatorConfig()
    state = state if state is not None else SimulatorState()
    sim = Simulator(config, state)
    routes = [
        Route("/_sim/stats", sim.stats, methods=["GET"]),
        Route("/_sim/calls", sim.calls, methods=["GET"]),
        Route("/_sim/reset-calls", sim.reset_calls, methods=["POST"]),
        Route("/_sim/config", sim.set_config, methods=["POST"]),
        Route("/_sim/config", sim.get_config, methods=["GET"]),
        Route("/_sim/expire-sessions", sim.expire_sessions, methods=["POST"]),
        Route("/_sim/dump", sim.dump, methods=["GET"]),
        Route("/_sim/changes", sim.changes, methods=["POST"]),
        Route("/_sim/seed", sim.seed, methods=["POST"]),
        Route(config.path_prefix + "/{rest:path}", sim.handle, methods=_ALL_METHODS),
    ]
    app = Starlette(routes=routes)
    app.state.sim = state
    app.state.sim_config = config
    app.state.simulator = sim
    return app
