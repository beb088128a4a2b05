"""Which learners a sync exchanges (change detection), and the sync run's bookkeeping.

A sync marks its learners pending in the service's own state (onefile_sync.exchange_state),
once per job: a rerun of a crashed sync keeps the marks and resumes with those still pending.
Incremental: learners whose OneFile `LastModified` moved since the last finished sync (less a
safety margin), whose PICSWeb rows moved past the high-water mark stored after our own writes,
and every learner that failed last time. Full: every enrolled learner, on request, when no
sync ever finished, or when the last full one is older than `full_sync_every_days`
(schedule.py decides). The learners themselves are exchanged by learner_pipeline.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from app.exchange.deps import ExchangeDeps
from app.exchange.schedule import ModeDecision, sync_mode
from app.jobs.models import Job
from app.onefile.errors import OneFileNotFound
from app.picsweb.exchange_repo import ExchangeRepo
from app.store.service_store import ServiceStore, SyncMode

LAST_MODIFIED_MARGIN = dt.timedelta(minutes=10)  # clocks and in-flight writes at OneFile

Sweep = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class Detected:
    """What detection decided: the mode and why, how many learners are marked, how many thin
    User rows a GET confirmed, and for a full sweep the reading of every learner's
    LastModified, to run beside the exchange."""

    decision: ModeDecision
    total: int
    users_confirmed: int = 0
    sweep: Sweep | None = None


async def detect(
    deps: ExchangeDeps,
    repo: ExchangeRepo,
    store: ServiceStore,
    job: Job,
    *,
    full_requested: bool | None,
    dry_run: bool,
) -> Detected:
    """Mark this job's pending learners (once per job; a rerun keeps them)."""
    existing = await store.sync_run(job.id)
    if existing is not None and existing.detected:
        return Detected(ModeDecision(existing.mode, "resumed"), existing.total or 0)
    last, last_full = await store.last_syncs()
    started = existing.started_at if existing is not None else deps.now()
    decision = sync_mode(full_requested, last_full, started, deps.full_sync_every_days)
    mode: SyncMode = decision.mode
    if deps.metrics is not None:
        deps.metrics.sync_runs.labels(mode, decision.reason).inc()
    await store.start_sync_run(job.id, mode, dry_run, started)
    if mode == "full":
        await store.mark_all_enrolled(job.id, await repo.linked_learners())
        total = await store.count_pending(job.id)
        await store.sync_detected(job.id, total)
        if deps.onefile.user_rows_thin:
            return Detected(decision, total)  # rows without LastModified: nothing to note

        async def sweep() -> None:
            # A full sweep reads every learner's LastModified too (a call per page of
            # learners), so the next incremental search, which overlaps by the margin, tells a
            # change from a repeat. Nothing in this job waits for it, so it runs beside the
            # exchange. Thin rows carry no LastModified: then it stops at the first page.
            async for users in deps.onefile.learners_of_centre():
                if not all(u.has("last_modified") for u in users):
                    return
                seen = await as_learners(repo, [(u.id, u.last_modified) for u in users])
                await store.note_onefile_modified(job.id, seen)

        return Detected(decision, total, sweep=sweep)
    assert last is not None  # a full run finished, so some run did
    since = last - LAST_MODIFIED_MARGIN
    confirmed = 0
    async for users in deps.onefile.users_changed_since(since):
        await store.mark_onefile_changed(
            job.id,
            await as_learners(
                repo, [(u.id, u.last_modified) for u in users if u.has("last_modified")]
            ),
        )
        thin = [u.id for u in users if not u.has("last_modified")]
        if thin:
            confirmed += await _confirm_changed(deps, repo, store, job, thin, since)
    marked, marks = await store.rows_seen_marks()
    await store.mark_picsweb_changed(job.id, await repo.changed_learners(marked, marks))
    total = await store.count_pending(job.id)
    await store.sync_detected(job.id, total)
    return Detected(decision, total, users_confirmed=confirmed)


async def _confirm_changed(
    deps: ExchangeDeps,
    repo: ExchangeRepo,
    store: ServiceStore,
    job: Job,
    user_ids: list[int],
    since: dt.datetime,
) -> int:
    """Learners a LastModified search returned in rows too thin to say when they changed;
    → how many a GET confirmed.

    The search filters on the server: each changed at or after `since`. A learner has surely
    changed since we last read it when the LastModified stored then is older than `since`, or
    when that exchange ended before `since` less the margin (which covers the two clocks):
    it is exchanged at once. Any other — read during the overlap, most often a learner the
    last sync itself wrote to — is confirmed with `GET User/{id}`: one call, where exchanging
    a learner with thin rows costs two to five (a GET per aim and per review, a review
    search), and such a learner usually turns out unchanged. (Measured, `make bench`: the
    realistic preset's quiet day costs 1 call, not one per learner written the day before.)
    """
    user_of = dict(await repo.learners_of_users(user_ids))  # learner id → OneFile user
    stored = await store.stored_onefile_modified(list(user_of))
    changed: list[tuple[int, dt.datetime | None]] = []  # (OneFile user, LastModified)
    unsure: list[int] = []
    for learner_id, (seen, exchanged_at) in stored.items():
        user_id = user_of[learner_id]
        if (seen is not None and seen < since) or (
            exchanged_at is not None and exchanged_at < since - LAST_MODIFIED_MARGIN
        ):
            changed.append((user_id, None))
        elif user_id not in unsure:
            unsure.append(user_id)

    async def confirm(user_id: int) -> tuple[int, dt.datetime | None]:
        try:
            return user_id, (await deps.onefile.user(user_id)).last_modified
        except OneFileNotFound:
            return user_id, None  # gone from OneFile: the exchange will say so

    changed += await asyncio.gather(*(confirm(u) for u in unsure))
    await store.mark_onefile_changed(job.id, await as_learners(repo, changed))
    return len(unsure)


async def as_learners(
    repo: ExchangeRepo, users: Sequence[tuple[int, dt.datetime | None]]
) -> list[tuple[int, dt.datetime | None]]:
    """(OneFile user, LastModified) → (PICSWeb learner linked to it, LastModified)."""
    if not users:
        return []
    modified = dict(users)
    pairs = await repo.learners_of_users(list(modified))
    return [(learner_id, modified[user_id]) for learner_id, user_id in pairs]
