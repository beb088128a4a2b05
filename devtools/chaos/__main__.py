"""`python -m devtools.chaos`: the full-size reliability runs of issue 7 (items 1–4).

crash    SIGKILL the service --kills times at seeded random moments (--enrol-kills of them
         while --enrol learners are enrolled through the API, the rest during a sync of
         --learners), restarting it each time; then compare with an uninterrupted run.
faults   5% 5xx, 2% timeouts (lost answers after the work was done), 2% malformed bodies,
         two 429 bursts and a session expiry during the sync; counts checked in /metrics.
outage   Postgres taken away (devtools/chaos/pgproxy.py) for --outage seconds mid-sync.
replicas two service processes, one database: one sync at a time, the quota never exceeded
         in any window, the leader SIGKILLed and the other taking over — the suite's test,
         --repeat times in a row (20) beside --burners CPU-burning processes (2: on a 2-core
         machine the service, the simulator and Postgres then fight for the CPU).
handover the hand-over at full size (issue 13): --handover-learners at 1,000 calls per 10 s
         with 40 ms latency; the leader SIGKILLed, then (another run) frozen by SIGSTOP for
         --freeze seconds and continued. Stall to the survivor's first call, calls by the
         woken process, calls per learner, 429s — from the simulator's call log.
Logs and results in --out (results.json). Exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from devtools.chaos.checks import Result, check_against, dump_json, metric_sum
from devtools.chaos.faults import Chaos
from devtools.chaos.replicas import Event, run_replicas, summary_line
from devtools.chaos.scenario import run_scenario
from devtools.chaos.world import World
from devtools.demo.embedded import embedded_postgres
from devtools.service_process import ROOT

SCENARIOS = ("crash", "faults", "outage", "replicas", "handover")
# Bounds of issue 13: work resumes within these many seconds of the leader's SIGKILL / SIGSTOP.
KILL_STALL_MAX = 8.0
FREEZE_STALL_MAX = 15.0
FAULTS = {
    "fault_rate": 0.05,
    "timeout_rate": 0.02,
    "hang_seconds": 2.0,
    "timeout_does_work": True,
    "garbage_rate": 0.02,
}


def _show(result: Result, extra_problems: list[str]) -> bool:
    problems = result.problems + extra_problems
    print(
        f"  {result.label}: {'OK' if not problems else 'FAILED'} in {result.seconds:.0f} s; "
        f"kills {len(result.kills)}; syncs {[s['status'] for s in result.syncs]}; "
        f"OneFile answers {result.onefile_calls}"
    )
    for p in problems:
        print(f"    ✗ {p}")
    return not problems


async def run(a: argparse.Namespace, admin: str) -> int:
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    world = World(learners=a.learners, enrol=a.enrol, seed=a.seed, rate=a.fast_rate,
                  period=a.period, onefile=a.onefile)  # fmt: skip
    results: dict[str, Any] = {}
    ok = True
    say = print if a.verbose else (lambda _: None)
    reference: Result | None = None
    if set(a.scenario) & {"crash", "faults", "outage"}:
        print(f"reference: an uninterrupted run of {a.learners} learners ({a.enrol} enrolled)")
        reference = await run_scenario(admin, world, Chaos(), out / "reference", "ref", log=say)
        ok &= _show(reference, [])
        results["reference"] = reference.summary()
    assert reference is not None or not set(a.scenario) & {"crash", "faults", "outage"}
    if "crash" in a.scenario and reference is not None:
        print(f"crash: {a.kills} SIGKILLs ({a.enrol_kills} during enrolment)")
        chaos = Chaos(seed=a.seed, kills_enrol=a.enrol_kills, kills_sync=a.kills - a.enrol_kills,
                      rate=a.rate, kill_delay=(0.5, 3.0), lease=a.lease)  # fmt: skip
        r = await run_scenario(admin, world, chaos, out / "crash", "crash", log=say)
        extra = check_against(r, reference)
        if len(r.kills) < a.kills:
            extra.append(f"only {len(r.kills)} of {a.kills} kills landed while work was running")
        ok &= _show(r, extra)
        results["crash"] = r.summary() | {"vs_reference": extra}
    if "faults" in a.scenario and reference is not None:
        print("faults: 5% 5xx, 2% timeouts, 2% garbage, 2 bursts of 429, a session expiry")
        chaos = Chaos(seed=a.seed + 1, faults=FAULTS, onefile_timeout=1.0, burst_429=2,
                      expire_sessions=1, retry_sync=True, rate=a.rate * 4)  # fmt: skip
        r = await run_scenario(admin, world, chaos, out / "faults", "faults", log=say)
        extra = check_against(r, reference)
        m = r.metrics
        seen = {
            "5xx": sum(
                metric_sum(m, "onefile_calls_total", status=s) for s in ("500", "502", "503")
            ),
            "timeouts": metric_sum(m, "onefile_calls_total", status="0"),
            "429": metric_sum(m, "onefile_rate_limited_total"),
            "refused": sum(
                metric_sum(m, "onefile_calls_total", status=s) for s in ("401", "403")
            ),
            "retries": metric_sum(m, "onefile_retries_total"),
        }  # fmt: skip
        for k in ("5xx", "timeouts", "429", "refused"):
            if seen[k] != r.faults_injected[k] or not seen[k]:
                extra.append(
                    f"/metrics shows {seen[k]} {k}, the simulator answered {r.faults_injected[k]}"
                )
        if r.syncs[-1]["status"] != "succeeded" or len(r.syncs) > 2:
            extra.append(f"syncs {r.syncs}")
        print(
            f"    injected {r.faults_injected}; /metrics {seen}; "
            f"enrolments retried {r.enrol_retried}"
        )
        ok &= _show(r, extra)
        results["faults"] = r.summary() | {"vs_reference": extra, "metrics_seen": seen}
    if "outage" in a.scenario and reference is not None:
        print(f"outage: Postgres away for {a.outage:g} s during the sync")
        chaos = Chaos(seed=a.seed + 2, pg_outage=a.outage, rate=a.rate * 4)
        r = await run_scenario(admin, world, chaos, out / "outage", "outage", log=say)
        extra = check_against(r, reference)
        if r.extra.get("service_starts") != 1:
            extra.append("the service was restarted")
        print(f"    /health during the outage {r.extra.get('health_during_outage')}; "
              f"200 again {r.extra.get('health_200_after_s')} s after")  # fmt: skip
        ok &= _show(r, extra)
        results["outage"] = r.summary() | {"vs_reference": extra}
    if "replicas" in a.scenario:
        print(
            f"replicas: two processes, the leader SIGKILLed mid-sync; {a.repeat} runs in a row "
            f"beside {a.burners} CPU burners"
        )
        rworld = World(learners=80, enrol=0, seed=a.seed, rate=50, period=5.0,
                       onefile=a.onefile)  # fmt: skip
        runs = []
        with cpu_burners(a.burners):
            for i in range(a.repeat):
                r = await run_replicas(admin, rworld, out / "replicas" / str(i), seed=a.seed + i,
                                       log=say, event_after=1.0)  # fmt: skip
                extra = _stall_problems(r, KILL_STALL_MAX)
                print(f"  run {i + 1}: {summary_line(r)}")
                ok &= _show(r, extra) if extra or r.problems else True
                runs.append(r.summary() | {"bounds": extra})
        green = sum(1 for x in runs if not x["problems"] and not x["bounds"])
        print(f"    {green} of {a.repeat} runs green")
        results["replicas"] = {"runs": runs, "green": green, "burners": a.burners}
    if "handover" in a.scenario:
        hworld = World(learners=a.handover_learners, enrol=0, seed=a.seed, rate=1000,
                       period=10.0, latency=0.04, onefile=a.onefile)  # fmt: skip
        results["handover"] = {}
        events: tuple[tuple[Event, float], ...] = (
            ("kill", KILL_STALL_MAX),
            ("freeze", FREEZE_STALL_MAX),
        )
        for event, bound in events:
            print(f"handover: {a.handover_learners} learners, the leader's {event} mid-sync")
            r = await run_replicas(admin, hworld, out / "handover" / event, event=event,
                                   seed=a.seed, log=say, event_after=3.0,
                                   freeze_for=a.freeze)  # fmt: skip
            extra = _stall_problems(r, bound)
            print(f"  {summary_line(r)}")
            ok &= _show(r, extra)
            results["handover"][event] = r.summary() | {"bounds": extra}
    dump_json(out / "results.json", results)
    print(f"results in {out / 'results.json'}")
    return 0 if ok else 1


def _stall_problems(r: Result, bound: float) -> list[str]:
    stall = r.extra.get("stall_s")
    if stall is None or stall > bound:
        return [f"work resumed {stall} s after the event (bound {bound} s)"]
    return []


@contextlib.contextmanager
def cpu_burners(n: int) -> Iterator[None]:
    """`n` processes that do nothing but burn CPU, for as long as the block runs."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def main(argv: list[str] | None = None, prog: str = "python -m devtools.chaos") -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--scenario", action="append", choices=SCENARIOS,
                    help="run only this one (repeatable); default: all")  # fmt: skip
    ap.add_argument("--learners", type=int, default=500, help="learners synced (default 500)")
    ap.add_argument("--enrol", type=int, default=50, help="of them, enrolled via the API (50)")
    ap.add_argument("--kills", type=int, default=20, help="SIGKILLs in the crash run (20)")
    ap.add_argument("--enrol-kills", type=int, default=8, help="of them during enrolment (8)")
    ap.add_argument(
        "--rate",
        type=int,
        default=50,
        # A restarted service resumes in about 2 s since issue 13 (it waited 5.5 s before):
        # at 100 the enrolment of 50 learners ended after 2 of its 8 kills.
        help="calls per --period in the crash run (50: every kill lands while work runs)",
    )
    ap.add_argument("--fast-rate", type=int, default=2000, help="for the reference run (2000)")
    ap.add_argument("--period", type=float, default=10.0, help="quota period, s (10)")
    ap.add_argument("--lease", type=float, default=3.0, help="JOB_LEASE_SECONDS (3)")
    ap.add_argument("--outage", type=float, default=6.0, help="Postgres outage, s (6)")
    ap.add_argument("--repeat", type=int, default=20, help="replicas runs in a row (20)")
    ap.add_argument("--burners", type=int, default=2, help="CPU burners beside them (2)")
    ap.add_argument("--handover-learners", type=int, default=3000,
                    help="learners of the full-size hand-over runs (3000)")  # fmt: skip
    ap.add_argument("--freeze", type=float, default=25.0, help="SIGSTOP length, s (25)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--onefile", choices=("today", "realistic"), default="realistic",
        help="which OneFile the simulator is (default realistic: thin rows, a page cap, …)",
    )  # fmt: skip
    ap.add_argument("--out", default=str(ROOT / ".chaos"))
    ap.add_argument("-v", "--verbose", action="store_true", help="narrate kills and phases")
    a = ap.parse_args(argv)
    a.scenario = a.scenario or list(SCENARIOS)
    if not 0 <= a.enrol_kills <= a.kills:
        ap.error("--enrol-kills must be between 0 and --kills")
    admin = os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if admin:
        return asyncio.run(run(a, admin))
    with embedded_postgres(ROOT / ".pgdata" / "chaos") as url:
        return asyncio.run(run(a, url))


if __name__ == "__main__":
    sys.exit(main())
