"""Client side of the service's API for the command line: queue a job and follow it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from rich.table import Table

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


def flatten(result: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """A job's result as (figure, value) rows: nested counts become `a.b` rows; long lists
    (ids, per-learner changes) are summarised by their length."""
    rows: list[tuple[str, str]] = []
    for key, value in sorted(result.items()):
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += flatten(value, name + ".")
        elif isinstance(value, list):
            rows.append((name, f"{len(value)} items"))
        else:
            rows.append((name, str(value)))
    return rows


def job_table(job: dict[str, Any], title: str, extra: list[tuple[str, str]] | None = None) -> Table:
    """The summary a person reads at the end of a job."""
    table = Table(title=f"{title}: job {job['id']} {job['status']}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in extra or []:
        table.add_row(name, value)
    for name, value in flatten(job.get("result") or {}):
        table.add_row(name, value)
    table.add_row("failed learners", str(job.get("failure_count", 0)))
    if job.get("error"):
        table.add_row("error", str(job["error"]))
    return table


def _value(value: Any) -> str:
    return "" if value is None else str(value)


def history_table(history: dict[str, Any]) -> Table:
    """A learner's history (GET /learners/{id}/history) as a person reads it, newest first.
    Values are shown as written: this is for the operator's terminal, never for a log."""
    table = Table(title=f"learner {history['learner_id']}: {len(history['changes'])} changes")
    for name in ("at", "job", "rule", "side", "entity", "id", "field", "old", "new"):
        table.add_column(name)
    for c in history["changes"]:
        table.add_row(
            c["at"][:19].replace("T", " "), _value(c["job_id"]), c["rule"], c["side"],
            c["entity"], str(c["entity_id"]), c["field"], _value(c["old"]), _value(c["new"]),
        )  # fmt: skip
    return table
