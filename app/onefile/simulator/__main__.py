"""python -m app.onefile.simulator --host 127.0.0.1 --port 8900 [options]"""

from __future__ import annotations

import argparse

import uvicorn

from .app import create_simulator_app
from .config import SimulatorConfig
from .state import SimulatorState


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m app.onefile.simulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8900)
    p.add_argument("--token", action="append", help="accepted API token (repeatable)")
    p.add_argument("--rate-limit", type=int, default=300)
    p.add_argument("--rate-period", type=float, default=60.0)
    p.add_argument("--retry-after", action="store_true", help="send Retry-After with 429s")
    p.add_argument("--latency", type=float, default=0.0)
    p.add_argument("--latency-jitter", type=float, default=0.5)
    p.add_argument("--fault-rate", type=float, default=0.0)
    p.add_argument("--timeout-rate", type=float, default=0.0)
    p.add_argument("--garbage-rate", type=float, default=0.0)
    p.add_argument("--hang-seconds", type=float, default=30.0)
    p.add_argument("--session-ttl", type=float, default=86400.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--seed-learners", type=int, default=0, help="learners present at start")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    config = SimulatorConfig(
        api_tokens=frozenset(a.token or ["sim-token"]),
        rate_limit=a.rate_limit,
        rate_period=a.rate_period,
        send_retry_after=a.retry_after,
        latency=a.latency,
        latency_jitter=a.latency_jitter,
        fault_rate=a.fault_rate,
        timeout_rate=a.timeout_rate,
        garbage_rate=a.garbage_rate,
        hang_seconds=a.hang_seconds,
        session_ttl=a.session_ttl,
        seed=a.seed,
    )
    state = SimulatorState()
    if a.seed_learners:
        state.seed_learners(a.seed_learners)
    app = create_simulator_app(config, state)
    uvicorn.run(app, host=a.host, port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
