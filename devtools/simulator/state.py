"""In-memory OneFile: records, indexes, sessions, rate windows and the call log.

The state knows nothing of how this OneFile answers (`dialect.py` does): it holds one truth.
Date-only fields are calendar dates here; the read helpers hand them to tests as midnight UTC
of that date whatever the serving mode (`.date()` gives the date), as they always have.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import math
import random
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .wire import Record, as_midnight_utc, coerce_day, coerce_instant, now_ms, to_wire

ROLE_LEARNER = 1
ROLE_TRAINEE_ASSESSOR = 4
ROLE_ASSESSOR = 5
ASSESSOR_ROLES = frozenset({ROLE_ASSESSOR, ROLE_TRAINEE_ASSESSOR})
REVIEW_SCHEDULED = 1
AIM_STATUS_DEFAULT = 0

USER_FIELDS = (
    "ID", "OrganisationID", "FirstName", "LastName", "Email", "Role", "DefaultAssessorID",
    "ClassroomID", "PlacementID", "MISID", "Telephone", "MobileNumber", "DOB", "ULN", "NINO",
    "StartOn", "PlannedEndDate", "L12", "L13", "L15", "LastModified",
)  # fmt: skip
USER_DAYS = ("DOB", "StartOn", "PlannedEndDate")  # date-only: held as calendar dates
PLACEMENT_FIELDS = ("ID", "OrganisationID", "Name", "MISID", "Active")
AIM_DAYS = (
    "StartDate", "PlannedEnd", "RegistrationDate", "AchievedDate", "ClaimedDate",
    "CertificateAppliedDate", "CertificateReceivedDate",
)  # fmt: skip
AIM_FIELDS = (
    "ID", "UserID", "StandardID", "StartDate", "PlannedEnd", "RegistrationNumber",
    "RegistrationDate", "AchievedDate", "ClaimedDate", "CertificateAppliedDate",
    "CertificateReceivedDate", "TotalElements", "ElementsDone", "Progress", "LeadAssessorID",
    "Status",
)  # fmt: skip
DAY_FIELDS = frozenset(USER_DAYS + AIM_DAYS)
VISIT_FIELDS = (
    "ID", "LearnerID", "OrganisationID", "DateFrom", "DateTo", "VisitTypeID", "AssessorID",
)  # fmt: skip
REVIEW_DATES = (
    "ScheduledFor", "EndTime", "StartedOn", "LearnerSignedOn", "AssessorSignedOn",
    "EmployerSignedOn",
)  # fmt: skip
REVIEW_FIELDS = (
    "ID", "LearnerID", "ScheduledFor", "EndTime", "AssessorID", "Status", "StartedOn",
    "LearnerSignedOn", "AssessorSignedOn", "EmployerSignedOn",
)  # fmt: skip

ID_BASES = {"user": 10001, "placement": 20001, "aim": 30001, "visit": 40001, "review": 50001}


@dataclass(frozen=True, slots=True)
class CallRecord:
    t: float  # time.monotonic() (the state's clock) at arrival
    method: str
    route: str  # templated, e.g. "POST User/Search"
    status: int
    agent: str = ""  # the caller's User-Agent: tells replicas of one deployment apart


@dataclass(slots=True)
class Session:
    token: str
    issued: float
    expired: bool = False


def progress_of(total: int | None, done: int | None) -> int | None:
    if not total or done is None:
        return None
    return max(0, min(100, round(100 * done / total)))


def _blank(fields: tuple[str, ...], **values: Any) -> Record:
    record: Record = dict.fromkeys(fields)
    record.update(values)
    return record


def _coerce(
    record: Mapping[str, Any], *, days: tuple[str, ...] = (), instants: tuple[str, ...] = ()
) -> Record:
    """Seeding input → held values: `days` as calendar dates, `instants` as aware UTC."""
    out = dict(record)
    for name, value in record.items():
        if value is not None and name in days:
            out[name] = coerce_day(value)
        elif value is not None and name in instants:
            out[name] = coerce_instant(value)
    return out


def _read(record: Record) -> Record:
    """A copy for tests: date-only fields as midnight UTC of their date (see the docstring)."""
    return {
        k: as_midnight_utc(v) if k in DAY_FIELDS and v is not None else v for k, v in record.items()
    }


def new_session_id() -> str:
    """Looks like OneFile's: a long base64 text holding "/" and "+", ending in "="."""
    while True:
        sid = base64.b64encode(secrets.token_bytes(47)).decode()  # 47 bytes: one "=" of padding
        if "/" in sid and "+" in sid:
            return sid


