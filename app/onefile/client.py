"""The OneFile API v2.1 client: typed calls that take and return the service's own records.

Enrolment and the exchange call these methods and never spell a OneFile path, field or payload
(wire.py holds them all). Under them, `Transport` owns the session, the quota and retries, and
`paging.read_pages` reads searches without losing a row to a silent page cap.

Search rows may be thin (docs/onefile-api.md, "Paged searches"): a method that promises details
(`linked_learning_aims`, `reviews_of_learner`) takes them from a row when the row has them and
otherwise reads the record with `GET {Entity}/{id}` — for the records asked for only. The
client remembers per entity whether rows came thin (`rows_thin`), so that callers skip a search
whose rows would be useless when GETs alone cost less.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import ValidationError

from app.metrics import Metrics
from app.onefile import records as r
from app.onefile import wire
from app.onefile.drafts import AssessorDraft, LearnerDraft, ReviewDraft
from app.onefile.errors import OneFileAmbiguous, OneFileNotFound, OneFileUnavailable
from app.onefile.paging import MAX_PAGE_SIZE, PageSizes, Rows, RowShapes, read_pages
from app.onefile.quota import Quota
from app.onefile.retry import RetryPolicy
from app.onefile.transport import Transport

log = logging.getLogger("app.onefile")

USER, PLACEMENT, AIM, REVIEW = "User", "Placement", "LearningAim", "Review"


@dataclass(frozen=True)
class Centre:
    """The customer's OneFile centre and the ids new records are created with (settings)."""

    organisation_id: int  # ONEFILE_ORGANISATION_ID
    classroom_id: int  # ONEFILE_CLASSROOM_ID
    visit_type_id: int = 2  # ONEFILE_VISIT_TYPE_ID


@dataclass(frozen=True)
class LinkedAims:
    """The learning aims asked for, with their details; the ids OneFile no longer has."""

    aims: dict[int, r.LearningAim] = field(default_factory=dict)
    gone: set[int] = field(default_factory=set)


