"""The OneFile API v2.1 calls: validation and effects on the state (no I/O here).

Handlers decide what a call does and answers; `dialect.py` shapes how the answer looks (thin
rows, page caps, date serving) under the live configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .config import SimulatorConfig
from .dialect import Dialect
from .state import (
    ASSESSOR_ROLES,
    REVIEW_SCHEDULED,
    ROLE_ASSESSOR,
    ROLE_LEARNER,
    ROLE_TRAINEE_ASSESSOR,
    SimulatorState,
)
from .wire import ApiError, Record, bad, check_fields, path_int

NO_BODY = object()  # payload of a 204
Reply = tuple[int, Any]
Handler = Callable[["Ctx", tuple[int, ...], Any], Reply]


@dataclass(slots=True)
class Ctx:
    state: SimulatorState
    config: SimulatorConfig
    dialect: Dialect


# ---- field sets ----------------------------------------------------------------------------

USER_KINDS: dict[str, str] = {
    "OrganisationID": "int", "FirstName": "str", "LastName": "str", "Email": "str",
    "Role": "int", "DefaultAssessorID": "int", "ClassroomID": "int", "PlacementID": "int",
    "MISID": "str", "Telephone": "str", "MobileNumber": "str", "DOB": "day", "ULN": "str",
    "NINO": "str", "StartOn": "day", "PlannedEndDate": "day", "L12": "code", "L13": "code",
    "L15": "code",
}  # fmt: skip
LEARNER_ONLY = ("DefaultAssessorID", "ClassroomID", "PlacementID")
ASSESSOR_KINDS = {k: v for k, v in USER_KINDS.items() if k not in LEARNER_ONLY}
LEARNER_MANDATORY = (
    "OrganisationID", "FirstName", "LastName", "Email", "Role", "DefaultAssessorID",
    "ClassroomID", "PlacementID",
)  # fmt: skip
# Served by GET User/{id} but never written by an update: equal values are ignored, a
# different id is a 400 (LastModified, which OneFile sets, is ignored whatever its value).
USER_ID_FIELDS = ("ID", "Role")
USER_IGNORED = ("LastModified",)
USER_FILTER = {
    "OrganisationID": "int", "Role": "int", "MISID": "str", "FirstName": "str",
    "LastName": "str", "LastModified": "date",
}  # fmt: skip
PLACEMENT_FILTER = {"OrganisationID": "int", "Name": "str", "MISID": "str"}
PLACEMENT_KINDS = {**PLACEMENT_FILTER, "Active": "bool"}
AIM_UPDATE_KINDS = {
    "StartDate": "day", "PlannedEnd": "day", "RegistrationNumber": "str",
    "RegistrationDate": "day", "AchievedDate": "day", "ClaimedDate": "day",
    "CertificateAppliedDate": "day", "CertificateReceivedDate": "day",
    "TotalElements": "int", "ElementsDone": "int", "Progress": "num",
}  # fmt: skip
AIM_ID_FIELDS = ("ID", "UserID", "StandardID", "LeadAssessorID")
AIM_IGNORED = ("Status",)
VISIT_KINDS = {
    "LearnerID": "int", "OrganisationID": "int", "DateFrom": "date", "DateTo": "date",
    "VisitTypeID": "int", "AssessorID": "int",
}  # fmt: skip
REVIEW_KINDS = {
    "LearnerID": "int", "Status": "int", "ScheduledFor": "date", "VisitID": "int",
    "AssessorID": "int",
}  # fmt: skip


# ---- shared checks -------------------------------------------------------------------------


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise bad("the request body must be a JSON object")
    return body


def _organisation(ctx: Ctx, fields: Mapping[str, Any]) -> None:
    org = fields.get("OrganisationID")
    if org is not None and org != ctx.config.organisation_id:
        raise bad(f"OrganisationID {org} is not a centre of this customer")


def _learner(ctx: Ctx, field: str, user_id: Any) -> None:
    if user_id is not None and not ctx.state.has_role(user_id, ROLE_LEARNER):
        raise bad(f"{field} {user_id} is not a learner (Role 1)")


def _assessor(ctx: Ctx, field: str, user_id: Any) -> None:
    if user_id is not None and not ctx.state.is_assessor(user_id):
        raise bad(f"{field} {user_id} is not an assessor (Role 5 or 4)")


def _page(ctx: Ctx, entity: str, rows: Iterable[Record], params: tuple[int, ...]) -> Reply:
    chunk = ctx.dialect.page(entity, rows, page=params[-2], size=params[-1])
    return (200, chunk) if chunk else (204, NO_BODY)


def _without_read_only(
    body: Mapping[str, Any],
    current: Record,
    id_fields: Iterable[str],
    ignored: Iterable[str],
) -> dict[str, Any]:
    """An update body minus the read-only fields a client copied from GET: an id field must
    equal the record's (else 400), an ignored field may hold anything."""
    rest = dict(body)
    for name in id_fields:
        if name in rest and rest.pop(name) != current[name]:
            raise bad(f"{name} is read-only")
    for name in ignored:
        rest.pop(name, None)
    return rest


