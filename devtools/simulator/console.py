"""The simulator as a program a person runs: what it says at start, how it serves, how it stops.

A PICSWeb developer starting `onefile-sync-dev simulate` needs, without reading code, the address
to call, the token to send, the ids OneFile would have given them, the options in force and the
lines to paste to point the service at it. So the start lines say exactly that, and only once
the port is really listening (the socket is bound here, before uvicorn starts, so `--port 0`
prints the port it got and an address in use is one clean line instead of a uvicorn trace).

Stopping: uvicorn takes SIGINT and SIGTERM while it serves, shuts down gracefully, then
re-raises the signal — which would end the process with a KeyboardInterrupt traceback, or with
status −15 for SIGTERM. So SIGTERM is made to behave as Ctrl-C for the whole run (seeding
included) and the KeyboardInterrupt is caught once, at the top: either signal ends with one
"simulator stopped" line and exit status 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TextIO

import uvicorn
from starlette.applications import Starlette

from .app import create_simulator_app
from .config import REALISTIC, SimulatorConfig
from .state import SimulatorState

STOPPED = "simulator stopped"
_WILDCARDS = {"", "0.0.0.0", "::"}  # noqa: S104 - names, not a bind


def base_url(config: SimulatorConfig, host: str, port: int) -> str:
    """The OneFile base URL a client uses (with the path prefix and a trailing slash)."""
    shown = "127.0.0.1" if host in _WILDCARDS else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}{config.path_prefix}/"


def _ids(values: frozenset[int] | list[int]) -> str:
    return ", ".join(str(v) for v in sorted(values))


def _standards(ids: list[int]) -> str:
    if not ids:
        return "none"
    if ids == list(range(ids[0], ids[-1] + 1)):
        return f"{ids[0]}–{ids[-1]} ({len(ids)})"
    return _ids(ids)


def _percent(rate: float) -> str:
    return f"{rate * 100:g}%"


def _faults(c: SimulatorConfig) -> str:
    parts = []
    if c.fault_rate:
        parts.append(f"5xx {_percent(c.fault_rate)}")
    if c.timeout_rate:
        work = ", work done" if c.timeout_does_work else ""
        parts.append(f"timeouts {_percent(c.timeout_rate)} (hang {c.hang_seconds:g} s{work})")
    if c.garbage_rate:
        parts.append(f"garbage {_percent(c.garbage_rate)}")
    return ", ".join(parts) or "none"


def behaviour_words(c: SimulatorConfig) -> list[str]:
    """Each which-OneFile option in force, in words."""
    cap = "no page cap"
    if c.page_cap is not None:
        how = "offsets of the asked size" if c.page_cap_skips else "size clamped"
        cap = f"page cap {c.page_cap} ({how})"
    return [
        f"session as {'bare text' if c.session_body == 'text' else 'a JSON string'}",
        "thin search rows" if c.thin_rows else "full search rows",
        cap,
        "updates replace the record" if c.update_replaces else "updates merge",
        f"expired session {c.expired_session_status}",
        "Email required for every user" if c.email_required else "Email required for learners",
        "Review/Search needs OrganisationID" if c.review_search_needs_centre else "",
        f"POST Placement answers {'the record' if c.placement_answer == 'object' else 'the id'}",
        "inactive placements refused" if c.inactive_placement_refused else "",
        "dates as UK midnight" if c.dates_as_uk_midnight else "dates as midnight UTC",
        "shared assessor MISIDs refused" if c.duplicate_misid_refused else "",
    ]


def start_lines(config: SimulatorConfig, url: str, seeded: int) -> list[str]:
    """What the simulator says once it listens."""
    c = config
    token = min(c.api_tokens)
    preset = {k: getattr(c, k) for k in REALISTIC}
    kind = (
        "realistic (--realistic)"
        if preset == REALISTIC
        else "as first read (the defaults)"
        if c.behaviours() == SimulatorConfig().behaviours()
        else "chosen by flags"
    )
    retry_after = "sent" if c.send_retry_after else "not sent"
    latency = f"{c.latency:g} s ± {_percent(c.latency_jitter)}" if c.latency else "none"
    words = _lines([w for w in behaviour_words(c) if w], indent="    ")
    return [
        f"OneFile simulator listening: {url}",
        f"  API token (X-CustomerToken): {', '.join(sorted(c.api_tokens))}",
        f"  organisation (centre) id: {c.organisation_id}; classroom ids: {_ids(c.classroom_ids)}"
        f"; visit type ids: {_ids(c.visit_type_ids)}",
        f"  standards: {_standards(sorted(c.standards))}",
        f"  quota: {c.rate_limit} calls per {c.rate_period:g} s (sliding window, 429s count);"
        f" Retry-After {retry_after}",
        f"  latency: {latency}; faults: {_faults(c)}",
        f"  behaviours: {kind}",
        *words,
        f"  learners seeded: {seeded}",
        "Point the service at it:",
        f"  ONEFILE_BASE_URL={url}",
        f"  ONEFILE_API_TOKEN={token}",
        f"  ONEFILE_ORGANISATION_ID={c.organisation_id}",
        f"  ONEFILE_CLASSROOM_ID={min(c.classroom_ids)}",
        f"  ONEFILE_RATE_LIMIT={c.rate_limit}",
        f"  ONEFILE_RATE_PERIOD={c.rate_period:g}",
        "Control (no quota, not logged): GET /_sim/stats, /_sim/calls, /_sim/dump, /_sim/config;",
        "  POST /_sim/config, /_sim/expire-sessions, /_sim/changes, /_sim/seed",
        "Ctrl-C stops it.",
    ]


def _lines(items: list[str], indent: str, width: int = 96) -> list[str]:
    """Items joined by "; ", wrapped between items (never inside one)."""
    lines: list[str] = []
    line = ""
    for item in items:
        if line and len(indent) + len(line) + 2 + len(item) > width:
            lines.append(indent + line + ";")
            line = ""
        line = f"{line}; {item}" if line else item
    return [*lines, indent + line] if line else lines


class _Server(uvicorn.Server):
    """uvicorn, calling `on_started` once it listens."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            self._on_started()


def listen(host: str, port: int) -> socket.socket:
    """A bound socket (OSError when the address cannot be had)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


async def _serve(
    app: Starlette, config: SimulatorConfig, sock: socket.socket, seeded: int, out: TextIO
) -> None:
    def say_started() -> None:
        host, port = sock.getsockname()[:2]
        for line in start_lines(config, base_url(config, host, port), seeded):
            print(line, file=out, flush=True)

    uv_config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    await _Server(uv_config, say_started).serve(sockets=[sock])


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, as Ctrl-C does (uvicorn re-raises it after its
    graceful shutdown; before it serves, it interrupts seeding)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, saved)


def run(
    config: SimulatorConfig,
    host: str,
    port: int,
    *,
    seed_learners: int = 0,
    out: TextIO = sys.stdout,
) -> int:
    """Seed, serve until Ctrl-C or SIGTERM, say so; → the exit status."""
    try:
        sock = listen(host, port)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        print(f"simulator: cannot listen on {host}:{port}: {reason}", file=sys.stderr)
        return 1
    with _sigterm_as_interrupt():
        try:
            state = SimulatorState()
            state.seed_learners(seed_learners)
            app = create_simulator_app(config, state)
            asyncio.run(_serve(app, config, sock, seed_learners, out))
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM, at any moment of the run
            pass
        finally:
            sock.close()
    print(STOPPED, file=out, flush=True)
    return 0
