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


# What a person calls each figure of a job's result. The API's keys are made for programs
# (`learners.to_exchange`); the command line and the demo print these words, in this order.
# A figure not named here still shows, under its key: nothing the service reports is hidden.
SYNC_FIGURES: tuple[tuple[str, str], ...] = (
    ("mode", "Learners read"),
    ("mode_reason", "Why"),
    ("dry_run", "Dry run (nothing written)"),
    ("reviews_read", "OneFile reviews read"),
    ("learners.to_exchange", "Learners to look at"),
    ("learners.considered", "Learners looked at"),
    ("learners.exchanged", "Learners with a change written"),
    ("learners.unchanged", "Learners already in step"),
    ("learners.failed", "Learners that failed"),
    ("picsweb.fields_written", "PICSWeb: fields written"),
    ("picsweb.qualifications_updated", "PICSWeb: qualifications updated"),
    ("picsweb.reviews_updated", "PICSWeb: reviews updated"),
    ("picsweb.reviews_created", "PICSWeb: reviews added from OneFile"),
    ("onefile.fields_written", "OneFile: fields written"),
    ("onefile.learning_aims_updated", "OneFile: learning aims updated"),
    ("onefile.reviews_uploaded", "OneFile: reviews uploaded"),
    ("onefile.reviews_due_for_upload", "OneFile: reviews a real run would upload"),
    ("onefile.learning_aims_gone", "OneFile: linked learning aims no longer there"),
    ("onefile.reviews_gone", "OneFile: linked reviews no longer there (B12)"),
    ("onefile.reviews_without_officer", "OneFile: reviews left out (no officer)"),
    ("onefile.users_confirmed", "OneFile: learners checked one by one"),
    ("onefile.gets", "OneFile: records read one by one"),
    ("onefile.calls", "OneFile calls made by the service"),
)
ENROL_FIGURES: tuple[tuple[str, str], ...] = (
    ("onefile_user_id", "OneFile learner id"),
    ("resumed", "Continued an earlier attempt"),
    ("created.learner", "OneFile: learner created"),
    ("linked.learner", "OneFile: learner found and linked"),
    ("created.officers", "OneFile: officers created"),
    ("linked.officers", "OneFile: officers found and linked"),
    ("created.placements", "OneFile: employers created"),
    ("linked.placements", "OneFile: employers found and linked"),
    ("created.learning_aims", "OneFile: learning aims created"),
    ("linked.learning_aims", "OneFile: learning aims found and linked"),
    ("created.reviews", "OneFile: reviews uploaded"),
    ("linked.reviews", "OneFile: reviews found and linked"),
    ("skipped.reviews_not_eligible", "Reviews not uploaded: not due (rule A8)"),
    ("skipped.reviews_without_officer", "Reviews not uploaded: no officer"),
    ("skipped.qualifications_not_in_onefile", "Qualifications OneFile has no standard for"),
    ("onefile_gets", "OneFile: records read one by one"),
    ("onefile_calls", "OneFile calls made by the service"),
)
# Lists of ids, for programs (GET /jobs/{id} has them); the tables count or leave them out.
ID_LISTS = frozenset(
    {
        "officer_ids",
        "organisation_id",
        "learning_aims",
        "reviews",
        "changes",
        "onefile.learning_aims_gone_list",
        "onefile.reviews_gone_list",
    }
)
VALUE_WORDS: dict[str, dict[str, str]] = {
    "mode": {
        "full": "every enrolled learner",
        "incremental": "only learners changed on either side",
    },
    "mode_reason": {
        "requested": "asked for by the caller",
        "no_previous_full": "no full run had finished yet",
        "full_due": "the last full run is older than FULL_SYNC_EVERY_DAYS",
        "full_recent": "the last full run is recent: changes only",
        "resumed": "a resumed run keeps its first mode",
    },
    "reviews_read": {
        "centre": "one search for the whole centre",
        "per_learner": "learner by learner",
    },
}


def flatten(result: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A job's result as {`a.b`: value}: nested figures by their dotted path."""
    out: dict[str, Any] = {}
    for key, value in result.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name not in ID_LISTS:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _words(path: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return f"{len(value):,}"
    if isinstance(value, int):  # counts get thousands separators, ids never do
        return str(value) if path.endswith("_id") else f"{value:,}"
    return VALUE_WORDS.get(path, {}).get(str(value), str(value))


def figure_rows(
    result: dict[str, Any], figures: tuple[tuple[str, str], ...]
) -> list[tuple[str, str]]:
    """(what a person calls it, its value) for every figure of `result`: the named ones in
    `figures`' order, then any other under its key; id lists left to GET /jobs/{id}."""
    flat = flatten(result)
    rows = [(name, _words(path, flat[path])) for path, name in figures if path in flat]
    named = {path for path, _ in figures}
    rows += [
        (path, _words(path, value))
        for path, value in sorted(flat.items())
        if path not in named and path not in ID_LISTS
    ]
    return rows


def job_table(job: dict[str, Any], title: str, extra: list[tuple[str, str]] | None = None) -> Table:
    """The summary a person reads at the end of a job."""
    table = Table(title=f"{title}: job {job['id']} {job['status']}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in extra or []:
        table.add_row(name, value)
    result = job.get("result") or {}
    figures = ENROL_FIGURES if job.get("kind") == "enrol" else SYNC_FIGURES
    for name, value in figure_rows(result, figures):
        table.add_row(name, value)
    if "failed" not in result.get("learners", {}):
        table.add_row("Learners that failed", str(job.get("failure_count", 0)))
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
