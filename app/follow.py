"""Client side of the service's API for the command line: queue a job and follow it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

FINAL = {"succeeded", "partial", "failed"}


class ApiCallError(RuntimeError):
    """The service answered with an error; the message is the service's own."""


async def start_job(
    api: httpx.AsyncClient, method: str, path: str, **kwargs: Any
) -> dict[str, Any]:
    r = await api.request(method, path, **kwargs)
    if r.status_code == 409 and "job_id" in r.json():
        # a sync is already running: follow that one instead of failing
        return dict((await api.get(f"/jobs/{r.json()['job_id']}")).json())
    if r.status_code != 202:
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        raise ApiCallError(f"{r.status_code}: {body.get('message', r.text[:200])}")
    return dict(r.json())


async def follow_job(
    api: httpx.AsyncClient,
    job_id: int,
    on_update: Callable[[dict[str, Any]], None] | None = None,
    interval: float = 0.25,
) -> dict[str, Any]:
    """Poll GET /jobs/{id} until the job finishes; returns its final state."""
    while True:
        r = await api.get(f"/jobs/{job_id}")
        r.raise_for_status()
        job: dict[str, Any] = r.json()
        if on_update is not None:
            on_update(job)
        if job["status"] in FINAL:
            return job
        await asyncio.sleep(interval)
