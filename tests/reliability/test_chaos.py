"""Suite-sized chaos: SIGKILLs, OneFile faults, a Postgres outage, two replicas (a leader
SIGKILLed; a leader frozen by SIGSTOP).

Each scenario runs the real service (`uvicorn app.main:app` subprocesses) against the simulator
and Postgres and ends with the harness's verdict (devtools/chaos/): every job succeeded, no
duplicate anywhere in OneFile, and PICSWeb's tables (and OneFile's records) equal to those of an
uninterrupted run of the same world. `onefile-sync-dev chaos` runs the same at full size.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.chaos.checks import Result, check_against, metric_sum
from devtools.chaos.faults import Chaos
from devtools.chaos.replicas import run_replicas, summary_line
from devtools.chaos.scenario import run_scenario
from devtools.chaos.world import World


@pytest.fixture(scope="module")
def world(request: pytest.FixtureRequest) -> World:
    """50 learners, 10 enrolled through the API, against the kind of OneFile the test names:
    "realistic" (what the public evidence makes likely, and the harder of the two: thin rows,
    page caps, replacing updates). Every kind doubles a scenario's minute, so the suite runs
    each scenario once; `make chaos` runs everything at full size (`--onefile today` for the
    first reading)."""
    kind: str = request.param
    return World(learners=50, enrol=10, onefile=kind)


REALISTIC_ONLY = pytest.mark.parametrize("world", ["realistic"], indirect=True)


@pytest.fixture(scope="module")
async def reference(
    pg_admin: str, world: World, tmp_path_factory: pytest.TempPathFactory
) -> Result:
    """The same world, enrolled and synced with nothing broken."""
    ref = await run_scenario(pg_admin, world, Chaos(), tmp_path_factory.mktemp("ref"), "ref")
    assert ref.problems == []
    assert [s["status"] for s in ref.syncs] == ["succeeded"]
    return ref


def _verdict(result: Result, reference: Result) -> None:
    assert result.problems == [], result.summary()
    assert {j["status"] for j in result.jobs} == {"succeeded"}, result.summary()
    assert check_against(result, reference) == []


@REALISTIC_ONLY
async def test_sigkill_during_enrolment_and_sync(
    pg_admin: str, world: World, reference: Result, tmp_path: Path
) -> None:
    chaos = Chaos(seed=5, kills_enrol=2, kills_sync=2, rate=200, kill_delay=(0.3, 1.2))
    result = await run_scenario(pg_admin, world, chaos, tmp_path, "crash")
    assert [k["phase"] for k in result.kills] == ["enrol", "enrol", "sync", "sync"]
    assert result.extra["service_starts"] == 5
    _verdict(result, reference)
    assert result.syncs[0]["attempts"] >= 2  # the sync itself was interrupted and resumed


@REALISTIC_ONLY
async def test_onefile_faults_cost_nothing(
    pg_admin: str, world: World, reference: Result, tmp_path: Path
) -> None:
    chaos = Chaos(
        seed=3,
        faults={
            "fault_rate": 0.05,
            "timeout_rate": 0.02,
            "hang_seconds": 2.0,
            "timeout_does_work": True,  # the answer is lost after the work was done
            "garbage_rate": 0.02,
        },
        onefile_timeout=1.0,
        burst_429=2,
        expire_sessions=1,
        retry_sync=True,
        rate=150,
    )
    result = await run_scenario(pg_admin, world, chaos, tmp_path, "faults")
    # A first sync may end partial; one more must put everything right.
    assert len(result.syncs) <= 2 and result.syncs[-1]["status"] == "succeeded", result.syncs
    assert result.problems == [], result.summary()
    assert check_against(result, reference) == []
    injected = result.faults_injected
    assert injected["5xx"] > 0 and injected["429"] > 0 and injected["refused"] > 0, injected
    assert result.extra["bursts_429"] == 2 and result.extra["sessions_expired"] == 1
    # The service saw and counted them (one process throughout: its counters cover the run).
    m = result.metrics
    assert result.extra["service_starts"] == 1
    fivexx = sum(metric_sum(m, "onefile_calls_total", status=s) for s in ("500", "502", "503"))
    assert fivexx == injected["5xx"]
    assert metric_sum(m, "onefile_calls_total", status="429") == injected["429"]
    assert metric_sum(m, "onefile_rate_limited_total") == injected["429"]
    refused = sum(metric_sum(m, "onefile_calls_total", status=s) for s in ("401", "403"))
    assert refused == injected["refused"]
    assert metric_sum(m, "onefile_calls_total", status="0") == injected["timeouts"]
    assert metric_sum(m, "onefile_retries_total", reason="rate_limited") > 0
    assert metric_sum(m, "onefile_retries_total", reason="server_error") > 0


@REALISTIC_ONLY
async def test_postgres_outage_during_a_sync(
    pg_admin: str, world: World, reference: Result, tmp_path: Path
) -> None:
    chaos = Chaos(seed=4, pg_outage=3.0, rate=300)
    result = await run_scenario(pg_admin, world, chaos, tmp_path, "outage")
    # /health: 503 all through the outage (asserted by the harness too), 200 soon after.
    assert set(result.extra["health_during_outage"]) == {503}, result.health
    assert result.health[-1][1] == 200
    assert result.extra["health_200_after_s"] < 10
    assert result.extra["service_starts"] == 1  # recovered without a restart
    _verdict(result, reference)


async def test_two_replicas_share_the_quota_and_hand_over(pg_admin: str, tmp_path: Path) -> None:
    """The leader SIGKILLed mid-sync: the other takes the job back at once (issue 13, item 2),
    and both processes' calls together never overfill a window of the strict simulator."""
    world = World(learners=80, enrol=0, rate=50, period=5.0, onefile="realistic")
    result = await run_replicas(pg_admin, world, tmp_path, event="kill", event_after=1.0)
    print(summary_line(result))
    assert result.problems == [], result.summary()  # no 429, peak ≤ limit, no duplicate
    assert result.extra["second_sync"][0] == 409
    assert result.extra["sync_during_takeover"][0] == 409
    assert result.extra["quota"]["peak_window"] <= world.rate
    assert [s["status"] for s in result.syncs] == ["succeeded"]
    assert result.syncs[0]["attempts"] == 2  # taken back by the survivor
    # The bound. Measured about 2 s; it was 25 s when the job waited for its claim
    # (30 s) to run out — the lease itself would still meet 8 s, the claim would not.
    assert result.extra["stall_s"] < 8, result.extra