class OneFileClient:
    """Typed calls of the OneFile API, under one quota and one retry policy."""

    def __init__(
        self,
        *,
        base_url: str,
        api_token: str,
        quota: Quota,
        centre: Centre,
        page_size: int = MAX_PAGE_SIZE,
        aim_fields: wire.AimFieldNames | None = None,
        policy: RetryPolicy | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.centre = centre
        self.aim_fields = aim_fields or wire.AimFieldNames()
        self.page_sizes = PageSizes(page_size)
        self.shapes = RowShapes()
        self._t = Transport(
            base_url=base_url,
            api_token=api_token,
            quota=quota,
            policy=policy,
            timeout=timeout,
            transport=transport,
            metrics=metrics,
            clock=clock,
            sleep=sleep,
        )

    async def aclose(self) -> None:
        await self._t.aclose()

    @property
    def quota(self) -> Quota:
        return self._t.quota

    # ---- session -------------------------------------------------------------------------

    async def authenticate(self) -> None:
        """Open a new OneFile session (costs one call of the quota)."""
        await self._t.authenticate()

    @property
    def session_body(self) -> str:
        """How the last session id came: "text" (bare) or "json" (a quoted string)."""
        return self._t.session_body

    def rows_thin(self, entity: str) -> bool | None:
        """Did `entity`'s search rows lack details last time (None: not seen yet)?"""
        return self.shapes.thin(entity)

    @property
    def user_rows_thin(self) -> bool:
        """User/Search rows are known to come without LastModified."""
        return self.shapes.thin(USER) is True

    @property
    def review_page_size(self) -> int:
        """Reviews a page of a centre-wide review search holds (the cap, once learned)."""
        return self.page_sizes.size(REVIEW)

    # ---- generic reads (also the probe's) -----------------------------------------------

    async def search_page(self, entity: str, flt: Mapping[str, Any], page: int, size: int) -> Rows:
        """One page of a paged search, rows as OneFile sent them."""
        route = f"POST {entity}/Search"
        resp = await self._t.call("POST", route, f"{entity}/Search/{page}/{size}", dict(flt))
        rows = self._t.json(route, resp) or []
        if not isinstance(rows, list) or not all(isinstance(x, dict) for x in rows):
            raise OneFileUnavailable("a search answered something else than a list", route=route)
        return rows

    async def get_record(self, entity: str, record_id: int) -> dict[str, Any]:
        """`GET {Entity}/{id}`, the record as OneFile sent it; OneFileNotFound on a 404."""
        route = f"GET {entity}/{{id}}"
        resp = await self._t.call("GET", route, f"{entity}/{record_id}")
        body = self._t.json(route, resp)
        if not isinstance(body, dict):
            raise OneFileUnavailable("a GET answered something else than a record", route=route)
        return body

    async def search(
        self, entity: str, flt: Mapping[str, Any], *, expected_rows: int = 0
    ) -> AsyncIterator[Rows]:
        """Every page of a search, none lost to a silent cap (paging.py)."""

        async def fetch(page: int, size: int) -> Rows:
            return await self.search_page(entity, flt, page, size)

        async for rows in read_pages(self.page_sizes, entity, fetch, expected_rows=expected_rows):
            yield rows

    async def _search_all(self, entity: str, flt: Mapping[str, Any]) -> Rows:
        out: Rows = []
        async for rows in self.search(entity, flt):
            out.extend(rows)
        return out

    @staticmethod
    def _read(
        model: type[r._RecordT], names: Mapping[str, str], route: str, rows: Rows
    ) -> list[r._RecordT]:
        try:
            return [wire.read(model, names, row) for row in rows]
        except (ValidationError, ValueError, TypeError):
            raise OneFileUnavailable("a record could not be read", route=route) from None

    def _aims(self, route: str, rows: Rows, *, whole: bool = False) -> list[r.LearningAim]:
        try:
            return [wire.read_aim(self.aim_fields, row, whole=whole) for row in rows]
        except (ValidationError, ValueError, TypeError):
            raise OneFileUnavailable("a record could not be read", route=route) from None

    def _learn(self, entity: str, detailed: list[bool]) -> None:
        if detailed:
            self.shapes.saw(entity, thin=not all(detailed))

    async def _create(self, route: str, path: str, body: Any) -> int:
        """A create: never re-sent when its outcome is unknown (OneFileAmbiguous)."""
        resp = await self._t.call("POST", route, path, body, idempotent=False)
        new = wire.new_id(self._t.json(route, resp))
        if new is None:
            raise OneFileAmbiguous("no id in the answer to a create", route=route)
        return new

    # ---- users -------------------------------------------------------------------------------

    async def create_learner(self, draft: LearnerDraft) -> int:
        """POST User of a learner (A6) → its OneFile id. Not retried when ambiguous."""
        body = wire.learner_payload(
            draft,
            organisation_id=self.centre.organisation_id,
            classroom_id=self.centre.classroom_id,
        )
        return await self._create("POST User", "User", body)

    async def create_assessor(self, draft: AssessorDraft) -> int:
        """POST User of an assessor (A4: name, email, MISID) → its OneFile id."""
        body = wire.assessor_payload(draft, self.centre.organisation_id)
        return await self._create("POST User", "User", body)

    async def user(self, user_id: int) -> r.User:
        """GET User/{id}: the whole user (LastModified included)."""
        row = await self.get_record(USER, user_id)
        return self._read(r.User, wire.USER_NAMES, "GET User/{id}", [row])[0]

    async def _users_by_misid(self, role: int, misid: str) -> list[int]:
        flt = wire.user_filter(self.centre.organisation_id, role=role, misid=misid)
        users = self._read(
            r.User, wire.USER_NAMES, "POST User/Search", await self._search_all(USER, flt)
        )
        matches = []
        for u in users:
            if not u.has("misid"):  # a row too thin to say: OneFile's record does
                u = await self.user(u.id)
            if u.misid == misid:
                matches.append(u.id)
        return sorted(matches)

    async def find_learner(self, misid: str) -> int | None:
        """The learner (Role 1) with this MISID: the oldest when several."""
        found = await self._users_by_misid(wire.ROLE_LEARNER, misid)
        return found[0] if found else None

    async def find_officer(self, misid: str) -> int | None:
        """An assessor with this MISID, among Role 5 then Role 4 (trainee) users (A5)."""
        for role in wire.OFFICER_ROLES:
            found = await self._users_by_misid(role, misid)
            if found:
                return found[0]
        return None

    async def users_changed_since(self, instant: dt.datetime) -> AsyncIterator[list[r.User]]:
        """Pages of the centre's learners whose LastModified is at or after `instant`; rows
        may lack LastModified (thin): `has("last_modified")` says."""
        flt = wire.user_filter(
            self.centre.organisation_id, role=wire.ROLE_LEARNER, modified_since=instant
        )
        async for rows in self.search(USER, flt):
            users = self._read(r.User, wire.USER_NAMES, "POST User/Search", rows)
            self._learn(USER, [u.has("last_modified") for u in users])
            yield users

    async def learners_of_centre(self) -> AsyncIterator[list[r.User]]:
        """Pages of every learner of the centre (the full sweep's LastModified reading)."""
        flt = wire.user_filter(self.centre.organisation_id, role=wire.ROLE_LEARNER)
        async for rows in self.search(USER, flt):
            users = self._read(r.User, wire.USER_NAMES, "POST User/Search", rows)
            self._learn(USER, [u.has("last_modified") for u in users])
            yield users

    async def assign_lead_assessor(
        self, assessor_id: int, learner_id: int, standard_id: int
    ) -> None:
        """Make the assessor the lead assessor of the learner's aim for the standard (A7)."""
        await self._t.call(
            "POST",
            "POST User/{id}/Assign",
            f"User/{assessor_id}/Assign",
            wire.assign_payload(learner_id, standard_id),
        )

    # ---- placements --------------------------------------------------------------------------

    async def create_placement(self, name: str, misid: str | None) -> int:
        """POST Placement (Active) → its id, whether OneFile answers the id or the record."""
        body = wire.placement_payload(self.centre.organisation_id, name, misid)
        return await self._create("POST Placement", "Placement", body)

    async def placement(self, placement_id: int) -> r.Placement:
        row = await self.get_record(PLACEMENT, placement_id)
        return self._read(r.Placement, wire.PLACEMENT_NAMES, "GET Placement/{id}", [row])[0]

    async def find_placement(self, misid: str) -> r.Placement | None:
        """The centre's placement with this MISID (an active one first, then the oldest).

        A thin row lacks MISID: the placement is confirmed with a GET before it is trusted.
        """
        flt = wire.placement_filter(self.centre.organisation_id, misid)
        rows = self._read(
            r.Placement,
            wire.PLACEMENT_NAMES,
            "POST Placement/Search",
            await self._search_all(PLACEMENT, flt),
        )
        self._learn(PLACEMENT, [p.has("misid", "active") for p in rows])
        matches = []
        for p in rows:
            if not p.has("misid"):
                p = await self.placement(p.id)
            if p.misid == misid:
                matches.append(p)
        if not matches:
            return None
        return min(matches, key=lambda p: (p.active is False, p.id))

    # ---- standards and learning aims ---------------------------------------------------------

    async def assign_standard(self, standard_id: int, user_id: int) -> int:
        """Standard/{id}/Assign/{learner} → the new learning aim's id. Not retried."""
        return await self._create(
            "POST Standard/{id}/Assign/{learner}", f"Standard/{standard_id}/Assign/{user_id}", None
        )

    async def learning_aim(self, aim_id: int) -> r.LearningAim:
        """GET LearningAim/{id}: the whole aim; OneFileNotFound when it is gone."""
        row = await self.get_record(AIM, aim_id)
        return self._aims("GET LearningAim/{id}", [row], whole=True)[0]

    async def learning_aims_of(self, user_id: int) -> list[r.LearningAim]:
        """The learner's aims as search rows (maybe thin: ID, StandardID, UserID, Status)."""
        rows = await self._search_all(AIM, wire.aim_filter(user_id))
        aims = self._aims("POST LearningAim/Search", rows)
        self._learn(AIM, [a.detailed for a in aims])
        return aims

    async def linked_learning_aims(self, user_id: int, aim_ids: Collection[int]) -> LinkedAims:
        """The learner's aims of these ids with their details, and those OneFile lacks.

        One search when rows carry details (the usual cost: one call); when rows are known to
        be thin, a GET of each aim alone (the search would only list ids we already hold).
        """
        wanted = sorted(set(aim_ids))
        out = LinkedAims()
        if not wanted:
            return out
        todo = wanted
        if self.rows_thin(AIM) is not True:
            by_id = {a.id: a for a in await self.learning_aims_of(user_id)}
            out.gone.update(i for i in wanted if i not in by_id)
            out.aims.update({i: by_id[i] for i in wanted if i in by_id and by_id[i].detailed})
            todo = [i for i in wanted if i in by_id and not by_id[i].detailed]
        got = await asyncio.gather(*(self._aim_or_none(i) for i in todo))
        for aim_id, aim in zip(todo, got, strict=True):
            if aim is None:
                out.gone.add(aim_id)
            else:
                out.aims[aim_id] = aim
        return out

    async def _aim_or_none(self, aim_id: int) -> r.LearningAim | None:
        try:
            return await self.learning_aim(aim_id)
        except OneFileNotFound:
            return None

    async def update_learning_aim(self, aim: r.LearningAim, changes: Mapping[str, Any]) -> None:
        """POST LearningAim/{id}: the aim as OneFile served it, with `changes` (Python names)
        applied — the whole record, right under merge and replace readings alike."""
        body = wire.aim_update_payload(self.aim_fields, aim, changes)
        await self._t.call("POST", "POST LearningAim/{id}", f"LearningAim/{aim.id}", body)

    async def update_aim_fields_only(self, aim_id: int, changes: Mapping[str, Any]) -> None:
        """POST LearningAim/{id} with these fields alone. Only the probe sends this, on its
        own throw-away aim, to see whether OneFile replaces the record; the service never."""
        body = wire.aim_fields_payload(self.aim_fields, changes)
        await self._t.call("POST", "POST LearningAim/{id}", f"LearningAim/{aim_id}", body)

    # ---- visits and reviews --------------------------------------------------------------------

    async def create_visit(self, draft: ReviewDraft) -> int:
        body = wire.visit_payload(
            draft,
            organisation_id=self.centre.organisation_id,
            visit_type_id=self.centre.visit_type_id,
        )
        return await self._create("POST Visit", "Visit", body)

    async def create_review(self, draft: ReviewDraft, visit_id: int) -> int:
        return await self._create("POST Review", "Review", wire.review_payload(draft, visit_id))

    async def review(self, review_id: int) -> r.Review | None:
        """GET Review/{id}: the whole review; None when OneFile no longer has it."""
        try:
            row = await self.get_record(REVIEW, review_id)
        except OneFileNotFound:
            return None
        return self._read(r.Review, wire.REVIEW_NAMES, "GET Review/{id}", [row])[0]

    async def reviews_of_learner(self, user_id: int, *, detailed: bool = True) -> list[r.Review]:
        """The learner's reviews. `detailed`: each with what B5–B8 read (a GET of each review
        whose row is thin); otherwise the rows as served (ID and ScheduledFor at least)."""
        rows = await self._search_all(
            REVIEW, wire.review_filter(self.centre.organisation_id, user_id)
        )
        reviews = self._read(r.Review, wire.REVIEW_NAMES, "POST Review/Search", rows)
        self._learn(REVIEW, [x.detailed for x in reviews])
        return await self.with_details(reviews) if detailed else reviews

    async def with_details(self, reviews: list[r.Review]) -> list[r.Review]:
        """These reviews, each thin one read with a GET (one that is gone is left out)."""
        thin = [x for x in reviews if not x.detailed]
        if not thin:
            return reviews
        got = dict(
            zip(
                (x.id for x in thin),
                await asyncio.gather(*(self.review(x.id) for x in thin)),
                strict=True,
            )
        )
        out = []
        for x in reviews:
            if x.detailed:
                out.append(x)
            elif (full := got[x.id]) is not None:
                out.append(full)
        return out

    async def centre_reviews(self, expected: int = 0) -> AsyncIterator[list[r.Review]]:
        """Every review of the centre, page by page, rows as served; `expected` reviews are
        read ahead once the page size is known to be honoured."""
        flt = wire.review_filter(self.centre.organisation_id)
        async for rows in self.search(REVIEW, flt, expected_rows=expected):
            reviews = self._read(r.Review, wire.REVIEW_NAMES, "POST Review/Search", rows)
            self._learn(REVIEW, [x.detailed for x in reviews])
            yield reviews
