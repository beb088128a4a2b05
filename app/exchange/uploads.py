"""Uploads shared by the enrolment and the daily exchange: officers, employers, due reviews.

Never a duplicate in OneFile (A5): a linked officer or organisation is reused; one not linked
is searched in OneFile by MISID (its ident) and linked if found; only then created. Each
OneFile id is stored the moment OneFile answers. One upload per entity even under concurrency:
an asyncio lock per entity within the process, and a Postgres advisory lock across processes.
A create whose outcome is unknown (`OneFileAmbiguous`) is looked for before it is sent again,
a bounded number of times.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from app.db.pool import Conn
from app.exchange import enrol_plan as plan
from app.exchange.deps import ExchangeDeps
from app.exchange.due_reviews import ReviewUpload
from app.exchange.recording import Cause, write_recorded
from app.onefile import records
from app.onefile.drafts import ReviewDraft
from app.onefile.errors import OneFileAmbiguous
from app.picsweb.enrolment_repo import EnrolmentRepo
from app.picsweb.rows import Officer, Organisation
from app.store.history import HistoryStore

log = logging.getLogger("app.exchange")

CREATE_ROUNDS = 3  # look-then-create rounds after an ambiguous create, then give up


class ExchangeStepError(Exception):
    """A step could not be completed for a reason of ours (not a OneFile error); the message
    is safe to show: ids only."""


# ---- officers and organisations ------------------------------------------------------

LinkHow = Literal["existing", "found", "created"]
RowT = TypeVar("RowT", Officer, Organisation)


@dataclass(frozen=True)
class Link:
    onefile_id: int
    how: LinkHow  # existing: already linked; found: by MISID in OneFile; created: new


class _Linker(Generic[RowT]):
    """Links one kind of PICSWeb entity to its OneFile record, creating it at most once.

    The caller hands over the row it read; the row is read again only under the entity's
    advisory lock, when it is not linked yet: another process may have linked it meanwhile,
    and a second create would be a duplicate in OneFile (A5).
    """

    kind = ""
    table = ""  # PICSWeb's table, and the column holding the link
    column = ""
    onefile_entity = ""  # the OneFile entity created (history)

    def __init__(self, deps: ExchangeDeps, repo: EnrolmentRepo | None = None) -> None:
        self._deps = deps
        self._repo = repo or EnrolmentRepo(deps.pool)
        self._history = HistoryStore(deps.pool)
        self._locks: dict[int, asyncio.Lock] = {}

    async def ensure(self, entity_id: int, cause: Cause | None = None) -> int:
        """The OneFile id of this entity (read by id), linking or creating it first when
        needed; a link written is recorded in the history of `cause`'s learner."""
        return (await self.link(await self._read(entity_id, None), cause)).onefile_id

    async def link(self, row: RowT, cause: Cause | None = None) -> Link:
        """As `ensure`, for a row the caller read; says whether the link existed, was found or
        was created."""
        current = self._linked(row)
        if current is not None:
            return Link(current, "existing")
        entity_id = self._id(row)
        lock = self._locks.setdefault(entity_id, asyncio.Lock())
        async with (
            lock,
            self._repo.entity_lock(f"onefile_sync:{self.kind}:{entity_id}") as conn,
        ):
            row = await self._read(entity_id, conn)  # another task or process may have won
            current = self._linked(row)
            if current is not None:
                return Link(current, "existing")
            return await self._link_or_create(row, conn, cause)

    async def _link_or_create(self, row: RowT, conn: Conn, cause: Cause | None) -> Link:
        entity_id = self._id(row)
        misid = self._misid(row)
        found = await self._search(misid) if misid else None
        if found is not None:
            await self._record_link(entity_id, found, conn, cause, created=False)
            return Link(found, "found")
        for _ in range(CREATE_ROUNDS):
            try:
                new_id = await self._create(row)
            except OneFileAmbiguous:
                if not misid:
                    raise ExchangeStepError(
                        f"OneFile did not confirm the creation of {self.kind} {entity_id}, "
                        "which has no ident to look it up by; check OneFile before retrying"
                    ) from None
                found = await self._search(misid)
                if found is not None:
                    await self._record_link(entity_id, found, conn, cause, created=False)
                    return Link(found, "found")
                continue
            await self._record_link(entity_id, new_id, conn, cause, created=True)
            log.info(
                "created in OneFile",
                extra={"entity": self.kind, "entity_id": entity_id},
            )
            return Link(new_id, "created")
        raise ExchangeStepError(
            f"OneFile did not confirm the creation of {self.kind} {entity_id} "
            f"after {CREATE_ROUNDS} attempts"
        )

    async def _record_link(
        self,
        entity_id: int,
        onefile_id: int,
        conn: Conn,
        cause: Cause | None,
        *,
        created: bool,
    ) -> None:
        """The link, and its history (a record found by MISID is linked under A5)."""
        entries = []
        if cause is not None:
            entries = cause.link(
                self.table, entity_id, self.column, onefile_id,
                created_as=self.onefile_entity if created else None,
                rule=None if created else "A5",
            )  # fmt: skip
        await write_recorded(
            conn,
            self._history,
            lambda c: self._store(entity_id, onefile_id, c),
            entries,
        )

    async def _read(self, entity_id: int, conn: Conn | None) -> RowT:
        raise NotImplementedError

    def _id(self, row: RowT) -> int:
        raise NotImplementedError

    def _linked(self, row: RowT) -> int | None:
        raise NotImplementedError

    def _misid(self, row: RowT) -> str | None:
        raise NotImplementedError

    async def _search(self, misid: str) -> int | None:
        raise NotImplementedError

    async def _create(self, row: RowT) -> int:
        raise NotImplementedError

    async def _store(self, entity_id: int, onefile_id: int, conn: Conn) -> bool:
        raise NotImplementedError