async def test_a_frozen_leader_is_replaced_and_wakes_to_nothing(
    pg_admin: str, tmp_path: Path
) -> None:
    """SIGSTOP for longer than the lease, then SIGCONT (issue 13, item 3): the other replica
    leads and resumes the work; the woken one makes no OneFile call and nothing runs twice."""
    # OneFile as first read: there a full exchange makes at most one LearningAim/Search per
    # learner (one per learner with a linked aim: 0.9 here), so work done twice is countable;
    # the realistic one reads aims by GET.
    world = World(learners=120, enrol=0, rate=50, period=5.0, onefile="today")
    result = await run_replicas(
        pg_admin, world, tmp_path, event="freeze", event_after=1.0, freeze_for=10.0
    )
    print(summary_line(result))
    assert result.problems == [], result.summary()  # no 429, no duplicate, job succeeded
    assert result.extra["job_at_wake"] == "running"  # it woke in the middle of the work
    assert result.extra["woken_calls"] == 0
    assert result.extra["woken_leader"] is False
    assert [s["status"] for s in result.syncs] == ["succeeded"]
    assert result.extra["stall_s"] < 15, result.extra
    # At most one LearningAim/Search per learner in a full exchange: what is above is work done
    # twice — at most the learners in flight when it froze (LEARNER_CONCURRENCY, 16); a second
    # run beside the first (the bug) redoes most of them.
    assert result.extra["aim_searches_per_learner"] <= 1 + 16 / world.learners, result.extra
