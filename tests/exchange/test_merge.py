"""The merge rules as pure functions: every case of B1, B2 and B5–B8, and B10 as a property."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.exchange.merge import LearnerPlan, plan_learner, plan_qualification, plan_reviews
from app.onefile.records import AIM_DETAILS, REVIEW_DETAILS, LearningAim, Review
from app.picsweb.rows import LearnerQualification as PicsQualification
from app.picsweb.rows import Review as PicsReview

UTC = dt.UTC
D1, D2 = dt.date(2024, 10, 1), dt.date(2025, 2, 3)
OFFICERS = {9001: 1, 9002: 2}


def aim(**fields: Any) -> LearningAim:
    """A learning aim as a GET (or a full row) gives it: every field sent, null or not."""
    details = dict.fromkeys(AIM_DETAILS)
    return LearningAim.model_validate({**details, "id": 77, "user_id": 5, **fields})


def qual(**fields: Any) -> PicsQualification:
    return PicsQualification(id=1, qualification_id=1, onefile_learning_aim_id=77, **fields)


def ofr(rid: int = 500, **fields: Any) -> Review:
    """A OneFile review with its details (a GET or a full row)."""
    values = {
        **dict.fromkeys(REVIEW_DETAILS),
        "id": rid,
        "learner_id": 5,
        "scheduled_for": dt.datetime(2025, 7, 1, 13, 30),
    }
    return Review.model_validate({**values, **fields})


def pr(rid: int = 1, onefile_review_id: int | None = 500, **fields: Any) -> PicsReview:
    values: dict[str, Any] = {
        "type": "N",
        "planned_date": dt.date(2025, 7, 1),
        "start_time": dt.time(14, 30),
        "officer_id": None,
        "attended": "U",
        "actual_date": None,
        "trainee_signed_date": None,
    }
    values.update(fields)
    return PicsReview(id=rid, onefile_review_id=onefile_review_id, **values)


# ---- B1 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "theirs", "expected"),
    [
        ((None, None), (40, 3), {"total_elements": (None, 40), "elements_done": (None, 3)}),
        ((10, 2), (None, None), {}),  # a null in OneFile leaves PICSWeb's value
        ((10, 2), (40, None), {"total_elements": (10, 40)}),
        ((40, 3), (40, 3), {}),
    ],
)
def test_b1_progress(
    ours: tuple[int | None, int | None],
    theirs: tuple[int | None, int | None],
    expected: dict[str, Any],
) -> None:
    picsweb, onefile = plan_qualification(
        qual(total_elements=ours[0], elements_done=ours[1]),
        aim(total_elements=theirs[0], elements_done=theirs[1]),
    )
    assert picsweb == expected
    assert onefile == {}


def test_b1_b2_units_attached_leave_the_qualification_out() -> None:
    q = qual(has_units=True, registration_date=D1, total_elements=1)
    assert plan_qualification(q, aim(total_elements=9, registration_number="R")) == ({}, {})


# ---- B2 -----------------------------------------------------------------------------------

B2_VALUES = {
    "registration_number": ("R-1", "R-2"),
    "registration_date": (D1, D2),
    "certificate_applied_date": (D1, D2),
    "certificate_received_date": (D1, D2),
}


@pytest.mark.parametrize("name", list(B2_VALUES))
@pytest.mark.parametrize(
    ("ours", "theirs", "side"),
    [
        (None, None, None),  # blank on both → nothing
        (0, None, "onefile"),  # set here, blank there → OneFile gets it
        (None, 0, "picsweb"),  # blank here, set there → PICSWeb gets it
        (0, 0, None),  # equal → nothing
        (0, 1, "picsweb"),  # different → OneFile wins in PICSWeb
    ],
)
def test_b2_each_field_on_its_own(
    name: str, ours: int | None, theirs: int | None, side: str | None
) -> None:
    a, b = (
        (B2_VALUES[name][ours] if ours is not None else None),
        (B2_VALUES[name][theirs] if theirs is not None else None),
    )
    picsweb, onefile = plan_qualification(qual(**{name: a}), aim(**{name: b}))
    assert picsweb == ({name: (a, b)} if side == "picsweb" else {})
    assert onefile == ({name: (b, a)} if side == "onefile" else {})


def test_b2_blank_text_counts_as_blank() -> None:
    assert plan_qualification(qual(registration_number="  "), aim()) == ({}, {})
    picsweb, _ = plan_qualification(qual(registration_number=""), aim(registration_number="R"))
    assert picsweb == {"registration_number": ("", "R")}


def test_b2_onefile_changes_are_the_changed_fields_on_the_aim_as_read() -> None:
    read = aim()
    plan = plan_learner([qual(registration_date=D1, registration_number="R")], [], {}, [read], [])
    assert plan.aim_updates[0].new_values == {"registration_date": D1, "registration_number": "R"}
    assert plan.aim_updates[0].aim is read  # the update sends it whole, changes applied


def test_a_field_a_thin_row_lacks_is_never_read_as_null() -> None:
    """B1/B2 on an aim row without details: nothing is planned on either side."""
    thin = LearningAim.model_validate({"id": 77, "user_id": 5, "standard_id": 501, "status": 0})
    q = qual(registration_date=D1, registration_number="R", total_elements=3)
    assert plan_qualification(q, thin) == ({}, {})
    row = Review.model_validate({"id": 500, "scheduled_for": dt.datetime(2025, 7, 1, 13, 30)})
    ours = pr(attended="Y", actual_date=dt.date(2025, 7, 1), trainee_signed_date=D1)
    assert plan_reviews([ours], [row], OFFICERS) == ([], [])


def test_b3_unmatched_aims_and_qualifications_are_left_alone() -> None:
    plan = plan_learner(
        [
            PicsQualification(
                id=1, qualification_id=1, onefile_learning_aim_id=None, registration_date=D1
            )
        ],
        [],
        {},
        [aim(registration_number="R")],
        [],
    )
    assert plan.empty


# ---- B5–B8 --------------------------------------------------------------------------------


def test_b5_unmatched_creates_a_review_in_uk_local_time() -> None:
    updates, creates = plan_reviews([], [ofr(assessor_id=9001)], OFFICERS)
    assert updates == []
    assert creates[0].fields == {
        "type": "N",
        "planned_date": dt.date(2025, 7, 1),
        "start_time": dt.time(14, 30),  # 13:30 UTC is 14:30 BST
        "officer_id": 1,
        "attended": "U",
        "actual_date": None,
        "trainee_signed_date": None,
        "onefile_review_id": 500,
    }


def test_b5_winter_time_and_no_scheduled_for() -> None:
    _, creates = plan_reviews([], [ofr(scheduled_for=dt.datetime(2025, 1, 7, 9, 5))], {})
    assert (creates[0].fields["planned_date"], creates[0].fields["start_time"]) == (
        dt.date(2025, 1, 7),
        dt.time(9, 5),
    )
    _, creates = plan_reviews([], [ofr(scheduled_for=None)], {})
    assert creates[0].fields["planned_date"] is None


def test_b5_matched_review_keeps_planned_date_and_time() -> None:
    ours = pr(planned_date=dt.date(2020, 1, 1), start_time=dt.time(8, 0))
    updates, creates = plan_reviews([ours], [ofr()], {})
    assert (updates, creates) == ([], [])


def test_b5_a_repeated_row_is_taken_once() -> None:
    _, creates = plan_reviews([], [ofr(), ofr()], {})
    assert len(creates) == 1


@pytest.mark.parametrize(
    ("ours", "started_on", "expected"),
    [
        (("U", None), None, {}),
        (("N", dt.date(2025, 7, 1)), None, {"attended": ("N", "U"), "actual_date": (dt.date(2025, 7, 1), None)}),  # noqa: E501
        (("U", None), dt.datetime(2025, 6, 30, 23, 30), {"attended": ("U", "Y"), "actual_date": (None, dt.date(2025, 7, 1))}),  # noqa: E501
        (("Y", dt.date(2025, 7, 1)), dt.datetime(2025, 7, 1, 8), {}),
        (("Y", dt.date(2025, 6, 1)), dt.datetime(2025, 7, 1, 8), {"actual_date": (dt.date(2025, 6, 1), dt.date(2025, 7, 1))}),  # noqa: E501
    ],
)  # fmt: skip
def test_b6_attended(
    ours: tuple[str, dt.date | None], started_on: dt.datetime | None, expected: dict[str, Any]
) -> None:
    mine = pr(attended=ours[0], actual_date=ours[1])
    updates, _ = plan_reviews([mine], [ofr(started_on=started_on)], {})
    assert (updates[0].changes if updates else {}) == expected


@pytest.mark.parametrize(
    ("ours", "assessor", "expected"),
    [
        (None, 9001, {"officer_id": (None, 1)}),
        (2, 9001, {"officer_id": (2, 1)}),
        (1, 9001, {}),
        (2, 12345, {}),  # not a linked officer: left as it is
        (2, None, {}),
    ],
)
def test_b7_officer(ours: int | None, assessor: int | None, expected: dict[str, Any]) -> None:
    updates, _ = plan_reviews([pr(officer_id=ours)], [ofr(assessor_id=assessor)], OFFICERS)
    assert (updates[0].changes if updates else {}) == expected


@pytest.mark.parametrize(
    ("ours", "signed", "expected"),
    [
        (None, dt.datetime(2025, 3, 30, 23, 30), {"trainee_signed_date": (None, dt.date(2025, 3, 31))}),  # noqa: E501
        (D1, dt.datetime(2025, 1, 5, 12), {"trainee_signed_date": (D1, dt.date(2025, 1, 5))}),
        (D1, None, {}),  # null: left as it is
        (dt.date(2025, 1, 5), dt.datetime(2025, 1, 5, 12), {}),
    ],
)  # fmt: skip
def test_b8_trainee_signed(
    ours: dt.date | None, signed: dt.datetime | None, expected: dict[str, Any]
) -> None:
    updates, _ = plan_reviews([pr(trainee_signed_date=ours)], [ofr(learner_signed_on=signed)], {})
    assert (updates[0].changes if updates else {}) == expected


def test_describe_is_field_by_field_and_json_ready() -> None:
    plan = plan_learner([qual(registration_date=D1)], [], {}, [aim(total_elements=4)], [ofr()])
    described = plan.describe()
    assert described["picsweb"]["learner_qualifications"] == [
        {"id": 1, "changes": {"total_elements": {"old": None, "new": 4}}}
    ]
    assert described["onefile"]["learning_aims"][0]["changes"] == {
        "registration_date": {"old": None, "new": "2024-10-01"}
    }
    assert described["picsweb"]["new_reviews"][0]["start_time"] == "14:30:00"


# ---- B10 as a property: apply a plan, plan again → nothing -------------------------------------

dates = st.none() | st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31))
numbers = st.none() | st.integers(0, 100)
texts = st.none() | st.sampled_from(["", " ", "R-1", "R-2"])
instants = st.none() | st.datetimes(
    dt.datetime(2020, 1, 1), dt.datetime(2030, 12, 31), timezones=st.just(UTC)
)


@st.composite
def qualification_fields(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "registration_number": draw(texts),
        "registration_date": draw(dates),
        "certificate_applied_date": draw(dates),
        "certificate_received_date": draw(dates),
        "total_elements": draw(numbers),
        "elements_done": draw(numbers),
    }


@st.composite
def learners(draw: st.DrawFn) -> tuple[list[PicsQualification], list[LearningAim]]:
    quals, aims = [], []
    for n in range(draw(st.integers(0, 3))):
        quals.append(
            PicsQualification(
                id=n + 1,
                qualification_id=1,
                onefile_learning_aim_id=100 + n if draw(st.booleans()) else None,
                has_units=draw(st.booleans()),
                **draw(qualification_fields()),
            )
        )
        aims.append(aim(id=100 + n, **draw(qualification_fields())))
    return quals, aims


@st.composite
def review_sets(draw: st.DrawFn) -> tuple[list[PicsReview], list[Review]]:
    onefile = [
        ofr(
            500 + n,
            scheduled_for=draw(instants),
            started_on=draw(instants),
            learner_signed_on=draw(instants),
            assessor_id=draw(st.sampled_from([None, 9001, 9002, 9999])),
        )
        for n in range(draw(st.integers(0, 4)))
    ]
    picsweb = [
        pr(
            n + 1,
            onefile_review_id=draw(st.sampled_from([None, 500, 501, 502, 503])),
            attended=draw(st.sampled_from("UYN")),
            actual_date=draw(dates),
            officer_id=draw(st.sampled_from([None, 1, 2, 3])),
            trainee_signed_date=draw(dates),
        )
        for n in range(draw(st.integers(0, 4)))
    ]
    seen: set[int | None] = set()
    unique = []  # onefile_review_id is UNIQUE in PICSWeb
    for r in picsweb:
        if r.onefile_review_id is None or r.onefile_review_id not in seen:
            seen.add(r.onefile_review_id)
            unique.append(r)
    return unique, onefile


def apply(
    plan: LearnerPlan,
    quals: list[PicsQualification],
    aims: list[LearningAim],
    reviews: list[PicsReview],
) -> tuple[list[PicsQualification], list[LearningAim], list[PicsReview]]:
    """What the repository and the client would do with the plan, over plain data."""
    q_changes = {u.id: u.changes for u in plan.qualification_updates}
    new_quals = [
        dataclasses.replace(q, **{k: n for k, (_, n) in q_changes.get(q.id, {}).items()})
        for q in quals
    ]
    a_changes = {u.aim_id: u.changes for u in plan.aim_updates}
    new_aims = [
        a.model_copy(update={k: n for k, (_, n) in a_changes.get(a.id, {}).items()}) for a in aims
    ]
    r_changes = {u.id: u.changes for u in plan.review_updates}
    new_reviews = [
        dataclasses.replace(r, **{k: n for k, (_, n) in r_changes.get(r.id, {}).items()})
        for r in reviews
    ]
    next_id = max((r.id for r in reviews), default=0) + 1
    for n, c in enumerate(plan.review_creates):
        new_reviews.append(PicsReview(id=next_id + n, **c.fields))
    return new_quals, new_aims, new_reviews


@settings(max_examples=300, deadline=None)
@given(learners(), review_sets())
def test_b10_applying_a_plan_then_planning_again_gives_an_empty_plan(
    learner: tuple[list[PicsQualification], list[LearningAim]],
    review_set: tuple[list[PicsReview], list[Review]],
) -> None:
    quals, aims = learner
    reviews, onefile_reviews = review_set
    plan = plan_learner(quals, reviews, OFFICERS, aims, onefile_reviews)
    quals2, aims2, reviews2 = apply(plan, quals, aims, reviews)
    again = plan_learner(quals2, reviews2, OFFICERS, aims2, onefile_reviews)
    assert again.empty, again
    assert (again.picsweb_fields, again.onefile_fields) == (0, 0)


# ---- B4: the uploads are part of the plan -------------------------------------------------

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
JULY_1_1430_UK = dt.datetime(2025, 7, 1, 13, 30, tzinfo=UTC)  # 14:30 BST


def test_b4_a_due_review_is_planned_with_its_b7_officer_and_its_times() -> None:
    due = pr(onefile_review_id=None, actual_date=D1)
    plan = plan_learner([], [due], OFFICERS, [], [], main_officer_id=2, now=NOW)
    (upload,) = plan.review_uploads
    assert (upload.review_id, upload.officer_id, upload.found) == (due.id, 2, None)
    assert (upload.start, upload.end) == (JULY_1_1430_UK, JULY_1_1430_UK + dt.timedelta(hours=1))
    # As the next exchange will read it: not started (B6), assessed by its officer (B7).
    assert plan.upload_changes == {due.id: {"actual_date": (D1, None), "officer_id": (None, 2)}}
    assert plan.reviews_updated == 1 and plan.picsweb_fields == 2
    assert not plan.review_creates and not plan.empty


def test_b4_a_review_left_by_a_crash_is_linked_not_created_again() -> None:
    """A OneFile review at the due review's start that no PICSWeb review holds: linked (its
    B6–B8 taken), and B5 does not create it in PICSWeb as well."""
    due = pr(onefile_review_id=None, officer_id=1)
    left = ofr(600, scheduled_for=JULY_1_1430_UK, assessor_id=9001)
    held = ofr(601, scheduled_for=JULY_1_1430_UK)  # another learner's PICSWeb review has it
    plan = plan_learner(
        [], [due], OFFICERS, [], [held, left], main_officer_id=2, now=NOW, held_elsewhere={601}
    )
    assert [u.found for u in plan.review_uploads] == [600]
    assert plan.upload_changes == {}  # officer 1 already, not started: nothing to change
    assert [c.onefile_review_id for c in plan.review_creates] == [601]


def test_b4_nobody_to_assess_and_not_due() -> None:
    no_officer = pr(1, onefile_review_id=None)
    past = pr(2, onefile_review_id=None, planned_date=dt.date(2025, 5, 1), officer_id=1)
    plan = plan_learner([], [no_officer, past], OFFICERS, [], [], main_officer_id=None, now=NOW)
    assert plan.review_uploads == [] and plan.reviews_without_officer == [1]
    assert plan.empty
