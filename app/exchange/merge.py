"""The daily exchange's merge rules (B1, B2, B4–B8) as pure functions over plain data.

`plan_learner` takes one learner's PICSWeb qualifications and reviews, the officer links and
that learner's OneFile learning aims and reviews, and returns a `LearnerPlan`: every write on
either side as field → (old, new), and the reviews to upload (B4) with what B6–B8 will then
write on them. Nothing here does I/O, so a dry run shows exactly what a real run would write,
the apply step (apply.py) needs nothing re-read or re-planned after an upload, and "no change →
empty plan" (B10) is a property the tests check.

Dates derived from OneFile's UTC date-times are taken in UK local time (Europe/London), where
PICSWeb's dates live. Date-only OneFile fields are already dates (records.py decodes them,
as UK calendar dates). A field OneFile did not send (a thin row) is never read as null: the
rules below leave such a field alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.exchange.due_reviews import (
    ATTENDED_UNKNOWN,
    NORMAL_REVIEW,
    UK,
    ReviewUpload,
    plan_uploads,
)
from app.onefile import records
from app.picsweb import rows

# B1: progress comes from OneFile only; a null there leaves PICSWeb's value.
PROGRESS_FIELDS: tuple[str, ...] = ("total_elements", "elements_done")
# B2: each field on its own; blank side gets the value, OneFile wins when both set.
TWO_WAY_FIELDS: tuple[str, ...] = (
    "registration_number",
    "registration_date",
    "certificate_applied_date",
    "certificate_received_date",
)
ATTENDED_YES = "Y"

Change = tuple[Any, Any]  # (old, new)


@dataclass(frozen=True)
class RowUpdate:
    """Changed columns of one PICSWeb row."""

    id: int
    changes: dict[str, Change]


@dataclass(frozen=True)
class AimUpdate:
    """Fields of a OneFile learning aim to fill from PICSWeb (B2), by name (the learning aim
    and the learner qualification share them). `aim` is the aim as OneFile served it: the
    update sends it whole, with the changes applied (OneFileClient.update_learning_aim)."""

    aim_id: int
    learner_qualification_id: int
    changes: dict[str, Change]
    aim: records.LearningAim | None = field(default=None, compare=False, repr=False)

    @property
    def new_values(self) -> dict[str, Any]:
        return {name: new for name, (_, new) in self.changes.items()}


@dataclass(frozen=True)
class ReviewCreate:
    """A OneFile review with no PICSWeb counterpart becomes a PICSWeb review (B5)."""

    onefile_review_id: int
    fields: dict[str, Any]  # column → value, onefile_review_id included


@dataclass(frozen=True)
class LearnerPlan:
    qualification_updates: list[RowUpdate] = field(default_factory=list)
    aim_updates: list[AimUpdate] = field(default_factory=list)
    review_updates: list[RowUpdate] = field(default_factory=list)
    review_creates: list[ReviewCreate] = field(default_factory=list)
    review_uploads: list[ReviewUpload] = field(default_factory=list)  # B4
    # What B6–B8 then write on an uploaded review, as OneFile will read it (an uploaded review
    # is not started; B7: its officer is the assessor), by PICSWeb review id.
    upload_changes: dict[int, dict[str, Change]] = field(default_factory=dict)
    reviews_without_officer: list[int] = field(default_factory=list)  # due, nobody to assess

    @property
    def empty(self) -> bool:
        return not (
            self.qualification_updates
            or self.aim_updates
            or self.review_updates
            or self.review_creates
            or self.review_uploads
        )

    @property
    def picsweb_fields(self) -> int:
        """PICSWeb fields this plan writes (a created review counts its fields; an uploaded
        one, what B6–B8 change on it)."""
        return (
            sum(len(u.changes) for u in self.qualification_updates)
            + sum(len(u.changes) for u in self.review_updates)
            + sum(len(c.fields) for c in self.review_creates)
            + sum(len(u.changes) for u in self.upload_updates())
        )

    @property
    def reviews_updated(self) -> int:
        """PICSWeb reviews whose B6–B8 fields this plan changes (uploaded ones included)."""
        return len(self.review_updates) + len(self.upload_updates())

    def upload_updates(self) -> list[RowUpdate]:
        """The uploaded reviews' B6–B8 changes, as updates of their rows."""
        return [
            RowUpdate(u.review_id, self.upload_changes[u.review_id])
            for u in self.review_uploads
            if self.upload_changes.get(u.review_id)
        ]

    @property
    def onefile_fields(self) -> int:
        return sum(len(u.changes) for u in self.aim_updates)

    def describe(self) -> dict[str, Any]:
        """JSON-ready, field by field: what a dry run shows an administrator."""
        return {
            "picsweb": {
                "learner_qualifications": [
                    _row(u.id, u.changes) for u in self.qualification_updates
                ],
                "reviews": [
                    _row(u.id, u.changes) for u in [*self.review_updates, *self.upload_updates()]
                ],
                "new_reviews": [
                    {k: _json(v) for k, v in c.fields.items()} for c in self.review_creates
                ],
            },
            "onefile": {
                "learning_aims": [
                    {
                        **_row(u.aim_id, u.changes),
                        "learner_qualification_id": u.learner_qualification_id,
                    }
                    for u in self.aim_updates
                ],
            },
        }


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.time) else value


