"""Two replicas on one database, the leader broken mid-sync: SIGKILLed, or frozen.

Both replicas are real service processes (`uvicorn app.main:app`) against the simulator, whose
window is strict and whose call log records each caller's User-Agent — the service puts its
pid there (app/onefile/client.py), so every call is known by the process that made it. The
harness and the simulator share one clock (`time.monotonic`, in this process), so the figures
come straight from the call log:

- stall: from the SIGKILL (or SIGSTOP) to the first OneFile call of the survivor (or of the
  woken process, should nobody have taken over) — the work resumed; the sync is the only job,
  so that call is the sync's;
- woken calls: calls by the frozen process after SIGCONT (must be none);
- calls per learner and `LearningAim/Search` per learner: against OneFile as first read a full
  exchange makes one such search per learner with a linked aim, so what is above that is work
  done twice (at most the learners in flight at the moment of the event; a double run nearly
  doubles it); the realistic OneFile reads aims by GET, and only the total says anything;
- the busiest window of the quota and the 429s, over both processes' calls together.

Plus the harness's usual verdict: the job succeeded, OneFile holds no duplicate, nothing lost.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import asyncpg
import httpx

from app.db.pool import _init_connection
from app.follow import FINAL
from devtools.chaos.checks import (
    Result,
    duplicates_and_losses,
    job_brief,
    job_problems,
    parse_metrics,
)
from devtools.chaos.faults import Chaos
from devtools.chaos.supervision import Supervisor, chaos_env
from devtools.chaos.world import (
    Log,
    World,
    apply_changes,
    drop_database,
    new_database,
    prepare_world,
    quiet,
    simulator,
)
from devtools.service_process import free_port
from devtools.simulator import SimulatorState

Event = Literal["kill", "freeze"]
OBSERVE_AFTER_WAKING = 5.0  # seconds the woken process is watched after SIGCONT


def max_in_window(times: list[float], period: float) -> int:
    """The most calls any window (t − period, t] holds."""
    times = sorted(times)
    best = lo = 0
    for hi, t in enumerate(times):
        while times[lo] <= t - period:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def agent_of(pid: int | None) -> str:
    return f"onefile-sync (pid {pid})"


async def run_replicas(
    admin_url: str,
    world: World,
    workdir: Path,
    *,
    event: Event = "kill",
    seed: int = 3,
    log: Log = quiet,
    event_after: float = 2.0,
    freeze_for: float = 25.0,
    job_lease: float = 30.0,
    leader_lease: float = 5.0,
) -> Result:
    """Replica a leads and runs a sync of every learner; `event_after` s into it, a is
    SIGKILLed (`kill`) or SIGSTOPped for `freeze_for` s and then continued (`freeze`)."""
    t_start = time.monotonic()
    result = Result(f"replicas-{event}")
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    chaos = Chaos(seed=seed, lease=job_lease)
    async with simulator(world, seed) as (sim_app, _base, sim_url):
        sim: SimulatorState = sim_app.state.sim
        db_url = await new_database(admin_url, f"onefile_sync_chaos_replicas_{free_port()}")
        try:
            await prepare_world(db_url, world, sim)
            result.changes = await apply_changes(db_url, sim, world)
            env = chaos_env(db_url, sim_url, world, chaos) | {
                "LEADER_LEASE_SECONDS": str(leader_lease)
            }
            a = Supervisor(env, workdir, "replica-a")
            b = Supervisor(env, workdir, "replica-b")
            try:
                await a.start(want_leader=True)
                await b.start(want_leader=False)
                await _run(a, b, result, event, event_after, freeze_for, log)
                async with httpx.AsyncClient(base_url=b.svc.url if b.svc else "") as plain:
                    result.metrics = parse_metrics((await plain.get("/metrics")).text)
                result.extra["service_starts"] = a.starts + b.starts
            finally:
                await a.stop()
                await b.stop()
            _judge_calls(sim, world, result)
            conn = await asyncpg.connect(db_url)
            try:
                await _init_connection(conn)
                bad_jobs, result.jobs = await job_problems(conn)
                result.problems += bad_jobs
                result.problems += await duplicates_and_losses(conn, sim)
            finally:
                await conn.close()
        finally:
            await drop_database(admin_url, db_url)
    result.seconds = round(time.monotonic() - t_start, 1)
    return result


async def _run(
    a: Supervisor,
    b: Supervisor,
    result: Result,
    event: Event,
    event_after: float,
    freeze_for: float,
    log: Log,
) -> None:
    health = {}
    for name, s in (("a", a), ("b", b)):
        health[name] = (await s.request("GET", "/health")).json()["leader"]
    if health != {"a": True, "b": False}:
        result.problems.append(f"leaders at start: {health} (want exactly one)")
    r = await b.request("POST", "/sync", json={"full": True})
    assert r.status_code == 202, r.text
    sync_id = r.json()["id"]
    r2 = await a.request("POST", "/sync", json={})
    result.extra["second_sync"] = [r2.status_code, r2.json().get("job_id")]
    if r2.status_code != 409 or r2.json().get("job_id") != sync_id:
        result.problems.append(f"second POST /sync: {r2.status_code} {r2.text}")
    while (job := await b.job(sync_id))["progress"]["done"] == 0:
        if job["status"] in FINAL:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(event_after)
    progress = (await b.job(sync_id))["progress"]
    assert a.svc is not None
    leader = a.svc
    pid = leader.pid
    t0 = time.monotonic()
    if event == "kill":
        await a.kill()
    else:
        leader.freeze()
    result.extra.update(event=event, event_at=t0, pid_a=pid, pid_b=b.pids[-1])
    result.kills.append({"phase": "sync", "event": event, "pid": pid, "progress": progress})
    log(f"[replicas] leader (pid {pid}) {event} at {progress}")
    # Under a freeze the takeover must come while a is still stopped.
    give_up = t0 + (freeze_for if event == "freeze" else 60.0)
    try:
        while not (led := (await b.request("GET", "/health")).json().get("leader")):
            if time.monotonic() > give_up:
                break
            await asyncio.sleep(0.1)
        if led:
            result.extra["takeover_s"] = round(time.monotonic() - t0, 2)
            log(f"[replicas] replica b leads after {result.extra['takeover_s']} s")
            r3 = await b.request("POST", "/sync", json={})
            result.extra["sync_during_takeover"] = [r3.status_code, r3.json().get("job_id")]
            if r3.status_code != 409 or r3.json().get("job_id") != sync_id:
                result.problems.append(f"POST /sync after takeover: {r3.status_code} {r3.text}")
        else:
            result.problems.append(f"replica b did not take over within {give_up - t0:.0f} s")
        if event == "freeze":
            await asyncio.sleep(max(0.0, t0 + freeze_for - time.monotonic()))
            still = (await b.job(sync_id))["status"]
            result.extra["job_at_wake"] = still
            leader.thaw()
            result.extra["woke_at"] = time.monotonic()
            log(f"[replicas] leader (pid {pid}) continued after {freeze_for} s; sync {still}")
    finally:
        if event == "freeze":
            leader.thaw()  # never leave a stopped process behind
    job = (await b.wait_jobs([sync_id]))[sync_id]
    result.syncs.append(job_brief(job))
    log(f"[replicas] sync {sync_id}: {job['status']} {job['progress']}")
    if event == "freeze":
        watch_until = result.extra["woke_at"] + OBSERVE_AFTER_WAKING
        await asyncio.sleep(max(0.0, watch_until - time.monotonic()))
        woken = (await a.request("GET", "/health")).json()
        result.extra["woken_leader"] = woken.get("leader")
        if woken.get("leader"):
            result.problems.append("the woken replica still claims leadership")


def _judge_calls(sim: SimulatorState, world: World, result: Result) -> None:
    calls = sim.calls
    x = result.extra
    result.onefile_calls = dict(Counter(str(c.status) for c in calls))
    a, b = agent_of(x.get("pid_a")), agent_of(x.get("pid_b"))
    x["calls_by_replica"] = {
        "a": sum(1 for c in calls if c.agent == a),
        "b": sum(1 for c in calls if c.agent == b),
        "other": sum(1 for c in calls if c.agent not in (a, b)),
    }
    t0 = x.get("event_at")
    if t0 is not None:
        # The work resumed with the survivor's first call, or with the woken process's (the
        # design before issue 13: nobody took over a frozen leader). A call of a's that left
        # before the event may arrive just after it: not a resumption.
        woke = x.get("woke_at", float("inf"))
        resumed = [
            c.t for c in calls if (c.agent == b and c.t > t0) or (c.agent == a and c.t > woke)
        ]
        x["stall_s"] = round(min(resumed) - t0, 2) if resumed else None
        last_a = [c.t for c in calls if c.agent == a and c.t <= t0]
        x["a_last_call_before_event_s"] = round(t0 - max(last_a), 3) if last_a else None
    if "woke_at" in x:
        x["woken_calls"] = sum(1 for c in calls if c.agent == a and c.t > x["woke_at"])
        if x["woken_calls"]:
            result.problems.append(f"the woken replica made {x['woken_calls']} OneFile calls")
    learners = max(1, world.learners)
    searches = sum(1 for c in calls if c.route == "POST LearningAim/Search")
    x["calls_per_learner"] = round(len(calls) / learners, 3)
    x["aim_searches_per_learner"] = round(searches / learners, 3)
    peak = max_in_window([c.t for c in calls], world.period)
    x["quota"] = {"limit": world.rate, "period_s": world.period, "peak_window": peak}
    if peak > world.rate:
        result.problems.append(f"{peak} calls in one {world.period} s window > {world.rate}")
        x["overfull_window"] = _overfull(calls, world, a, t0)
    if n429 := sum(1 for c in calls if c.status == 429):
        result.problems.append(f"{n429} calls answered 429")


def _overfull(calls: list[Any], world: World, a: str, t0: float | None) -> dict[str, Any]:
    """The first window over the limit, for the diagnosis: whose calls, and how far apart
    its first and last arrived."""
    ts = sorted(calls, key=lambda c: c.t)
    lo = 0
    for hi, c in enumerate(ts):
        while ts[lo].t <= c.t - world.period:
            lo += 1
        if hi - lo + 1 > world.rate:
            window = ts[lo : hi + 1]
            stamps = [w.t for w in window]
            # A replica's quota lets out at most two calls per spacing (≥ 0.1 s here): more
            # stamps within 10 ms, after a silence, mean the simulator read them late.
            most_in_10ms = max(
                sum(1 for u in stamps[i:] if u - t < 0.01) for i, t in enumerate(stamps)
            )
            return {
                "from_event_s": None if t0 is None else round(window[0].t - t0, 3),
                "first_to_last_s": round(window[-1].t - window[0].t, 4),
                "calls_by_a": sum(1 for w in window if w.agent == a),
                "calls": len(window),
                "routes_first_last": [window[0].route, window[-1].route],
                "most_stamped_within_10ms": most_in_10ms,
                "longest_silence_s": round(max(b - a for a, b in itertools.pairwise(stamps)), 3),
            }
    return {}


def summary_line(r: Result) -> str:
    x: dict[str, Any] = r.extra
    return (
        f"{r.label}: {'OK' if not r.problems else 'FAILED'} in {r.seconds:.0f} s; "
        f"takeover {x.get('takeover_s')} s; stall {x.get('stall_s')} s; "
        f"calls/learner {x.get('calls_per_learner')} "
        f"(LearningAim/Search {x.get('aim_searches_per_learner')}); "
        f"by replica {x.get('calls_by_replica')}; woken calls {x.get('woken_calls', '-')}; "
        f"peak window {x.get('quota', {}).get('peak_window')}/{x.get('quota', {}).get('limit')}; "
        f"429s {r.onefile_calls.get('429', 0)}"
    )
