"""OneFile's vocabulary: every field name and payload the service sends or reads.

The rest of the service speaks Python names (records.py, drafts.py); this module alone maps
them onto OneFile's PascalCase names (docs/onefile-api.md). The learning-aim names that are
still assumed (`TotalElements`, `ElementsDone`, `ClaimedDate`, `CertificateReceivedDate`) are
settings (`AimFieldNames`), so that what `onefile-sync probe` finds is applied without a code
change. Reading is tolerant of case (`Id` for `ID`), since OneFile's paths are not
case-sensitive and one public client reads `Id`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.onefile import records as r
from app.onefile.drafts import AssessorDraft, LearnerDraft, ReviewDraft

ROLE_LEARNER = 1
ROLE_TRAINEE_ASSESSOR = 4
ROLE_ASSESSOR = 5
OFFICER_ROLES = (ROLE_ASSESSOR, ROLE_TRAINEE_ASSESSOR)  # searched in this order (A5)
REVIEW_STATUS_SCHEDULED = 1
ASSIGN_LEVEL_LEAD = 3


@dataclass(frozen=True)
class AimFieldNames:
    """OneFile's names of the learning-aim fields no public source confirms (settings
    ONEFILE_FIELD_TOTAL_ELEMENTS, …_ELEMENTS_DONE, …_CLAIMED_DATE, …_CERTIFICATE_RECEIVED_DATE)."""

    total_elements: str = "TotalElements"
    elements_done: str = "ElementsDone"
    claimed_date: str = "ClaimedDate"
    certificate_received_date: str = "CertificateReceivedDate"

    def mapping(self) -> dict[str, str]:
        """Python name → OneFile name, for every learning-aim field the service knows."""
        return {
            "id": "ID",
            "user_id": "UserID",
            "standard_id": "StandardID",
            "status": "Status",
            "start_date": "StartDate",
            "planned_end_date": "PlannedEnd",
            "registration_number": "RegistrationNumber",
            "registration_date": "RegistrationDate",
            "achieved_date": "AchievedDate",
            "claimed_date": self.claimed_date,
            "certificate_applied_date": "CertificateAppliedDate",
            "certificate_received_date": self.certificate_received_date,
            "total_elements": self.total_elements,
            "elements_done": self.elements_done,
            "lead_assessor_id": "LeadAssessorID",
        }

    @property
    def assumed(self) -> dict[str, str]:
        """Setting name → OneFile name of each assumed field."""
        return {
            "ONEFILE_FIELD_TOTAL_ELEMENTS": self.total_elements,
            "ONEFILE_FIELD_ELEMENTS_DONE": self.elements_done,
            "ONEFILE_FIELD_CLAIMED_DATE": self.claimed_date,
            "ONEFILE_FIELD_CERTIFICATE_RECEIVED_DATE": self.certificate_received_date,
        }


USER_NAMES = {"id": "ID", "role": "Role", "misid": "MISID", "last_modified": "LastModified"}
PLACEMENT_NAMES = {"id": "ID", "name": "Name", "misid": "MISID", "active": "Active"}
REVIEW_NAMES = {
    "id": "ID",
    "learner_id": "LearnerID",
    "scheduled_for": "ScheduledFor",
    "end_time": "EndTime",
    "assessor_id": "AssessorID",
    "status": "Status",
    "started_on": "StartedOn",
    "learner_signed_on": "LearnerSignedOn",
}
# The fields the probe checks in real records, per entity (besides the aim's settings).
RELIED_ON: dict[str, tuple[str, ...]] = {
    "User": ("ID", "MISID", "Role", "LastModified"),
    "Review": ("ID", "LearnerID", "ScheduledFor", "AssessorID", "StartedOn", "LearnerSignedOn"),
    "Placement": ("ID", "Name", "MISID", "Active"),
}
ID_NAMES = ("ID",)


def _field(row: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    if name in row:
        return True, row[name]
    lowered = name.lower()
    for key, value in row.items():
        if key.lower() == lowered:
            return True, value
    return False, None


def read(model: type[r._RecordT], names: Mapping[str, str], row: Mapping[str, Any]) -> r._RecordT:
    """A record from a OneFile row; fields the row lacks stay absent (`has()` is False)."""
    values: dict[str, Any] = {}
    for python, onefile in names.items():
        present, value = _field(row, onefile)
        if present:
            values[python] = value
    return model.model_validate(values)


def read_aim(names: AimFieldNames, row: Mapping[str, Any], *, whole: bool = False) -> r.LearningAim:
    """An aim from a row (`whole`: a GET's record, or a row with every detail)."""
    aim = read(r.LearningAim, names.mapping(), row)
    return aim.model_copy(update={"served": dict(row), "whole": whole or aim.detailed})


def new_id(body: Any) -> int | None:
    """The id in the answer to a create: a bare number, or an object holding `ID`."""
    if isinstance(body, dict):
        present, body = _field(body, "ID")
        if not present:
            return None
    if isinstance(body, bool):
        return None
    try:
        return int(body)
    except (TypeError, ValueError):
        return None


def _optional(body: dict[str, Any], name: str, value: str | None) -> None:
    if value is not None and value.strip():
        body[name] = value.strip()


# ---- payloads ----------------------------------------------------------------------------


def assessor_payload(draft: AssessorDraft, organisation_id: int) -> dict[str, Any]:
    """POST User of an assessor: name, email and MISID only (A4)."""
    body: dict[str, Any] = {
        "OrganisationID": organisation_id,
        "FirstName": draft.first_name,
        "LastName": draft.last_name,
        "Role": ROLE_ASSESSOR,
    }
    _optional(body, "Email", draft.email)
    _optional(body, "MISID", draft.misid)
    return body


def learner_payload(
    draft: LearnerDraft, *, organisation_id: int, classroom_id: int
) -> dict[str, Any]:
    """POST User of a learner (A6); blank optional fields are left out."""
    body: dict[str, Any] = {
        "OrganisationID": organisation_id,
        "ClassroomID": classroom_id,
        "Role": ROLE_LEARNER,
        "MISID": draft.misid,
        "FirstName": draft.first_name,
        "LastName": draft.last_name,
        "DefaultAssessorID": draft.default_assessor_id,
        "PlacementID": draft.placement_id,
    }
    body["Email"] = draft.email.strip() if draft.email and draft.email.strip() else None
    for name, value in (
        ("Telephone", draft.telephone),
        ("MobileNumber", draft.mobile),
        ("ULN", draft.uln),
        ("NINO", draft.nino),
        ("L12", draft.ethnicity),
        ("L13", draft.sex),
        ("L15", draft.disability),
    ):
        _optional(body, name, value)
    for name, day in (
        ("DOB", draft.dob),
        ("StartOn", draft.start_date),
        ("PlannedEndDate", draft.planned_end_date),
    ):
        if day is not None:
            body[name] = r.format_date(day)
    return body


def placement_payload(organisation_id: int, name: str, misid: str | None) -> dict[str, Any]:
    """POST Placement: name, MISID and `Active: true` (docs/onefile-api.md)."""
    body: dict[str, Any] = {"OrganisationID": organisation_id, "Name": name, "Active": True}
    _optional(body, "MISID", misid)
    return body


def visit_payload(
    draft: ReviewDraft, *, organisation_id: int, visit_type_id: int
) -> dict[str, Any]:
    return {
        "LearnerID": draft.learner_id,
        "OrganisationID": organisation_id,
        "DateFrom": r.format_datetime(draft.start),
        "DateTo": r.format_datetime(draft.end),
        "VisitTypeID": visit_type_id,
        "AssessorID": draft.assessor_id,
    }


def review_payload(draft: ReviewDraft, visit_id: int) -> dict[str, Any]:
    return {
        "LearnerID": draft.learner_id,
        "Status": REVIEW_STATUS_SCHEDULED,
        "ScheduledFor": r.format_datetime(draft.start),
        "VisitID": visit_id,
        "AssessorID": draft.assessor_id,
    }


def assign_payload(learner_id: int, standard_id: int) -> dict[str, Any]:
    return {"LearnerID": learner_id, "Level": ASSIGN_LEVEL_LEAD, "StandardID": standard_id}


def aim_update_payload(
    names: AimFieldNames, aim: r.LearningAim, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """POST LearningAim/{id}: the aim exactly as OneFile served it, with `changes` applied.

    Every field OneFile sent goes back (read-only ones unchanged, dates as served), so the
    update is right whether OneFile merges the fields sent or replaces the whole record; a
    date sent back unchanged cannot move by a day in either serving mode (issue 15). Changed
    dates are written as midnight UTC of the day.
    """
    if not aim.served or not aim.whole:
        raise ValueError("a learning aim is updated from the whole record OneFile served")
    mapping = names.mapping()
    body = dict(aim.served)
    for python, value in changes.items():
        onefile = mapping[python]
        present, _ = _field(body, onefile)
        if present and onefile not in body:  # served in another case: replace that key
            body = {k: v for k, v in body.items() if k.lower() != onefile.lower()}
        body[onefile] = _wire_value(value)
    return body


def aim_fields_payload(names: AimFieldNames, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Only the fields given: never what the service sends (see `aim_update_payload`); the
    probe sends it once, to learn whether OneFile merges or replaces."""
    mapping = names.mapping()
    return {mapping[k]: _wire_value(v) for k, v in changes.items()}


def _wire_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return r.format_datetime(value)
    if isinstance(value, dt.date):
        return r.format_date(value)
    return value


# ---- search filters ------------------------------------------------------------------------


def user_filter(
    organisation_id: int,
    *,
    role: int | None = None,
    misid: str | None = None,
    modified_since: dt.datetime | None = None,
) -> dict[str, Any]:
    flt: dict[str, Any] = {"OrganisationID": organisation_id}
    if role is not None:
        flt["Role"] = role
    if misid is not None:
        flt["MISID"] = misid
    if modified_since is not None:
        flt["LastModified"] = r.format_datetime(modified_since)
    return flt


def placement_filter(organisation_id: int, misid: str | None = None) -> dict[str, Any]:
    flt: dict[str, Any] = {"OrganisationID": organisation_id}
    if misid is not None:
        flt["MISID"] = misid
    return flt


def aim_filter(user_id: int) -> dict[str, Any]:
    return {"UserID": user_id}


def review_filter(organisation_id: int, learner_id: int | None = None) -> dict[str, Any]:
    """Every public client names the centre, also for one learner's reviews."""
    flt: dict[str, Any] = {"OrganisationID": organisation_id}
    if learner_id is not None:
        flt["LearnerID"] = learner_id
    return flt