class OfficerLinker(_Linker[Officer]):
    """PICSWeb officers ↔ OneFile assessors (name, email and MISID only: A4, A5); an
    officer is looked up among assessors and trainee assessors (Role 5, then Role 4)."""

    kind = "officer"
    table, column, onefile_entity = "officers", "onefile_user_id", "users"

    async def _read(self, entity_id: int, conn: Conn | None) -> Officer:
        officer = await self._repo.officer(entity_id, conn)
        if officer is None:
            raise ExchangeStepError(f"officer {entity_id} does not exist")
        return officer

    def _id(self, row: Officer) -> int:
        return row.id

    def _linked(self, row: Officer) -> int | None:
        return row.onefile_user_id

    def _misid(self, row: Officer) -> str | None:
        return row.ident or None

    async def _search(self, misid: str) -> int | None:
        return await self._deps.onefile.find_officer(misid)

    async def _create(self, row: Officer) -> int:
        return await self._deps.onefile.create_assessor(plan.assessor_draft(row))

    async def _store(self, entity_id: int, onefile_id: int, conn: Conn) -> bool:
        return await self._repo.link_officer(entity_id, onefile_id, conn)


class PlacementLinker(_Linker[Organisation]):
    """PICSWeb organisations ↔ OneFile Placements (name and MISID only, created active: A3,
    A5). Among placements sharing the MISID an active one is linked first."""

    kind = "organisation"
    table, column, onefile_entity = (
        "organisations",
        "onefile_placement_id",
        "placements",
    )

    async def _read(self, entity_id: int, conn: Conn | None) -> Organisation:
        org = await self._repo.organisation(entity_id, conn)
        if org is None:
            raise ExchangeStepError(f"organisation {entity_id} does not exist")
        return org

    def _id(self, row: Organisation) -> int:
        return row.id

    def _linked(self, row: Organisation) -> int | None:
        return row.onefile_placement_id

    def _misid(self, row: Organisation) -> str | None:
        ident = row.ident
        return ident.strip() if ident and ident.strip() else None

    async def _search(self, misid: str) -> int | None:
        found = await self._deps.onefile.find_placement(misid)
        return None if found is None else found.id

    async def _create(self, row: Organisation) -> int:
        return await self._deps.onefile.create_placement(row.name, self._misid(row))

    async def _store(self, entity_id: int, onefile_id: int, conn: Conn) -> bool:
        return await self._repo.link_organisation(entity_id, onefile_id, conn)


# ---- reviews (A8, B4) ------------------------------------------------------------------


