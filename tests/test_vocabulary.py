"""One OneFile vocabulary (issue 10 item 5): every OneFile field name, path and payload lives
in app/onefile/. Enrolment, the exchange, the API, the jobs and the start-up code spell none
of them in code (prose in docstrings and comments may name them)."""

from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path

from app.onefile import wire
from app.onefile.drafts import AssessorDraft, LearnerDraft, ReviewDraft

ROOT = Path(__file__).resolve().parent.parent / "app"
# The service outside app/onefile/ (simulator, demo, bench and chaos tooling talk to the
# simulator's records directly, by design).
SERVICE = [
    p
    for p in ROOT.rglob("*.py")
    if p.parts[len(ROOT.parts)] not in {"onefile", "demo", "bench", "chaos"}
]


def onefile_names() -> set[str]:
    """Every name wire.py sends or reads, found by building each payload."""
    day = dt.date(2026, 5, 5)
    start = dt.datetime(2026, 5, 5, 9, tzinfo=dt.UTC)
    learner = LearnerDraft("1", "A", "B", "a@b.c", 1, 2, "t", "m", day, "1234567890", "N",
                           day, day, "31", "F", "9")  # fmt: skip
    review = ReviewDraft(1, 2, start, start)
    names: set[str] = set()
    for body in (
        wire.assessor_payload(AssessorDraft("A", "B", "a@b.c", "M"), 1),
        wire.learner_payload(learner, organisation_id=1, classroom_id=1),
        wire.placement_payload(1, "P", "M"),
        wire.visit_payload(review, organisation_id=1, visit_type_id=2),
        wire.review_payload(review, 3),
        wire.assign_payload(1, 2),
        wire.user_filter(1, role=1, misid="M", modified_since=start),
        wire.review_filter(1, 2),
        wire.aim_filter(1),
    ):
        names |= set(body)
    for mapping in (wire.USER_NAMES, wire.PLACEMENT_NAMES, wire.REVIEW_NAMES):
        names |= set(mapping.values())
    names |= set(wire.AimFieldNames().mapping().values())
    names |= {"Authentication", "Search", "Assign", "Visit", "Review", "Placement", "User"}
    # Words PICSWeb and people use too (a learner's ULN, a review): not OneFile's alone.
    return names - {"ID", "Level", "Role", "Status", "Email", "Name", "ULN", "NINO", "DOB"}


def code_strings(path: Path) -> list[tuple[int, str]]:
    """String constants that are not docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_the_service_spells_no_onefile_name_outside_app_onefile() -> None:
    names = onefile_names()
    assert {"OrganisationID", "LastModified", "ScheduledFor", "TotalElements"} <= names
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, names))) + r")\b")
    found = [
        f"{path.relative_to(ROOT.parent)}:{line}: {text!r}"
        for path in SERVICE
        for line, text in code_strings(path)
        if pattern.search(text)
    ]
    assert found == []


def test_the_check_can_fail() -> None:
    names = onefile_names()
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, names))) + r")\b")
    assert pattern.search('{"LearnerID": 5}') and pattern.search("LearningAim/Search/1/100")
    assert not pattern.search("learner_id")
