"""Start-up that fails in one clean log line: the reason, the setting to fix, no traceback.

What stops start-up is a setting (ConfigurationError), the database (DatabaseProblem: not
reachable, not there, no PICSWeb tables, a migration that failed) or a bug. Left alone, each
would reach the operator as a traceback: the lifespan raises, Starlette formats the traceback
into its "lifespan.startup.failed" message and uvicorn logs that text — many lines, holding
exception messages that may quote values (asyncpg quotes database names and inputs). Instead:

- `explain_startup_failures` wraps the lifespan and logs exactly one error line for whatever
  stops it: the message of our own exceptions (they are written to name the setting and never
  a secret), or only the type and place of anything else (app/logs.py never logs messages);
  then it re-raises, so uvicorn still exits with its start-up failure status (3).
- `QuietLifespanFailures` removes the formatted traceback from the failure message on its way
  to uvicorn, which then logs only its generic "Application startup failed. Exiting." (kept,
  as info: app/logs.py lowers it, so the reason is the one error line).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db.target import DatabaseProblem
from app.settings import ConfigurationError

log = logging.getLogger("app")

Lifespan = Callable[[Any], AbstractAsyncContextManager[None]]


def explain_startup_failures(lifespan: Lifespan) -> Lifespan:
    """The same lifespan; whatever stops it is logged as one line before it propagates."""

    @contextlib.asynccontextmanager
    async def explained(app: Any) -> AsyncIterator[None]:
        started = False

        async def after_shutdown(_: Any, exc: BaseException | None, __: Any) -> bool:
            if started and isinstance(exc, Exception):
                log.error("shutdown failed", exc_info=exc)
            return False  # never swallows it

        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_exit(after_shutdown)  # runs last: sees what the lifespan raised
            try:
                await stack.enter_async_context(lifespan(app))
            except (ConfigurationError, DatabaseProblem) as exc:
                settings = exc.settings if isinstance(exc, ConfigurationError) else [exc.setting]
                log.error(f"start-up failed: {exc}", extra={"setting": list(settings)})
                raise
            except Exception as exc:
                log.error("start-up failed: unexpected error", exc_info=exc)
                raise
            started = True
            yield

    return explained


class QuietLifespanFailures:
    """Keeps Starlette's formatted traceback out of uvicorn's log (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_quietly(message: Message) -> None:
            if message["type"] in ("lifespan.startup.failed", "lifespan.shutdown.failed"):
                message = {**message, "message": ""}
            await send(message)

        await self.app(scope, receive, send_quietly)