def _replaced(ctx: Ctx, writable: Iterable[str], fields: Record) -> Record:
    """With update_replaces every writable field absent from the body is cleared."""
    if not ctx.config.update_replaces:
        return fields
    return dict.fromkeys(writable) | fields


def _not_found(what: str, ident: int) -> ApiError:
    return ApiError(404, f"{what} {ident} not found")


# ---- users ---------------------------------------------------------------------------------


def _mandatory(ctx: Ctx, role: int) -> tuple[str, ...]:
    if role == ROLE_LEARNER:
        return LEARNER_MANDATORY
    others = ("OrganisationID", "FirstName", "LastName", "Role")
    return (*others, "Email") if ctx.config.email_required else others


def _check_user(ctx: Ctx, f: Mapping[str, Any]) -> None:
    _organisation(ctx, f)
    if f.get("ClassroomID") is not None and f["ClassroomID"] not in ctx.config.classroom_ids:
        raise bad(f"ClassroomID {f['ClassroomID']} is unknown")
    _assessor(ctx, "DefaultAssessorID", f.get("DefaultAssessorID"))
    if f.get("PlacementID") is not None and not ctx.state.has_placement(f["PlacementID"]):
        raise bad(f"PlacementID {f['PlacementID']} is unknown")
    email = f.get("Email")
    if email is not None and ("@" not in email or email.startswith("@") or email.endswith("@")):
        raise bad("Email is not a valid e-mail address")
    uln = f.get("ULN")
    if uln is not None and not (len(uln) == 10 and uln.isascii() and uln.isdigit()):
        raise bad("ULN must be 10 digits")


def _role_of_new_user(body: Mapping[str, Any]) -> int:
    role = body.get("Role")
    if role is None:
        raise bad("missing mandatory field(s): Role")
    if isinstance(role, bool) or role not in (ROLE_LEARNER, *sorted(ASSESSOR_ROLES)):
        raise bad(
            f"Role must be {ROLE_LEARNER} (learner), {ROLE_TRAINEE_ASSESSOR} (trainee assessor)"
            f" or {ROLE_ASSESSOR} (assessor)"
        )
    return int(role)


def _check_new_learner(ctx: Ctx, f: Mapping[str, Any]) -> None:
    """Refusals OneFile may make when a learner is created (help centre; docs/onefile-api.md)."""
    placement = ctx.state.raw_placement(f["PlacementID"])
    if ctx.config.inactive_placement_refused and placement is not None and not placement["Active"]:
        raise bad(f"PlacementID {f['PlacementID']} is not an active placement")
    if ctx.config.duplicate_misid_refused:
        assessor = ctx.state.raw_user(f["DefaultAssessorID"])
        shared = ctx.state.users_sharing_misid(assessor["MISID"] if assessor else None)
        if shared >= 2:
            raise bad(
                f"DefaultAssessorID {f['DefaultAssessorID']}: {shared} users share its MIS value"
            )


