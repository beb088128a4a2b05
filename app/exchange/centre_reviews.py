"""Where a job reads the learners' OneFile reviews: the whole centre's pages, or per learner.

Reviews are read for the whole centre (1,000 a page, cached in Postgres for the job) when that
costs fewer calls than one search per learner. Thin centre rows do not say whose review it is:
PICSWeb's links, or a GET remembered by the service, do; a review unknown to both is new to
PICSWeb (B5) and is read with a GET, which names its learner. Should the centre's pages fail,
each learner reads its own reviews instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import asyncpg

from app.exchange.deps import ExchangeDeps
from app.onefile import records
from app.onefile.errors import OneFileError
from app.picsweb.exchange_repo import ExchangeRepo
from app.store.service_store import ServiceStore

log = logging.getLogger("app.exchange")

_INFRA: tuple[type[BaseException], ...] = (OSError, asyncpg.PostgresConnectionError)


@dataclass
class Batch:
    """A batch of learners; the centre's cached reviews are fetched once for all of them."""

    user_ids: list[int]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    reviews: dict[int, list[records.Review]] | None = None


class ReviewSource:
    """The review source of one job: chosen once, read beside the exchange when centre-wide."""

    def __init__(
        self, deps: ExchangeDeps, repo: ExchangeRepo, store: ServiceStore, job_id: int
    ) -> None:
        self._deps = deps
        self._repo = repo
        self._store = store
        self._job_id = job_id
        self.centre = False
        self.failed = False
        self._expected = 0
        self._ready = asyncio.Event()

    async def choose(self, learners: int) -> None:
        """Centre pages when they cost fewer calls than a search per learner."""
        if learners == 0:
            return
        estimate = await self._repo.linked_reviews_estimate()
        size = self._deps.onefile.review_page_size
        self.centre = estimate // size + 1 < learners
        self._expected = estimate

    async def read_centre(self) -> None:
        """Read and cache the centre's reviews (a task beside the learners' exchange)."""
        try:
            await self._store.clear_centre_reviews(self._job_id)
            async for page in self._deps.onefile.centre_reviews(expected=self._expected):
                await self._store_page(page)
        except OneFileError as exc:
            # Not fatal: each learner reads its own reviews instead.
            log.warning(
                "centre reviews could not be read; reading per learner",
                extra={"job_id": self._job_id, "error_type": type(exc).__name__},
            )
            self.failed = True
        finally:
            self._ready.set()

    async def clear(self) -> None:
        """Drop the job's cache (after the exchange, whatever its end)."""
        with contextlib.suppress(*_INFRA):
            await asyncio.shield(self._store.clear_centre_reviews(self._job_id))

    async def _store_page(self, page: list[records.Review]) -> None:
        thin = [r.id for r in page if not r.has("learner_id")]
        owners = await self._owners(thin) if thin else {}
        unknown = [r for r in page if not r.has("learner_id") and r.id not in owners]
        if unknown:
            got = await self._deps.onefile.with_details(unknown)
            await self._store.remember_review_owners(got)
            by_id = {r.id: r for r in got}
            page = [by_id.get(r.id, r) for r in page]
        await self._store.store_centre_reviews(self._job_id, page, owners)

    async def _owners(self, review_ids: list[int]) -> dict[int, int]:
        """OneFile review id → its learner's OneFile user id, where known: PICSWeb's link, or
        a GET remembered by the service."""
        owners = await self._store.review_owners(review_ids)
        owners.update(await self._repo.linked_review_owners(review_ids))
        return owners

    async def of_learner(self, batch: Batch, user_id: int) -> list[records.Review] | None:
        """The learner's cached centre rows; None when the centre's pages failed."""
        async with batch.lock:
            if batch.reviews is None:
                await self._ready.wait()
                if self.failed:
                    return None
                batch.reviews = await self._store.centre_reviews_of(self._job_id, batch.user_ids)
        return batch.reviews.get(user_id, [])