class SimulatorState:
    """Everything OneFile knows. Records are dicts keyed by PascalCase field names, with
    date-times held as aware UTC datetimes; read helpers return copies."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._next = dict(ID_BASES)
        self._users: dict[int, Record] = {}
        self._placements: dict[int, Record] = {}
        self._aims: dict[int, Record] = {}
        self._visits: dict[int, Record] = {}
        self._reviews: dict[int, Record] = {}
        self._users_by_misid: dict[str, list[int]] = {}
        self._placements_by_misid: dict[str, list[int]] = {}
        self._aims_by_user: dict[int, list[int]] = {}
        self._reviews_by_learner: dict[int, list[int]] = {}
        self.sessions: dict[str, Session] = {}
        self.call_log: list[CallRecord] = []
        self.windows: dict[str, deque[float]] = {}

    # ---- ids, lookups --------------------------------------------------------------------

    def _new_id(self, kind: str) -> int:
        new = self._next[kind]
        self._next[kind] = new + 1
        return new

    def has_role(self, user_id: Any, role: int) -> bool:
        user = self._users.get(user_id) if isinstance(user_id, int) else None
        return user is not None and user["Role"] == role

    def is_assessor(self, user_id: Any) -> bool:
        """An assessor (Role 5) or a trainee assessor (Role 4)."""
        user = self._users.get(user_id) if isinstance(user_id, int) else None
        return user is not None and user["Role"] in ASSESSOR_ROLES

    def users_sharing_misid(self, misid: str | None) -> int:
        return 0 if misid is None else len(self._users_by_misid.get(misid, ()))

    def raw_user(self, user_id: int) -> Record | None:
        return self._users.get(user_id)

    def raw_aim(self, aim_id: int) -> Record | None:
        return self._aims.get(aim_id)

    def raw_visit(self, visit_id: int) -> Record | None:
        return self._visits.get(visit_id)

    def raw_review(self, review_id: int) -> Record | None:
        return self._reviews.get(review_id)

    def raw_placement(self, placement_id: int) -> Record | None:
        return self._placements.get(placement_id)

    def has_placement(self, placement_id: int) -> bool:
        return placement_id in self._placements

    def touch(self, user_id: int) -> None:
        user = self._users.get(user_id)
        if user is not None:
            user["LastModified"] = now_ms()

    # ---- writes (validated by the API layer; the add_* helpers trust their caller) -------

    def insert_user(self, fields: Mapping[str, Any]) -> Record:
        uid = self._new_id("user")
        record = _blank(USER_FIELDS, **fields, ID=uid, LastModified=now_ms())
        self._users[uid] = record
        if record["MISID"] is not None:
            self._users_by_misid.setdefault(record["MISID"], []).append(uid)
        return record

    def update_user(self, user_id: int, fields: Mapping[str, Any]) -> None:
        record = self._users[user_id]
        if "MISID" in fields and fields["MISID"] != record["MISID"]:
            if record["MISID"] is not None:
                self._users_by_misid[record["MISID"]].remove(user_id)
            if fields["MISID"] is not None:
                bisect.insort(self._users_by_misid.setdefault(fields["MISID"], []), user_id)
        record.update(fields)
        self.touch(user_id)

    def insert_placement(self, fields: Mapping[str, Any]) -> Record:
        pid = self._new_id("placement")
        record = _blank(PLACEMENT_FIELDS, **fields, ID=pid)
        record["Active"] = bool(record["Active"])  # not sent: inactive
        self._placements[pid] = record
        if record["MISID"] is not None:
            self._placements_by_misid.setdefault(record["MISID"], []).append(pid)
        return record

    def insert_aim(self, user_id: int, standard_id: int, **fields: Any) -> int:
        aid = self._new_id("aim")
        values = {"Status": AIM_STATUS_DEFAULT, **fields}
        self._aims[aid] = _blank(
            AIM_FIELDS, **values, ID=aid, UserID=user_id, StandardID=standard_id
        )
        self._aims_by_user.setdefault(user_id, []).append(aid)
        self.touch(user_id)
        return aid

    def update_aim(self, aim_id: int, fields: Mapping[str, Any]) -> None:
        aim = self._aims[aim_id]
        aim.update(fields)
        if "Progress" not in fields and {"TotalElements", "ElementsDone"} & fields.keys():
            computed = progress_of(aim["TotalElements"], aim["ElementsDone"])
            if computed is not None:
                aim["Progress"] = computed
        self.touch(aim["UserID"])

    def insert_visit(self, fields: Mapping[str, Any]) -> int:
        vid = self._new_id("visit")
        self._visits[vid] = _blank(VISIT_FIELDS, **fields, ID=vid)
        return vid

    def insert_review(self, learner_id: int, **fields: Any) -> int:
        rid = self._new_id("review")
        self._reviews[rid] = _blank(REVIEW_FIELDS, **fields, ID=rid, LearnerID=learner_id)
        self._reviews_by_learner.setdefault(learner_id, []).append(rid)
        self.touch(learner_id)
        return rid

    # ---- searches (ID order) -------------------------------------------------------------

    def search_users(self, flt: Mapping[str, Any]) -> Iterator[Record]:
        misid = flt.get("MISID")
        ids: Any = self._users_by_misid.get(misid, ()) if misid is not None else self._users
        first = flt.get("FirstName")
        last = flt.get("LastName")
        first = first.casefold() if first is not None else None
        last = last.casefold() if last is not None else None
        role = flt.get("Role")
        org = flt.get("OrganisationID")
        since = flt.get("LastModified")
        for uid in ids:
            u = self._users[uid]
            if (
                (role is None or u["Role"] == role)
                and (org is None or u["OrganisationID"] == org)
                and (first is None or (u["FirstName"] or "").casefold() == first)
                and (last is None or (u["LastName"] or "").casefold() == last)
                and (since is None or u["LastModified"] >= since)
            ):
                yield u

    def search_placements(self, flt: Mapping[str, Any]) -> Iterator[Record]:
        misid = flt.get("MISID")
        ids: Any = (
            self._placements_by_misid.get(misid, ()) if misid is not None else self._placements
        )
        name = flt.get("Name")
        name = name.casefold() if name is not None else None
        org = flt.get("OrganisationID")
        for pid in ids:
            p = self._placements[pid]
            if (org is None or p["OrganisationID"] == org) and (
                name is None or (p["Name"] or "").casefold() == name
            ):
                yield p

    def aims_of(self, user_id: int) -> Iterator[Record]:
        return (self._aims[a] for a in self._aims_by_user.get(user_id, ()))

    def reviews_of(self, learner_id: int) -> Iterator[Record]:
        return (self._reviews[r] for r in self._reviews_by_learner.get(learner_id, ()))

    def reviews_of_centre(self, organisation_id: int) -> Iterator[Record]:
        users = self._users
        return (
            r for r in self._reviews.values()
            if users[r["LearnerID"]]["OrganisationID"] == organisation_id
        )  # fmt: skip

    # ---- sessions, rate windows, call log ------------------------------------------------

    def open_session(self, token: str, now: float) -> str:
        sid = new_session_id()
        self.sessions[sid] = Session(token, now)
        return sid

    def expire_sessions(self) -> None:
        """Every open session is refused from now on (401 or 403, as configured): the client
        must re-authenticate."""
        for session in self.sessions.values():
            session.expired = True

    def admit(self, token: str, now: float, limit: int, period: float) -> float | None:
        """Count a call in the token's window (now − period, now]; None when under the
        limit, else the seconds until a slot frees (the call is counted either way)."""
        window = self.windows.get(token)
        if window is None:
            window = self.windows[token] = deque()
        horizon = now - period
        while window and window[0] <= horizon:
            window.popleft()
        over = len(window) >= limit
        window.append(now)
        if not over:
            return None
        return max(0.0, window[len(window) - limit] + period - now)

    def record_call(self, t: float, method: str, route: str, status: int, agent: str = "") -> None:
        self.call_log.append(CallRecord(t, method, route, status, agent))

    @property
    def calls(self) -> list[CallRecord]:
        return list(self.call_log)

    def count_calls(self, route: str | None = None, status: int | None = None) -> int:
        return sum(
            1
            for c in self.call_log
            if (route is None or c.route == route) and (status is None or c.status == status)
        )

    def reset_calls(self) -> None:
        self.call_log.clear()

    # ---- read helpers for tests ----------------------------------------------------------

    # Date-only fields come back as midnight UTC of their date in every serving mode;
    # date-times as aware UTC datetimes.

    def users(self, role: int | None = None) -> list[Record]:
        return [_read(u) for u in self._users.values() if role is None or u["Role"] == role]

    def user(self, user_id: int) -> Record:
        return _read(self._users[user_id])

    def placements(self) -> list[Record]:
        return [dict(p) for p in self._placements.values()]

    def placement(self, placement_id: int) -> Record:
        return dict(self._placements[placement_id])

    def learning_aims(self, user_id: int | None = None) -> list[Record]:
        rows = self._aims.values() if user_id is None else self.aims_of(user_id)
        return [_read(a) for a in rows]

    def learning_aim(self, aim_id: int) -> Record:
        return _read(self._aims[aim_id])

    def visits(self) -> list[Record]:
        return [dict(v) for v in self._visits.values()]

    def reviews(self, learner_id: int | None = None) -> list[Record]:
        rows = self._reviews.values() if learner_id is None else self.reviews_of(learner_id)
        return [dict(r) for r in rows]

    def review(self, review_id: int) -> Record:
        return dict(self._reviews[review_id])

    def stats(self) -> dict[str, Any]:
        by_role: dict[str, int] = {}
        for u in self._users.values():
            by_role[str(u["Role"])] = by_role.get(str(u["Role"]), 0) + 1
        by_route: dict[str, dict[str, int]] = {}
        for c in self.call_log:
            statuses = by_route.setdefault(c.route, {})
            statuses[str(c.status)] = statuses.get(str(c.status), 0) + 1
        return {
            "users_by_role": by_role,
            "placements": len(self._placements),
            "learning_aims": len(self._aims),
            "visits": len(self._visits),
            "reviews": len(self._reviews),
            "calls": len(self.call_log),
            "calls_by_route": by_route,
            "rate_limited": sum(1 for c in self.call_log if c.status == 429),
        }

    def dump(self) -> dict[str, list[Record]]:
        """Every record as JSON values; date-only fields as midnight UTC in every mode."""
        return {
            "users": [to_wire(u) for u in self._users.values()],
            "placements": [to_wire(p) for p in self._placements.values()],
            "learning_aims": [to_wire(a) for a in self._aims.values()],
            "visits": [to_wire(v) for v in self._visits.values()],
            "reviews": [to_wire(r) for r in self._reviews.values()],
        }

    # ---- seeding helpers (no API calls; no validation beyond date coercion) ---------------

    def add_user(self, record: Mapping[str, Any]) -> int:
        """A user created in OneFile (PascalCase fields; Role 1, 4, 5 or any other). Date-only
        fields as a date, or a datetime / text taken as its UTC date; LastModified an instant."""
        fields = _coerce(
            {k: v for k, v in record.items() if k != "ID"},
            days=USER_DAYS,
            instants=("LastModified",),
        )
        stamp = fields.pop("LastModified", None)
        created = self.insert_user(fields)
        if stamp is not None:
            created["LastModified"] = stamp
        return int(created["ID"])

    def add_placement(
        self,
        name: str,
        misid: str | None = None,
        organisation_id: int = 1,
        *,
        active: bool = True,
    ) -> int:
        """An employer made in OneFile: active unless said otherwise (an inactive one makes
        learner creation fail when `inactive_placement_refused` is on)."""
        record = self.insert_placement(
            {"OrganisationID": organisation_id, "Name": name, "MISID": misid, "Active": active}
        )
        return int(record["ID"])

    def add_learning_aim(self, user_id: int, standard_id: int, **fields: Any) -> int:
        """Date-only fields as in `add_user`; Status defaults to 0."""
        return self.insert_aim(user_id, standard_id, **_coerce(fields, days=AIM_DAYS))

    def add_review(
        self,
        learner_id: int,
        scheduled_for: dt.datetime,
        assessor_id: int,
        **fields: Any,
    ) -> int:
        """A review created in OneFile (not through our API). EndTime defaults to one hour
        after ScheduledFor; other review fields may be given (StartedOn=..., Status=...)."""
        start = coerce_instant(scheduled_for)
        values: Record = {"Status": REVIEW_SCHEDULED, "EndTime": start + dt.timedelta(hours=1)}
        values.update(_coerce(fields, instants=REVIEW_DATES))
        return self.insert_review(learner_id, ScheduledFor=start, AssessorID=assessor_id, **values)

    def delete_review(self, review_id: int) -> None:
        """A review deleted in OneFile by one of its users (B12): gone from searches, 404 on
        GET. Nothing in the API we use deletes one; this is test and demo tooling."""
        review = self._reviews.pop(review_id)
        self._reviews_by_learner[review["LearnerID"]].remove(review_id)
        self.touch(review["LearnerID"])

    def seed_learners(
        self,
        count: int,
        *,
        standard_id: int = 501,
        reviews: int = 1,
        misid_prefix: str = "SEED",
        organisation_id: int = 1,
        classroom_id: int = 1,
    ) -> list[int]:
        """`count` learners with one assessor, one placement, an aim each and `reviews`
        scheduled reviews each; returns the learner ids."""
        assessor = self.add_user(
            {"OrganisationID": organisation_id, "FirstName": "Seed", "LastName": "Assessor",
             "Role": ROLE_ASSESSOR}
        )  # fmt: skip
        placement = self.add_placement(
            f"{misid_prefix} Employer", f"{misid_prefix}-EMP", organisation_id
        )
        base = now_ms().replace(hour=9, minute=0, second=0, microsecond=0)
        ids = []
        for n in range(1, count + 1):
            uid = self.add_user(
                {"OrganisationID": organisation_id, "FirstName": f"Learner{n}",
                 "LastName": misid_prefix.title(), "Email": f"learner{n}@example.org",
                 "Role": ROLE_LEARNER, "DefaultAssessorID": assessor,
                 "ClassroomID": classroom_id, "PlacementID": placement,
                 "MISID": f"{misid_prefix}{n:06d}"}
            )  # fmt: skip
            self.add_learning_aim(uid, standard_id, StartDate=base.replace(hour=0))
            for k in range(reviews):
                self.add_review(uid, base + dt.timedelta(days=28 * (k + 1)), assessor)
            ids.append(uid)
        return ids

    # ---- OneFile-side changes (each moves the learner's LastModified) --------------------

    def set_progress(self, aim_id: int, total: int, done: int) -> None:
        self.update_aim(
            aim_id,
            {"TotalElements": total, "ElementsDone": done, "Progress": progress_of(total, done)},
        )

    def update_learning_aim(self, aim_id: int, **fields: Any) -> None:
        unknown = set(fields) - set(AIM_FIELDS[3:])
        if unknown:
            raise KeyError(f"not learning aim fields: {sorted(unknown)}")
        self.update_aim(aim_id, _coerce(fields, days=AIM_DAYS))

    def _change_review(self, review_id: int, **fields: Any) -> None:
        review = self._reviews[review_id]
        review.update(fields)
        self.touch(review["LearnerID"])

    def start_review(self, review_id: int, started_on: dt.datetime) -> None:
        self._change_review(review_id, StartedOn=coerce_instant(started_on))

    def sign_review(
        self,
        review_id: int,
        learner_signed_on: dt.datetime,
        assessor_signed_on: dt.datetime | None = None,
    ) -> None:
        fields = {"LearnerSignedOn": coerce_instant(learner_signed_on)}
        if assessor_signed_on is not None:
            fields["AssessorSignedOn"] = coerce_instant(assessor_signed_on)
        self._change_review(review_id, **fields)

    def set_review_assessor(self, review_id: int, assessor_id: int) -> None:
        self._change_review(review_id, AssessorID=assessor_id)

    def apply_changes(self, fraction: float, seed: int | None = None) -> list[int]:
        """OneFile-side activity on round(fraction × learners) learners: progress moves on
        an aim, a review starts and is signed, or a new review appears. → ids changed."""
        rng = random.Random(seed)
        learners = [u["ID"] for u in self._users.values() if u["Role"] == ROLE_LEARNER]
        chosen = sorted(rng.sample(learners, min(len(learners), round(fraction * len(learners)))))
        assessors = [u["ID"] for u in self._users.values() if u["Role"] == ROLE_ASSESSOR]
        now = now_ms()
        for uid in chosen:
            aims = self._aims_by_user.get(uid, [])
            open_reviews = [r["ID"] for r in self.reviews_of(uid) if r["StartedOn"] is None]
            kinds = (["progress"] if aims else []) + (["review"] if open_reviews else [])
            kind = rng.choice([*kinds, "new_review"])
            if kind == "progress":
                aim = self._aims[rng.choice(aims)]
                total = aim["TotalElements"] or 40
                done = min(total, (aim["ElementsDone"] or 0) + rng.randint(1, 5))
                self.set_progress(aim["ID"], total, done)
            elif kind == "review":
                rid = open_reviews[0]
                self.start_review(rid, now - dt.timedelta(hours=1))
                self.sign_review(rid, now, assessor_signed_on=now)
            else:
                assessor = self._users[uid]["DefaultAssessorID"] or (assessors or [None])[0]
                when = now.replace(hour=10, minute=0, second=0, microsecond=0)
                self.add_review(uid, when + dt.timedelta(days=14), assessor)
        return chosen


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
