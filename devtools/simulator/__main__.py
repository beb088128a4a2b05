"""python -m devtools.simulator --host 127.0.0.1 --port 8900 [options]"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from . import console
from .config import REALISTIC, SimulatorConfig

DESCRIPTION = "A OneFile API v2.1 simulator: strict, rate limited, faulty and realistic on demand."
EPILOG = (
    "At start it prints its base URL, token, centre and classroom ids and the ONEFILE_* lines "
    "that point the service at it; Ctrl-C (or SIGTERM) stops it."
)


def build_parser(prog: str = "python -m devtools.simulator") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description=DESCRIPTION, epilog=EPILOG, usage="%(prog)s [options]"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    p.add_argument(
        "--port", type=int, default=8900, metavar="N", help="port (%(default)s; 0: any free port)"
    )
    p.add_argument(
        "--token", action="append", metavar="TOKEN", help="accepted API token (sim-token); repeat"
    )
    p.add_argument(
        "--seed-learners", type=int, default=0, metavar="N", help="learners present at start"
    )
    p.add_argument("--seed", type=int, metavar="N", help="random seed of latency and faults")

    q = p.add_argument_group("quota and latency")
    q.add_argument(
        "--rate-limit",
        type=int,
        default=300,
        metavar="N",
        help="quota: N calls per period (%(default)s)",
    )
    q.add_argument(
        "--rate-period",
        type=float,
        default=60.0,
        metavar="S",
        help="quota period, a sliding window of S seconds (%(default)s)",
    )
    q.add_argument("--retry-after", action="store_true", help="send Retry-After with 429s")
    q.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="S",
        help="seconds added to every call (%(default)s)",
    )
    q.add_argument(
        "--latency-jitter",
        type=float,
        default=0.5,
        metavar="F",
        help="latency varies by ± F of itself (%(default)s)",
    )
    q.add_argument(
        "--session-ttl",
        type=float,
        default=86400.0,
        metavar="S",
        help="seconds a session lives (%(default)s)",
    )

    f = p.add_argument_group("faults (a fraction F of calls, drawn after the quota)")
    f.add_argument("--fault-rate", type=float, default=0.0, metavar="F", help="500/502/503")
    f.add_argument("--timeout-rate", type=float, default=0.0, metavar="F", help="hang, then 504")
    f.add_argument(
        "--garbage-rate", type=float, default=0.0, metavar="F", help="200 with a non-JSON body"
    )
    f.add_argument(
        "--hang-seconds",
        type=float,
        default=30.0,
        metavar="S",
        help="how long a timeout hangs (%(default)s)",
    )

    b = p.add_argument_group(
        "which OneFile (docs/onefile-api.md; each default is the first reading)"
    )
    b.add_argument(
        "--realistic", action="store_true", help="every behaviour below that evidence makes likely"
    )
    b.add_argument("--session-body", choices=("json", "text"), help="session as JSON or bare text")
    _switch(b, "--thin-rows", "search rows hold only a few fields")
    b.add_argument("--page-cap", type=int, metavar="N", help="at most N rows a page (0: no cap)")
    _switch(b, "--page-cap-skips", "a capped page keeps the asked size's offsets")
    _switch(b, "--update-replaces", "an update clears the writable fields it does not send")
    b.add_argument(
        "--expired-session-status", type=int, choices=(401, 403), help="expired session answer"
    )
    _switch(b, "--email-required", "every user needs an Email, assessors included")
    _switch(b, "--review-search-needs-centre", "Review/Search needs OrganisationID")
    b.add_argument(
        "--placement-answer", choices=("id", "object"), help="what POST Placement answers"
    )
    _switch(b, "--inactive-placement-refused", "a new learner's placement must be Active")
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


def main(
    argv: list[str] | None = None,
    *,
    prog: str = "python -m devtools.simulator",
    defaults: Mapping[str, Any] | None = None,
) -> int:
    """Parse, then serve until stopped (`console.run`); → the exit status."""
    parser = build_parser(prog)
    parser.set_defaults(**(defaults or {}))
    a = parser.parse_args(argv)
    if a.page_cap is not None and a.page_cap < 0:
        parser.error("--page-cap must be 0 (no cap) or more")
    try:
        config = config_from_args(a)
    except ValueError as err:  # a value out of range: the message starts with its name
        parser.error("--" + str(err).replace("_", "-"))
    return console.run(config, a.host, a.port, seed_learners=a.seed_learners)


if __name__ == "__main__":
    raise SystemExit(main())