def _row(row_id: int, changes: Mapping[str, Change]) -> dict[str, Any]:
    return {
        "id": row_id,
        "changes": {k: {"old": _json(o), "new": _json(n)} for k, (o, n) in changes.items()},
    }


def uk_local(value: dt.datetime) -> dt.datetime:
    """A OneFile UTC instant as UK wall-clock time."""
    return value.astimezone(UK)


def uk_date(value: dt.datetime) -> dt.date:
    return uk_local(value).date()


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def plan_qualification(
    q: rows.LearnerQualification, aim: records.LearningAim
) -> tuple[dict[str, Change], dict[str, Change]]:
    """B1 and B2 for one matched pair → (PICSWeb changes, OneFile changes)."""
    picsweb: dict[str, Change] = {}
    onefile: dict[str, Change] = {}
    if q.has_units:  # B1: a qualification with units attached is left out entirely
        return picsweb, onefile
    for name in PROGRESS_FIELDS:
        if not aim.has(name):
            continue
        ours, theirs = getattr(q, name), getattr(aim, name)
        if theirs is not None and theirs != ours:
            picsweb[name] = (ours, theirs)
    for name in TWO_WAY_FIELDS:
        if not aim.has(name):
            continue
        ours, theirs = getattr(q, name), getattr(aim, name)
        if _blank(ours) and _blank(theirs):
            continue
        if _blank(theirs):
            onefile[name] = (theirs, ours)
        elif _blank(ours) or ours != theirs:
            picsweb[name] = (ours, theirs)
    return picsweb, onefile


def review_state(review: records.Review, officer_of: Mapping[int, int]) -> dict[str, Any]:
    """B6–B8: the PICSWeb columns a OneFile review decides; absent keys are left as they are
    (as is every column whose OneFile field the review does not carry)."""
    state: dict[str, Any] = {}
    if review.has("started_on"):
        started = review.started_on
        state["attended"] = ATTENDED_YES if started is not None else ATTENDED_UNKNOWN
        state["actual_date"] = uk_date(started) if started is not None else None
    if review.assessor_id is not None and review.assessor_id in officer_of:
        state["officer_id"] = officer_of[review.assessor_id]
    if review.learner_signed_on is not None:
        state["trainee_signed_date"] = uk_date(review.learner_signed_on)
    return state


def new_review_fields(review: records.Review, officer_of: Mapping[int, int]) -> dict[str, Any]:
    """B5: an unmatched OneFile review as a new PICSWeb review, then B6–B8."""
    scheduled = uk_local(review.scheduled_for) if review.scheduled_for is not None else None
    fields: dict[str, Any] = {
        "type": NORMAL_REVIEW,
        "planned_date": scheduled.date() if scheduled is not None else None,
        "start_time": (
            scheduled.time().replace(microsecond=0, tzinfo=None) if scheduled is not None else None
        ),
        "officer_id": None,
        "attended": ATTENDED_UNKNOWN,
        "actual_date": None,
        "trainee_signed_date": None,
        "onefile_review_id": review.id,
    }
    fields.update(review_state(review, officer_of))
    return fields