def create_user(ctx: Ctx, params: tuple[int, ...], body: Any) -> Reply:
    body = _object(body)
    role = _role_of_new_user(body)
    kinds = USER_KINDS if role == ROLE_LEARNER else ASSESSOR_KINDS
    fields = check_fields(
        body, kinds, mandatory=_mandatory(ctx, role), day_of=ctx.dialect.day_written
    )
    _check_user(ctx, fields)
    if role == ROLE_LEARNER:
        _check_new_learner(ctx, fields)
    return 200, ctx.dialect.record(ctx.state.insert_user(fields))


def _user(ctx: Ctx, user_id: int) -> Record:
    user = ctx.state.raw_user(user_id)
    if user is None:
        raise _not_found("User", user_id)
    return user


def get_user(ctx: Ctx, params: tuple[int, ...], body: Any) -> Reply:
    return 200, ctx.dialect.record(_user(ctx, params[0]))


def update_user(ctx: Ctx, params: tuple[int, ...], body: Any) -> Reply:
    user = _user(ctx, params[0])
    role = user["Role"]
    # An assessor's record is served with the learner-only fields null: ids like any other.
    kinds = USER_KINDS if role == ROLE_LEARNER else ASSESSOR_KINDS
    id_fields = USER_ID_FIELDS if role == ROLE_LEARNER else (*USER_ID_FIELDS, *LEARNER_ONLY)
    writable = {k: v for k, v in kinds.items() if k != "Role"}
    rest = _without_read_only(_object(body), user, id_fields, USER_IGNORED)
    fields = check_fields(rest, writable, day_of=ctx.dialect.day_written)
    fields = _replaced(ctx, writable, fields)
    mandatory = _mandatory(ctx, role)
    cleared = [k for k in mandatory if k in fields and fields[k] in (None, "")]
    if cleared:
        raise bad(f"mandatory field(s) cannot be cleared: {', '.join(cleared)}")
    _check_user(ctx, fields)
    ctx.state.update_user(user["ID"], fields)
    return 204, NO_BODY


def search_users(ctx: Ctx, params: tuple[int, ...], body: Any) -> Reply:
    flt = check_fields(_object(body), USER_FILTER, what="filter field")
    _organisation(ctx, flt)
    return _page(ctx, "User", ctx.state.search_users(flt), params)


def assign_lead_assessor(ctx: Ctx, params: tuple[int, ...], body: Any) -> Reply:
    assessor = _user(ctx, params[0])
    if assessor["Role"] not in ASSESSOR_ROLES:
        raise bad(f"User {assessor['ID']} is not an assessor (Role 5 or 4)")
    kinds = {"LearnerID": "int", "Level": "int", "StandardID": "int"}
    f = check_fields(_object(body), kinds, mandatory=kinds)
    if f["Level"] != 3:
        raise bad("Level must be 3 (lead assessor)")
    _learner(ctx, "LearnerID", f["LearnerID"])
    if f["StandardID"] not in ctx.config.standards:
        raise bad(f"StandardID {f['StandardID']} is unknown")
    aims = [
        a["ID"] for a in ctx.state.aims_of(f["LearnerID"]) if a["StandardID"] == f["StandardID"]
    ]
    if not aims:
        raise bad(f"learner {f['LearnerID']} has no learning aim for standard {f['StandardID']}")
    for aim_id in aims:
        ctx.state.update_aim(aim_id, {"LeadAssessorID": assessor["ID"]})
    return 204, NO_BODY


# ---- placements, standards, learning aims --------------------------------------------------


def create_placement(ctx: Ctx, params: tuple[int, ...], body: Any) -> Reply:
    f = check_fields(_object(body), PLACEMENT_KINDS, mandatory=("Name",))
    _organisation(ctx, f)
    f["OrganisationID"] = ctx.config.organisation_id
    return 200, ctx.dialect.placement_created(ctx.state.insert_placement(f))