async def _free_reviews(
    repo: EnrolmentRepo, reviews: Sequence[records.Review]
) -> dict[dt.datetime, list[int]]:
    """The learner's OneFile reviews no PICSWeb review holds, by ScheduledFor (oldest first)."""
    candidates = [r for r in reviews if r.scheduled_for is not None]
    taken = await repo.linked_review_ids([r.id for r in candidates])
    free: dict[dt.datetime, list[int]] = {}
    for r in sorted(candidates, key=lambda r: r.id):
        if r.id not in taken and r.scheduled_for is not None:
            free.setdefault(r.scheduled_for, []).append(r.id)
    return free


def _take(free: dict[dt.datetime, list[int]], when: dt.datetime) -> int | None:
    ids = free.get(when)
    return ids.pop(0) if ids else None


async def _learner_reviews(deps: ExchangeDeps, onefile_learner_id: int) -> list[records.Review]:
    """The learner's OneFile reviews as rows: matching by ScheduledFor needs no details."""
    return await deps.onefile.reviews_of_learner(onefile_learner_id, detailed=False)


async def _create_review(
    deps: ExchangeDeps, repo: EnrolmentRepo, draft: ReviewDraft
) -> tuple[int, int | None]:
    """Create the Visit and the Review; (review id, its visit's id) — the visit None when a
    review whose creation went unconfirmed turned up in OneFile."""
    for _ in range(CREATE_ROUNDS):
        try:
            visit_id = await deps.onefile.create_visit(draft)
        except OneFileAmbiguous:
            continue  # a Visit alone is not a review: at worst an unused visit is left
        try:
            review_id = await deps.onefile.create_review(draft, visit_id)
        except OneFileAmbiguous:
            free = await _free_reviews(repo, await _learner_reviews(deps, draft.learner_id))
            found = _take(free, draft.start)
            if found is not None:
                return found, None
            continue
        return review_id, visit_id
    raise ExchangeStepError(
        f"OneFile did not confirm the creation of a review after {CREATE_ROUNDS} attempts"
    )


# A review's link written on the caller's transaction → when it was written (the row's new
# updated_at), None when the review was linked meanwhile.
ReviewLink = Callable[[Conn, int, int], Awaitable[dt.datetime | None]]


@dataclass(frozen=True)
class Uploaded:
    """A planned upload carried out: the OneFile review now linked, and when the link was
    written."""

    upload: ReviewUpload
    onefile_id: int
    created: bool  # False: a review left by a crash (planned, or found after an ambiguity)
    linked_at: dt.datetime


async def upload_reviews(
    deps: ExchangeDeps,
    officers: OfficerLinker,
    link: ReviewLink,
    onefile_learner_id: int,
    uploads: Sequence[ReviewUpload],
    assessors: MutableMapping[int, int],
    *,
    cause: Cause,
) -> list[Uploaded]:
    """Carry out a plan's uploads (A8, B4), in order; each link is stored, with its history,
    the moment OneFile answers, so a crash never loses one (the next plan finds the review by
    its start and links it). `assessors`: officer id → OneFile user id where known; an
    officer not in it is linked or uploaded first (A4, A5), then added to it."""
    repo = EnrolmentRepo(deps.pool)
    history = HistoryStore(deps.pool)
    done: list[Uploaded] = []
    for upload in uploads:
        visit_id: int | None = None
        if upload.found is not None:
            onefile_id = upload.found
        else:
            assessor_id = assessors.get(upload.officer_id)
            if assessor_id is None:
                assessor_id = await officers.ensure(upload.officer_id, cause)
                assessors[upload.officer_id] = assessor_id
            draft = plan.review_draft(
                learner_id=onefile_learner_id,
                assessor_id=assessor_id,
                start=upload.start,
                end=upload.end,
            )
            onefile_id, visit_id = await _create_review(deps, repo, draft)
        created = visit_id is not None
        entries = cause.link(
            "reviews", upload.review_id, "onefile_review_id", onefile_id,
            created_as="reviews" if created else None,
        )  # fmt: skip
        if visit_id is not None:
            entries.insert(0, cause.created("visits", visit_id))
        written: list[dt.datetime] = []

        async def write(
            conn: Conn,
            review_id: int = upload.review_id,
            to: int = onefile_id,
            written: list[dt.datetime] = written,
        ) -> bool:
            at = await link(conn, review_id, to)
            if at is not None:
                written.append(at)
            return at is not None

        if not await write_recorded(deps.pool, history, write, entries):
            log.warning("review linked meanwhile", extra={"review_id": upload.review_id})
            continue
        done.append(Uploaded(upload, onefile_id, created, written[0]))
    return done
