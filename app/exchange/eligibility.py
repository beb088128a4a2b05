"""Rule A1 and the data OneFile would refuse: every problem of a learner, found at once."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.exchange import enrol_plan as plan
from app.picsweb.lookup import EnrolmentFacts, PicswebLookup
from app.store.service_store import ServiceStore

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ULN = re.compile(r"^\d{10}$")


@dataclass(frozen=True)
class LearnerState:
    """PICSWeb's link to OneFile and the service's enrolment status, side by side."""

    id: int
    onefile_user_id: int | None
    enrolment_status: str | None  # None: never started here; 'in_progress'; 'finished'

    @property
    def enrolled(self) -> bool:
        """Linked to OneFile and not stopped half-way (A2)."""
        return self.onefile_user_id is not None and self.enrolment_status != "in_progress"


async def learner_states(
    lookup: PicswebLookup, store: ServiceStore, ids: Sequence[int]
) -> dict[int, LearnerState]:
    """The state of each of these learners that exists in PICSWeb."""
    links = await lookup.learner_links(ids)
    statuses = await store.enrolment_statuses(list(links))
    return {i: LearnerState(i, user, statuses.get(i)) for i, user in links.items()}


@dataclass(frozen=True)
class Problem:
    field: str
    code: str
    message: str
    officer_id: int | None = None  # the officer concerned, for officers' problems

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"field": self.field, "code": self.code, "message": self.message}
        if self.officer_id is not None:
            out["officer_id"] = self.officer_id
        return out


def enrolment_problems(facts: EnrolmentFacts, now: dt.datetime | None = None) -> list[Problem]:
    """Why this learner cannot be enrolled; empty when it can. Messages carry no values.

    `now` (the moment of the check) decides which reviews A8 would upload, hence which officers.
    """
    problems: list[Problem] = []
    if not facts.email or not facts.email.strip():
        problems.append(Problem("email", "missing", "the learner has no email address"))
    elif not _EMAIL.match(facts.email.strip()):
        problems.append(Problem("email", "invalid", "the learner's email address is not valid"))
    if facts.main_officer_id is None:
        problems.append(Problem("main_officer_id", "missing", "the learner has no main officer"))
    elif not facts.main_officer_found:
        problems.append(
            Problem("main_officer_id", "invalid", "the learner's main officer does not exist")
        )
    if not facts.has_placement:
        problems.append(Problem("placements", "missing", "the learner has no placement"))
    if facts.uln is not None and facts.uln.strip() and not _ULN.match(facts.uln.strip()):
        problems.append(Problem("uln", "invalid", "the learner's ULN is not 10 digits"))
    problems += officer_problems(facts, now or dt.datetime.now(dt.UTC))
    return problems


def officer_problems(facts: EnrolmentFacts, now: dt.datetime) -> list[Problem]:
    """A1 (revised): every officer that A4 would upload and that is not linked to OneFile
    needs an email, since OneFile refuses a user without one; each is named by id."""
    uploadable, _ = plan.split_qualifications(facts.qualifications)
    due, _ = plan.reviews_to_upload(facts.reviews, now)
    problems: list[Problem] = []
    for officer_id in plan.officers_to_upload(facts.main_officer_id, uploadable, due):
        officer = facts.officers.get(officer_id)
        if officer is None or officer.linked:
            continue  # a missing main officer is reported above
        email = (officer.email or "").strip()
        if not email:
            problems.append(
                Problem(
                    "officers.email",
                    "missing",
                    f"officer {officer_id} has no email address (OneFile requires one)",
                    officer_id,
                )
            )
        elif not _EMAIL.match(email):
            problems.append(
                Problem(
                    "officers.email",
                    "invalid",
                    f"officer {officer_id}'s email address is not valid",
                    officer_id,
                )
            )
    return problems