def get_placement(ctx: Ctx, params: tuple[int, ...], body: Any) -> Reply:
    placement = ctx.state.raw_placement(params[0])
    if placement is None:
        raise _not_found("Placement", params[0])
    return 200, ctx.dialect.record(placement)


def search_placements(ctx: Ctx, params: tuple[int, ...], body: Any) -> Reply:
    flt = check_fields(
        _object(body), PLACEMENT_FILTER, mandatory=("OrganisationID",), what="filter field"
    )
    _organisation(ctx, flt)
    return _page(ctx, "Placement", ctx.state.search_placements(flt), params)


def assign_standard(ctx: Ctx, params: tuple[int, ...], body: Any) -> Reply:
    standard_id, learner_id = params
    if standard_id not in ctx.config.standards:
        raise _not_found("Standard", standard_id)
    if not ctx.state.has_role(learner_id, ROLE_LEARNER):
        raise _not_found("learner", learner_id)
    return 200, ctx.state.insert_aim(learner_id, standard_id)


def search_aims(ctx: Ctx, params: tuple[int, ...], body: Any) -> Reply:
    flt = check_fields(_object(body), {"UserID": "int"}, mandatory=("UserID",), what="filter field")
    return _page(ctx, "LearningAim", ctx.state.aims_of(flt["UserID"]), params)


def _aim(ctx: Ctx, aim_id: int) -> Record:
    aim = ctx.state.raw_aim(aim_id)
    if aim is None:
        raise _not_found("LearningAim", aim_id)
    return aim


def get_aim(ctx: Ctx, params: tuple[int, ...], body: Any) -> Reply:
    return 200, ctx.dialect.record(_aim(ctx, params[0]))


def update_aim(ctx: Ctx, params: tuple[int, ...], body: Any) -> Reply:
    aim = _aim(ctx, params[0])
    rest = _without_read_only(_object(body), aim, AIM_ID_FIELDS, AIM_IGNORED)
    f = check_fields(rest, AIM_UPDATE_KINDS, day_of=ctx.dialect.day_written)
    # Progress is OneFile's own figure: a replace does not clear it; it follows the elements
    # when they allow (state.update_aim), as in a merge.
    f = _replaced(ctx, (k for k in AIM_UPDATE_KINDS if k != "Progress"), f)
    for name in ("TotalElements", "ElementsDone"):
        if f.get(name) is not None and f[name] < 0:
            raise bad(f"{name} must not be negative")
    if f.get("Progress") is not None and not 0 <= f["Progress"] <= 100:
        raise bad("Progress must be between 0 and 100")
    ctx.state.update_aim(aim["ID"], f)
    return 204, NO_BODY


# ---- visits and reviews --------------------------------------------------------------------


def create_visit(ctx: Ctx, params: tuple[int, ...], body: Any) -> Reply:
    f = check_fields(_object(body), VISIT_KINDS, mandatory=VISIT_KINDS)
    _learner(ctx, "LearnerID", f["LearnerID"])
    _organisation(ctx, f)
    if f["DateTo"] <= f["DateFrom"]:
        raise bad("DateTo must be after DateFrom")
    if f["VisitTypeID"] not in ctx.config.visit_type_ids:
        raise bad(f"VisitTypeID {f['VisitTypeID']} is unknown")
    _assessor(ctx, "AssessorID", f["AssessorID"])
    return 200, ctx.state.insert_visit(f)


def create_review(ctx: Ctx, params: tuple[int, ...], body: Any) -> Reply:
    f = check_fields(_object(body), REVIEW_KINDS, mandatory=REVIEW_KINDS)
    _learner(ctx, "LearnerID", f["LearnerID"])
    if f["Status"] != REVIEW_SCHEDULED:
        raise bad("Status must be 1 (scheduled)")
    visit = ctx.state.raw_visit(f["VisitID"])
    if visit is None:
        raise bad(f"VisitID {f['VisitID']} is unknown")
    if visit["LearnerID"] != f["LearnerID"]:
        raise bad(f"VisitID {f['VisitID']} belongs to another learner")
    _assessor(ctx, "AssessorID", f["AssessorID"])
    review_id = ctx.state.insert_review(
        f["LearnerID"],
        Status=REVIEW_SCHEDULED,
        ScheduledFor=f["ScheduledFor"],
        EndTime=visit["DateTo"],
        AssessorID=f["AssessorID"],
    )
    return 200, review_id


