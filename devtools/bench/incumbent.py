"""A faithful model of the incumbent integration, for the benchmark's baseline only.

What PICSWeb's own notice (docs/seed/) and the issue describe: every enrolled learner every
day, one call at a time, each search followed by a GET of every row it returned, and a pause of
a whole rate period whenever OneFile answers 429. It reads only; it writes nothing to either
side, so it is, if anything, faster than the real incumbent — the ratios quoted against it are
understated, never flattered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx


@dataclass
class IncumbentRun:
    learners: int = 0
    calls: int = 0
    rate_limited: int = 0
    seconds: float = 0.0


class Incumbent:
    def __init__(self, base_url: str, token: str, rate_period: float) -> None:
        self._base = base_url if base_url.endswith("/") else base_url + "/"
        self._token = token
        self._period = rate_period
        self._session = ""
        self.run = IncumbentRun()

    async def _call(
        self, http: httpx.AsyncClient, method: str, path: str, body: object = None
    ) -> httpx.Response:
        while True:
            headers = {"X-TokenID": self._session} if self._session else {}
            if path == "Authentication":
                headers = {"X-CustomerToken": self._token}
            resp = await http.request(method, path, json=body, headers=headers)
            self.run.calls += 1
            if resp.status_code == 429:
                self.run.rate_limited += 1
                await asyncio.sleep(self._period)  # the famous whole-minute pause
                continue
            if resp.status_code == 401 and path != "Authentication":
                await self._authenticate(http)
                continue
            if resp.status_code >= 500:
                continue  # it simply tried again
            return resp

    async def _authenticate(self, http: httpx.AsyncClient) -> None:
        resp = await self._call(http, "POST", "Authentication")
        self._session = resp.text.strip().strip('"')

    async def _search_then_get(
        self, http: httpx.AsyncClient, entity: str, flt: dict[str, int]
    ) -> None:
        resp = await self._call(http, "POST", f"{entity}/Search/1/100", flt)
        rows = resp.json() if resp.status_code == 200 and resp.content else []
        for row in rows:
            await self._call(http, "GET", f"{entity}/{row['ID']}")

    async def exchange(self, onefile_learner_ids: Sequence[int]) -> IncumbentRun:
        """Read every learner's aims and reviews, one call at a time."""
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=self._base, timeout=60) as http:
            await self._authenticate(http)
            for learner in onefile_learner_ids:
                await self._search_then_get(http, "LearningAim", {"UserID": learner})
                await self._search_then_get(http, "Review", {"LearnerID": learner})
                self.run.learners += 1
        self.run.seconds = time.monotonic() - started
        return self.run
