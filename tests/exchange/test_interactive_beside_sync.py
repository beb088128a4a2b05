"""Issue 12: "a refresh or enrolment never waits behind either" sync, full or incremental.

A full sync runs against a OneFile that holds, unanswered, every call about the learners the
sync is exchanging (a gate in front of the simulator): the sync is stuck mid-way, its learner
consumers all waiting on OneFile. A refresh of another learner and an enrolment must still be
served by OneFile and finish while the sync is running; then the gate opens and the sync ends.
What would make them wait: a worker slot the sync holds (WORKER_SLOTS=1 — which is why the
setting's minimum is 2), a quota without priority, a lock or connection the stuck sync keeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import asyncpg
import pytest

from devtools.loopback import serve_loopback
from devtools.simulator import SimulatorConfig, SimulatorState, create_simulator_app
from tests.conftest import ServiceFactory
from tests.exchange import factories as f
from tests.exchange.daily_factories import bulk_enrolled, enrolled_learner, wait_job

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGI = Callable[[Scope, Receive, Send], Awaitable[None]]

HELD_LEARNERS = 40  # more than LEARNER_CONCURRENCY (16): every consumer of the sync is stuck
_NUMBER = re.compile(r"\d+")


class Gate:
    """ASGI middleware: while closed, a call naming a held id (in its path or its JSON body)
    waits, unanswered, until the gate opens; every other call goes straight through. The
    simulator numbers each kind of record from its own base (users 10001…, aims 30001…,
    reviews 50001…), so an id never matches a page number, a role or another kind's id."""

    def __init__(self) -> None:
        self.app: ASGI | None = None  # the simulator, set by the fixture that serves it
        self.held_ids: set[int] = set()
        self.opened = asyncio.Event()
        self.waiting = 0

    def holds(self, path: str, body: bytes) -> bool:
        numbers = {int(n) for n in _NUMBER.findall(path)}
        if body:
            with contextlib.suppress(ValueError):  # not JSON: only the path names ids
                numbers |= set(_numbers(json.loads(body)))
        return bool(numbers & self.held_ids)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None
        if scope["type"] != "http" or self.opened.is_set():
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if self.holds(scope["path"], body):
            self.waiting += 1
            await self.opened.wait()
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _numbers(value: Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return []


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
async def simulator(
    sim_config: SimulatorConfig, gate: Gate
) -> AsyncIterator[tuple[str, SimulatorState]]:
    """The simulator (both presets, tests/exchange/conftest.py) behind the gate."""
    app = create_simulator_app(sim_config)
    gate.app = app
    async with serve_loopback(gate) as url:
        yield f"{url}{sim_config.path_prefix}/", app.state.sim


async def test_refresh_and_enrolment_finish_while_a_full_sync_is_held_mid_way(
    service_factory: ServiceFactory,
    pool: asyncpg.Pool,
    simulator: tuple[str, SimulatorState],
    gate: Gate,
) -> None:
    sim = simulator[1]
    held = await bulk_enrolled(pool, sim, HELD_LEARNERS)
    fresh = await enrolled_learner(pool, sim, tag="R", lq={"total_elements": 3})
    newcomer = await f.typical_learner(pool, "E")
    users = await pool.fetch(
        "SELECT onefile_user_id FROM picsweb.learners WHERE id = ANY($1::bigint[])", held
    )
    for row in users:
        user = row["onefile_user_id"]
        gate.held_ids.add(user)
        gate.held_ids.update(a["ID"] for a in sim.learning_aims(user))
        gate.held_ids.update(r["ID"] for r in sim.reviews(user))
    # No id of the interactive learners is held: only the sync's own learners are stuck.
    assert not gate.held_ids & {fresh.user_id, *fresh.aim_ids, fresh.assessor_id}

    async with service_factory() as service:
        api = service.api
        r = await api.post("/sync", json={"full": True})
        assert r.status_code == 202, r.text
        sync_id = r.json()["id"]
        try:
            async with asyncio.timeout(30):  # every learner consumer of the sync waits on OneFile
                while gate.waiting < service.settings.learner_concurrency:
                    await asyncio.sleep(0.05)

            r = await api.post("/refresh", json={"learner_ids": [fresh.learner_id]})
            assert r.status_code == 202, r.text
            refresh_id = r.json()["id"]
            r = await api.post(f"/learners/{newcomer.learner_id}/enrol")
            assert r.status_code == 202, r.text
            enrol_id = r.json()["id"]
            refreshed = await wait_job(api, refresh_id)
            enrolled = await wait_job(api, enrol_id)

            assert (await api.get(f"/jobs/{sync_id}")).json()["status"] == "running"
            assert refreshed["status"] == "succeeded", refreshed
            assert refreshed["result"]["onefile"]["calls"] > 0  # OneFile answered its calls
            assert enrolled["status"] == "succeeded", enrolled
            onefile_user = await pool.fetchval(
                "SELECT onefile_user_id FROM picsweb.learners WHERE id = $1", newcomer.learner_id
            )
            assert onefile_user is not None and sim.user(onefile_user) is not None

        finally:
            gate.opened.set()  # a failure above must not leave the sync (and shutdown) stuck
        synced = await wait_job(api, sync_id, timeout=60)
        assert synced["status"] == "succeeded", synced
        # The held learners and the refreshed one; the newcomer was enrolled after it began.
        assert synced["result"]["learners"]["to_exchange"] == HELD_LEARNERS + 1