def plan_reviews(
    picsweb: Sequence[rows.Review],
    onefile: Iterable[records.Review],
    officer_of: Mapping[int, int],
) -> tuple[list[RowUpdate], list[ReviewCreate]]:
    """B5–B8 over all of one learner's reviews."""
    linked = {r.onefile_review_id: r for r in picsweb if r.onefile_review_id is not None}
    updates: list[RowUpdate] = []
    creates: list[ReviewCreate] = []
    seen: set[int] = set()
    for review in sorted(onefile, key=lambda r: r.id):
        if review.id in seen:  # a paged read may repeat a row
            continue
        seen.add(review.id)
        ours = linked.get(review.id)
        if ours is None:
            creates.append(ReviewCreate(review.id, new_review_fields(review, officer_of)))
            continue
        changes = {
            name: (getattr(ours, name), new)
            for name, new in review_state(review, officer_of).items()
            if getattr(ours, name) != new
        }
        if changes:
            updates.append(RowUpdate(ours.id, changes))
    return updates, creates


def upload_state(
    upload: ReviewUpload, found: records.Review | None, officer_of: Mapping[int, int]
) -> dict[str, Any]:
    """B6–B8 as they will read once the upload is done: those of the OneFile review it is
    linked to (`found`), or those of a review just created, not started, assessed by its
    officer."""
    if found is not None:
        return review_state(found, officer_of)
    return {"attended": ATTENDED_UNKNOWN, "actual_date": None, "officer_id": upload.officer_id}


def plan_learner(
    qualifications: Sequence[rows.LearnerQualification],
    reviews: Sequence[rows.Review],
    officer_of: Mapping[int, int],
    aims: Iterable[records.LearningAim],
    onefile_reviews: Iterable[records.Review],
    *,
    main_officer_id: int | None = None,
    now: dt.datetime | None = None,
    held_elsewhere: Collection[int] = (),
) -> LearnerPlan:
    """Everything the exchange would write for one learner, on both sides (B1, B2, B4–B8).

    Learning aims are matched to learner qualifications by `onefile_learning_aim_id`; an aim
    without a counterpart, or a qualification without an aim, is left alone (B3). With `now`
    (the moment of the exchange), the due reviews to upload too (B4, `plan_uploads`); a OneFile
    review one of them will be linked to is not created again in PICSWeb (B5).
    """
    aim_by_id = {a.id: a for a in aims}
    plan = LearnerPlan()
    for q in sorted(qualifications, key=lambda q: q.id):
        aim = aim_by_id.get(q.onefile_learning_aim_id) if q.onefile_learning_aim_id else None
        if aim is None:
            continue
        picsweb, onefile = plan_qualification(q, aim)
        if picsweb:
            plan.qualification_updates.append(RowUpdate(q.id, picsweb))
        if onefile:
            plan.aim_updates.append(AimUpdate(aim.id, q.id, onefile, aim))
    theirs = list(onefile_reviews)
    if now is not None:
        uploads, without_officer = plan_uploads(
            reviews,
            theirs,
            main_officer_id=main_officer_id,
            now=now,
            held_elsewhere=held_elsewhere,
        )
        plan.review_uploads.extend(uploads)
        plan.reviews_without_officer.extend(without_officer)
        ours = {r.id: r for r in reviews}
        by_id = {r.id: r for r in theirs}
        for u in uploads:
            review = ours[u.review_id]
            state = upload_state(u, by_id.get(u.found) if u.found else None, officer_of)
            changes = {
                name: (getattr(review, name), new)
                for name, new in state.items()
                if getattr(review, name) != new
            }
            if changes:
                plan.upload_changes[u.review_id] = changes
        to_link = {u.found for u in uploads if u.found is not None}
        theirs = [r for r in theirs if r.id not in to_link]
    updates, creates = plan_reviews(reviews, theirs, officer_of)
    plan.review_updates.extend(updates)
    plan.review_creates.extend(creates)
    return plan
