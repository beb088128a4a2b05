"""python -m app.onefile.simulator --host 127.0.0.1 --port 8900 [options]"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from .app import create_simulator_app
from .config import REALISTIC, SimulatorConfig
from .state import SimulatorState

DESCRIPTION = "A OneFile API v2.1 simulator: strict, rate limited, faulty and realistic on demand."


def build_parser(prog: str = "python -m app.onefile.simulator") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8900, help="0: any free port")
    p.add_argument("--token", action="append", help="accepted API token (repeatable)")
    p.add_argument("--seed-learners", type=int, default=0, help="learners present at start")
    p.add_argument("--seed", type=int, default=None, help="random seed of latency and faults")

    q = p.add_argument_group("quota and latency")
    q.add_argument("--rate-limit", type=int, default=300, help="calls per period")
    q.add_argument("--rate-period", type=float, default=60.0, help="seconds, sliding window")
    q.add_argument("--retry-after", action="store_true", help="send Retry-After with 429s")
    q.add_argument("--latency", type=float, default=0.0, help="seconds per call")
    q.add_argument("--latency-jitter", type=float, default=0.5, help="fraction of the latency")
    q.add_argument("--session-ttl", type=float, default=86400.0, help="session lifetime, s")

    f = p.add_argument_group("faults (fractions of calls, drawn after the quota)")
    f.add_argument("--fault-rate", type=float, default=0.0, help="500/502/503 answers")
    f.add_argument("--timeout-rate", type=float, default=0.0, help="hang, then 504")
    f.add_argument("--garbage-rate", type=float, default=0.0, help="200 with a non-JSON body")
    f.add_argument("--hang-seconds", type=float, default=30.0, help="how long a timeout hangs")

    b = p.add_argument_group(
        "which OneFile (docs/onefile-api.md; default: the first reading, "
        "--realistic: every behaviour the public evidence makes likely)"
    )
    b.add_argument("--realistic", action="store_true", help="turn every behaviour below on")
    b.add_argument("--session-body", choices=("json", "text"), help="json (default) or text")
    _switch(b, "--thin-rows", "search rows hold only a few fields")
    b.add_argument(
        "--page-cap", type=int, metavar="N", help="answer at most N rows a page (0: no cap)"
    )
    _switch(b, "--page-cap-skips", "a capped page keeps the asked size's offsets")
    _switch(b, "--update-replaces", "an update clears the writable fields it does not send")
    b.add_argument(
        "--expired-session-status", type=int, choices=(401, 403), help="401 (default) or 403"
    )
    _switch(b, "--email-required", "every user needs an Email, assessors included")
    _switch(b, "--review-search-needs-centre", "Review/Search needs OrganisationID")
    b.add_argument(
        "--placement-answer", choices=("id", "object"), help="POST Placement answers id or object"
    )
    _switch(b, "--inactive-placement-refused", "a learner's placement must be Active")
    _switch(b, "--dates-as-uk-midnight", "date-only values served as UK midnight")
    _switch(b, "--duplicate-misid-refused", "refuse a learner whose assessor's MISID is shared")
    return p


def _switch(group: argparse._ArgumentGroup, flag: str, text: str) -> None:
    group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def config_from_args(a: argparse.Namespace) -> SimulatorConfig:
    """Defaults, then the --realistic preset, then each behaviour flag given."""
    behaviours: dict[str, Any] = dict(REALISTIC) if a.realistic else {}
    for name in (*REALISTIC, "page_cap_skips"):
        value = getattr(a, name)
        if value is not None:
            behaviours[name] = value
    if behaviours.get("page_cap") == 0:
        behaviours["page_cap"] = None
    return SimulatorConfig(
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
        **behaviours,
    )


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        config = config_from_args(a)
    except ValueError as err:
        parser.error(str(err))  # one line and exit status 2
    state = SimulatorState()
    if a.seed_learners:
        state.seed_learners(a.seed_learners)
    app = create_simulator_app(config, state)
    uvicorn.run(app, host=a.host, port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
