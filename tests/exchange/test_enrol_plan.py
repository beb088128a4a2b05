"""The pure enrolment rules: employer (A3), officers (A4), payloads (A6, A7), reviews (A8)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.exchange import enrol_plan as plan
from app.exchange.due_reviews import review_times
from app.onefile import records, wire
from app.picsweb.rows import Learner, LearnerQualification, Officer, Placement, Review

D = dt.date
JUNE_2 = D(2025, 6, 2)


def lq(id: int = 1, standard: int | None = 501, **kw: Any) -> LearnerQualification:
    values: dict[str, Any] = dict.fromkeys(
        (
            "start_date",
            "planned_end_date",
            "registration_number",
            "registration_date",
            "achieved_date",
            "claimed_date",
            "certificate_applied_date",
            "certificate_received_date",
            "assessor_officer_id",
            "onefile_learning_aim_id",
        )
    )
    values.update(kw)
    return LearnerQualification(id=id, qualification_id=1, onefile_standard_id=standard, **values)


def review(
    id: int = 1,
    planned: D | None = JUNE_2,
    *,
    type: str = "N",
    attended: str = "U",
    officer: int | None = None,
    linked: int | None = None,
    start: dt.time | None = None,
) -> Review:
    return Review(
        id=id, type=type, planned_date=planned, start_time=start, officer_id=officer,
        attended=attended, onefile_review_id=linked,
    )  # fmt: skip


# ---- A3 -----------------------------------------------------------------------------------


def test_employer_is_the_most_recent_work_placement() -> None:
    rows = [
        Placement(1, 10, "P", D(2024, 1, 1)),
        Placement(2, 20, "P", D(2024, 6, 1)),
        Placement(3, 30, "X", D(2025, 1, 1)),  # newer but not a work placement
    ]
    assert plan.choose_employer(rows) == rows[1]


def test_employer_ties_go_to_the_highest_id_and_any_type_when_no_p() -> None:
    rows = [
        Placement(5, 50, "S", D(2024, 6, 1)),
        Placement(7, 70, "S", D(2024, 6, 1)),
        Placement(9, 90, "X", D(2023, 6, 1)),
    ]
    assert plan.choose_employer(rows) == rows[1]
    assert plan.choose_employer([]) is None


# ---- A4 -----------------------------------------------------------------------------------


def test_officers_main_then_assessors_then_review_officers_each_once() -> None:
    quals = [lq(1, 501, assessor_officer_id=4), lq(2, None, assessor_officer_id=8), lq(3, 502)]
    reviews = [review(1, officer=6), review(2), review(3, officer=4)]
    assert plan.officers_to_upload(2, quals, reviews) == [2, 4, 6]
    assert plan.officers_to_upload(None, [], [review(1)]) == []


def test_an_officer_is_sent_with_name_email_and_misid_only() -> None:
    officer = Officer(3, "Ann", "Lee", " OFF3 ", " ann@example.test ", None)
    body = wire.assessor_payload(plan.assessor_draft(officer), 1)
    assert body == {
        "OrganisationID": 1,
        "FirstName": "Ann",
        "LastName": "Lee",
        "Email": "ann@example.test",
        "Role": wire.ROLE_ASSESSOR,
        "MISID": "OFF3",
    }
    bare = wire.assessor_payload(plan.assessor_draft(Officer(3, "A", "B", "  ", None, None)), 1)
    assert "MISID" not in bare and "Email" not in bare
    assert "Ann" not in repr(plan.assessor_draft(officer)) and "ann@" not in repr(officer)


# ---- A6 -----------------------------------------------------------------------------------


def learner(**kw: Any) -> Learner:
    values: dict[str, Any] = {
        "id": 42,
        "first_name": "Jo",
        "surname": "Bloggs",
        "email": " jo@example.test ",
        "telephone": None,
        "mobile": "",
        "dob": D(2004, 5, 6),
        "uln": "1234567890",
        "nino": None,
        "start_date": D(2024, 9, 2),
        "planned_end_date": None,
        "main_officer_id": 3,
        "ethnicity": "31",
        "sex": "M",
        "disability": None,
        "onefile_user_id": None,
    }
    values.update(kw)
    return Learner(**values)


def test_learner_payload_sends_a6_fields_and_leaves_blanks_out() -> None:
    draft = plan.learner_draft(learner(), default_assessor_id=100, placement_id=200)
    body = wire.learner_payload(draft, organisation_id=1, classroom_id=7)
    assert body == {
        "OrganisationID": 1,
        "ClassroomID": 7,
        "Role": 1,
        "MISID": "42",
        "FirstName": "Jo",
        "LastName": "Bloggs",
        "Email": "jo@example.test",
        "DefaultAssessorID": 100,
        "PlacementID": 200,
        "ULN": "1234567890",
        "L12": "31",
        "L13": "M",
        "DOB": "2004-05-06T00:00:00.000Z",
        "StartOn": "2024-09-02T00:00:00.000Z",
    }


def test_learner_record_repr_has_no_personal_data() -> None:
    assert "Jo" not in repr(learner()) and "example" not in repr(learner())


# ---- A7 -----------------------------------------------------------------------------------


def test_qualifications_not_in_onefile_are_skipped() -> None:
    up, skipped = plan.split_qualifications([lq(1, 501), lq(2, None), lq(3, 502)])
    assert [q.id for q in up] == [1, 3]
    assert skipped == [2]


def test_aim_changes_are_only_those_set() -> None:
    q = lq(registration_number="R1", start_date=D(2024, 9, 2), claimed_date=D(2025, 3, 31))
    assert plan.aim_changes(q) == {
        "start_date": D(2024, 9, 2),
        "claimed_date": D(2025, 3, 31),
        "registration_number": "R1",
    }
    assert plan.aim_changes(lq()) == {}


def test_aim_changes_against_onefile_are_only_what_differs() -> None:
    q = lq(registration_number="R1", start_date=D(2024, 9, 2), achieved_date=D(2025, 1, 1))
    row = {
        "ID": 9,
        "UserID": 1,
        "StandardID": 501,
        "StartDate": "2024-09-01T23:00:00Z",  # UK midnight of 2 September
        "RegistrationNumber": "R1",
        "AchievedDate": None,
    }
    current = wire.read_aim(wire.AimFieldNames(), row)
    assert plan.aim_changes(q, current) == {"achieved_date": D(2025, 1, 1)}


def test_reusable_aims_are_unlinked_by_standard() -> None:
    aims = [
        records.LearningAim.model_validate({"id": i, "user_id": 1, "standard_id": s})
        for i, s in ((3, 501), (1, 501), (2, 502))
    ]
    free = plan.reusable_aims(aims, [2])
    assert {k: [a.id for a in v] for k, v in free.items()} == {501: [1, 3]}


# ---- A8: reviews to upload (the due rule itself: test_due_reviews.py) ----------------------

NOON_JUNE_1 = dt.datetime(2025, 6, 1, 11, 0, tzinfo=dt.UTC)  # 12:00 BST


def test_reviews_to_upload_ignores_linked_and_counts_not_eligible() -> None:
    rows = [review(1), review(2, linked=77), review(3, type="P"), review(4, planned=D(2025, 6, 1))]
    due, not_eligible = plan.reviews_to_upload(rows, NOON_JUNE_1)
    assert [r.id for r in due] == [1]
    assert not_eligible == 2


def test_review_and_visit_payloads() -> None:
    begin, end = review_times(D(2025, 6, 15), dt.time(14, 0))
    draft = plan.review_draft(learner_id=5, assessor_id=9, start=begin, end=end)
    visit = wire.visit_payload(draft, organisation_id=1, visit_type_id=2)
    assert visit == {
        "LearnerID": 5,
        "OrganisationID": 1,
        "DateFrom": "2025-06-15T13:00:00.000Z",
        "DateTo": "2025-06-15T14:00:00.000Z",
        "VisitTypeID": 2,
        "AssessorID": 9,
    }
    assert wire.review_payload(draft, visit_id=3) == {
        "LearnerID": 5,
        "Status": 1,
        "ScheduledFor": "2025-06-15T13:00:00.000Z",
        "VisitID": 3,
        "AssessorID": 9,
    }
