"""Rule A1 and the data OneFile would refuse: every problem of a learner, found at once."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.picsweb.lookup import EnrolmentFacts

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ULN = re.compile(r"^\d{10}$")


@dataclass(frozen=True)
class Problem:
    field: str
    code: str
    message: str


def enrolment_problems(facts: EnrolmentFacts) -> list[Problem]:
    """Why this learner cannot be enrolled; empty when it can. Messages carry no values."""
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
    return problems