def search_reviews(ctx: Ctx, params: tuple[int, ...], body: Any) -> Reply:
    flt = check_fields(
        _object(body), {"LearnerID": "int", "OrganisationID": "int"}, what="filter field"
    )
    _organisation(ctx, flt)
    if ctx.config.review_search_needs_centre and flt.get("OrganisationID") is None:
        raise bad("missing mandatory field(s): OrganisationID")
    rows: Iterator[Record]
    if flt.get("LearnerID") is not None:
        rows = ctx.state.reviews_of(flt["LearnerID"])
    elif flt.get("OrganisationID") is not None:
        rows = ctx.state.reviews_of_centre(flt["OrganisationID"])
    else:
        raise bad("missing mandatory field(s): LearnerID or OrganisationID")
    return _page(ctx, "Review", rows, params)


def get_review(ctx: Ctx, params: tuple[int, ...], body: Any) -> Reply:
    review = ctx.state.raw_review(params[0])
    if review is None:
        raise _not_found("Review", params[0])
    return 200, ctx.dialect.record(review)


# ---- routing -------------------------------------------------------------------------------

INT = None  # a path segment holding an integer


@dataclass(frozen=True, slots=True)
class RouteDef:
    method: str
    pattern: tuple[str | None, ...]  # lower-cased literals, INT for integers
    name: str  # templated route, as in the call log
    handler: Handler | None  # None: Authentication (handled by the app)
    takes_body: bool = True


def _r(method: str, template: str, handler: Handler | None, *, body: bool = True) -> RouteDef:
    pattern = tuple(INT if p.startswith("{") else p.lower() for p in template.split("/"))
    name = f"{method} {template.removesuffix('/{page}/{size}')}"
    return RouteDef(method, pattern, name, handler, body)


ROUTES: tuple[RouteDef, ...] = (
    _r("POST", "Authentication", None, body=False),
    _r("POST", "User", create_user),
    _r("POST", "User/Search/{page}/{size}", search_users),
    _r("GET", "User/{id}", get_user, body=False),
    _r("POST", "User/{id}", update_user),
    _r("POST", "User/{id}/Assign", assign_lead_assessor),
    _r("POST", "Placement", create_placement),
    _r("POST", "Placement/Search/{page}/{size}", search_placements),
    _r("GET", "Placement/{id}", get_placement, body=False),
    _r("POST", "Standard/{id}/Assign/{learner}", assign_standard, body=False),
    _r("POST", "LearningAim/Search/{page}/{size}", search_aims),
    _r("GET", "LearningAim/{id}", get_aim, body=False),
    _r("POST", "LearningAim/{id}", update_aim),
    _r("POST", "Visit", create_visit),
    _r("POST", "Review", create_review),
    _r("POST", "Review/Search/{page}/{size}", search_reviews),
    _r("GET", "Review/{id}", get_review, body=False),
)
AUTHENTICATION = ROUTES[0]


def match(method: str, path: str) -> tuple[RouteDef, tuple[int, ...]] | int:
    """(route, integer path params), or 404 / 405 when nothing matches."""
    segments = path.strip("/").split("/")
    status = 404
    for route in ROUTES:
        if len(route.pattern) != len(segments):
            continue
        params: list[int] = []
        for want, seg in zip(route.pattern, segments, strict=True):
            if want is INT:
                value = path_int(seg)
                if value is None:
                    break
                params.append(value)
            elif want != seg.lower():
                break
        else:
            if route.method == method:
                return route, tuple(params)
            status = 405
    return status
