"""The client under the quota against the strict simulator, over real HTTP: never a 429."""

from __future__ import annotations

import asyncio

from app.onefile.client import Centre, OneFileClient
from app.onefile.quota import Quota
from devtools.loopback import serve_loopback as serve_http
from devtools.simulator import SimulatorConfig, create_simulator_app
from tests.onefile.test_quota import max_in_window


async def test_fifty_workers_through_the_client_get_no_429() -> None:
    limit, period = 40, 1.0
    config = SimulatorConfig(rate_limit=limit, rate_period=period, latency=0.01, seed=3)
    app = create_simulator_app(config)
    sim = app.state.sim
    learner_ids = sim.seed_learners(5)
    async with serve_http(app) as url:
        client = OneFileClient(
            base_url=f"{url}{config.path_prefix}/",
            api_token="sim-token",
            quota=Quota(limit, period, margin=0.05),
            centre=Centre(1, 1),
        )
        calls = 0

        async def worker(i: int) -> None:
            nonlocal calls
            while calls < 70:
                calls += 1
                await client.learning_aims_of(learner_ids[i % len(learner_ids)])

        await asyncio.gather(*(worker(i) for i in range(50)))
        await client.aclose()
    assert sim.count_calls(status=429) == 0
    times = [c.t for c in sim.calls]
    assert len(times) >= 70
    assert max_in_window(times, period) <= limit


async def test_a_session_expiring_mid_run_is_renewed() -> None:
    config = SimulatorConfig(rate_limit=10_000, seed=4)
    app = create_simulator_app(config)
    sim = app.state.sim
    ids = sim.seed_learners(2)
    async with serve_http(app) as url:
        client = OneFileClient(
            base_url=f"{url}{config.path_prefix}/",
            api_token="sim-token",
            quota=Quota(10_000, 1.0),
            centre=Centre(1, 1),
        )
        await client.learning_aims_of(ids[0])
        sim.expire_sessions()
        aims = await client.learning_aims_of(ids[1])
        await client.aclose()
    assert len(aims) == 1
    assert sim.count_calls(route="POST Authentication") == 2
    assert sim.count_calls(status=401) == 1
