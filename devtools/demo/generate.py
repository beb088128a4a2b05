"""Deterministic, realistic PICSWeb data for demos, tests and benchmarks.

`generate_picsweb` fills the empty `picsweb` tables (see picsweb_schema.sql) with N learners
and everything around them: officers, employers, a qualification catalogue, placements,
delivery plans, units and reviews. The same seed and `today` give the same rows, ids included.

Rows are built in Python with ids assigned here, written with COPY, and each identity
sequence is then moved past the last id so that later inserts without an id do not collide.

Contact details are made to be harmless: e-mails are under `example.test`, telephone numbers
come from Ofcom's ranges reserved for drama, and nothing is drawn from a real person.
"""

from __future__ import annotations

import calendar
import datetime
import random
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import asyncpg

from devtools.demo.picsweb_schema import SCHEMA, TABLES
from devtools.uk_dates import uk_today

UK = ZoneInfo("Europe/London")
CATALOGUE_SIZE = 40

Row = tuple[object, ...]
# (id, code, title, onefile_standard_id)
QualificationRow = tuple[int, str, str, int | None]

# --- small built-in lists -----------------------------------------------------------------

# fmt: off
FIRST_NAMES: tuple[str, ...] = (
    "Oliver", "George", "Harry", "Jack", "Jacob", "Noah", "Charlie", "Muhammad", "Thomas", "Oscar",
    "William", "James", "Leo", "Alfie", "Henry", "Joshua", "Freddie", "Archie", "Ethan", "Isaac",
    "Alexander", "Joseph", "Edward", "Samuel", "Max", "Daniel", "Arthur", "Lucas", "Mohammed",
    "Logan", "Olivia", "Amelia", "Isla", "Ava", "Emily", "Isabella", "Mia", "Poppy", "Ella",
    "Lily", "Grace", "Sophia", "Evie", "Jessica", "Chloe", "Ruby", "Sophie", "Daisy", "Freya",
    "Alice", "Florence", "Millie", "Evelyn", "Phoebe", "Layla", "Sienna", "Matilda", "Rosie",
    "Aisha", "Priya", "Siobhan", "Rhys", "Eilidh", "Callum",
)
SURNAMES: tuple[str, ...] = (
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
    "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes",
    "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood", "Turner", "Martin",
    "Cooper", "Hill", "Ward", "Morris", "Moore", "Clark", "Lee", "King", "Baker", "Harrison",
    "Morgan", "Allen", "James", "Scott", "Phillips", "Watson", "Davis", "Parker", "Price",
    "Bennett", "Young", "Griffiths", "Mitchell", "Kelly", "Cook", "Carter", "Richardson", "Bailey",
    "Collins", "Bell", "Shaw", "Murphy", "Khan", "Ahmed", "Singh", "Begum", "Hussain", "Campbell",
    "Stewart", "MacDonald", "O'Brien", "O'Neill", "Lloyd",
)
COMPANY_FIRST: tuple[str, ...] = (
    "Northern", "Pennine", "Thames", "Severn", "Mersey", "Humber", "Tyne", "Cotswold", "Chiltern",
    "Mendip", "Albion", "Britannia", "Crown", "Kingsway", "Meridian", "Oakwood", "Riverside",
    "Highfield", "Westgate", "Eastbrook", "Greenacre", "Hillcrest", "Redbrick", "Castle",
    "Harbour", "Summit", "Beacon", "Abbey", "Victoria", "Sterling", "Carlton", "Ashford",
    "Brampton", "Whitfield", "Langley", "Moorland", "Fenland", "Wessex", "Clyde",
)
COMPANY_TRADE: tuple[str, ...] = (
    "Engineering", "Care Homes", "Logistics", "Construction", "Motors", "Hospitality",
    "Facilities", "Electrical", "Plumbing & Heating", "Dental Practice", "Veterinary Group",
    "Accountants", "Print", "Foods", "Retail", "Nurseries", "Digital", "Joinery", "Haulage",
    "Hair & Beauty", "Pharmacy", "Housing", "Security", "Recruitment", "Garden Centres",
)
COMPANY_FORM: tuple[str, ...] = (
    "Ltd", "Ltd", "Ltd", "Limited", "PLC", "LLP", "& Co", "Group",
)
QUALIFICATION_TITLES: tuple[str, ...] = (
    "Adult Care Worker (Level 2)", "Lead Adult Care Worker (Level 3)",
    "Customer Service Practitioner (Level 2)", "Customer Service Specialist (Level 3)",
    "Business Administrator (Level 3)", "Team Leader or Supervisor (Level 3)",
    "Operations or Departmental Manager (Level 5)", "Early Years Practitioner (Level 2)",
    "Early Years Educator (Level 3)", "Teaching Assistant (Level 3)",
    "Hospitality Team Member (Level 2)", "Hospitality Supervisor (Level 3)",
    "Commis Chef (Level 2)", "Retailer (Level 2)", "Retail Team Leader (Level 3)",
    "Warehouse Operative (Level 2)", "Supply Chain Warehouse Operative (Level 2)",
    "Large Goods Vehicle Driver (Level 2)", "Property Maintenance Operative (Level 2)",
    "Installation Electrician and Maintenance Electrician (Level 3)",
    "Plumbing and Domestic Heating Technician (Level 3)", "Carpentry and Joinery (Level 2)",
    "Bricklayer (Level 2)", "Engineering Operative (Level 2)", "Engineering Technician (Level 3)",
    "Maintenance and Operations Engineering Technician",
    "Motor Vehicle Service and Maintenance Technician (Level 3)", "Hair Professional (Level 2)",
    "Beauty Therapist (Level 2)", "Pharmacy Services Assistant (Level 2)",
    "Dental Nurse (Level 3)", "Healthcare Support Worker (Level 2)",
    "Senior Healthcare Support Worker (Level 3)",
    "Information Communications Technician (Level 3)", "Software Developer (Level 4)",
    "Digital Marketer (Level 3)", "Assistant Accountant (Level 3)",
    "Accounts or Finance Assistant (Level 2)", "HR Support (Level 3)",
    "Functional Skills English and Maths",
)
UNIT_TITLES: tuple[str, ...] = (
    "Health and safety in the workplace", "Equality, diversity and inclusion",
    "Safeguarding and Prevent", "Communication in the workplace",
    "Personal and professional development", "Working with others",
    "Customer needs and expectations", "Data protection and confidentiality",
    "Managing own workload", "Problem solving and decision making",
    "Quality and continuous improvement", "Using digital tools at work", "Risk assessment",
    "Handling complaints", "Stock control and inventory", "Food safety and hygiene",
    "Infection prevention and control", "Manual handling", "First aid at work",
    "Sustainability in the workplace",
)
# ILR L12 ethnicity codes with rough weights.
ETHNICITY: tuple[tuple[str, int], ...] = (
    ("31", 70), ("32", 1), ("33", 1), ("34", 5), ("35", 1), ("36", 1), ("37", 1), ("38", 1),
    ("39", 3), ("40", 3), ("41", 1), ("42", 1), ("43", 1), ("44", 3), ("45", 2), ("46", 1),
    ("47", 1), ("98", 1), ("99", 3),
)
# Ofcom's numbers reserved for drama: (prefix, how many random digits follow).
LANDLINES: tuple[tuple[str, int], ...] = (
    ("0113 496 0", 3), ("0114 496 0", 3), ("0115 496 0", 3), ("0116 496 0", 3), ("0117 496 0", 3),
    ("0118 496 0", 3), ("0121 496 0", 3), ("0131 496 0", 3), ("0141 496 0", 3), ("0151 496 0", 3),
    ("0161 496 0", 3), ("0191 498 0", 3), ("020 7946 0", 3), ("028 9649 6", 3), ("029 2018 0", 3),
    ("01632 960", 3),
)
# fmt: on
MOBILE_PREFIX = "07700 900"
START_TIMES: tuple[datetime.time, ...] = tuple(
    datetime.time(h, m)
    for h, m in (
        (9, 0), (9, 30), (10, 0), (10, 30), (11, 0), (11, 30),
        (13, 0), (13, 30), (14, 0), (14, 30), (15, 0), (15, 30), (16, 0),
    )
)  # fmt: skip
_NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
_NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})

_COLUMNS: dict[str, tuple[str, ...]] = {
    "officers": ("id", "first_name", "surname", "ident", "email", "onefile_user_id"),
    "organisations": ("id", "name", "ident", "onefile_placement_id"),
    "qualifications": ("id", "code", "title", "onefile_standard_id"),
    "learners": (
        "id", "first_name", "surname", "email", "telephone", "mobile", "dob", "uln", "nino",
        "start_date", "planned_end_date", "main_officer_id", "ethnicity", "sex", "disability",
        "onefile_user_id",
    ),
    "placements": ("id", "learner_id", "organisation_id", "type", "start_date"),
    "learner_qualifications": (
        "id", "learner_id", "qualification_id", "start_date", "planned_end_date",
        "registration_number", "registration_date", "achieved_date", "claimed_date",
        "certificate_applied_date", "certificate_received_date", "assessor_officer_id",
        "total_elements", "elements_done", "onefile_learning_aim_id",
    ),
    "learner_qualification_units": ("id", "learner_qualification_id", "code", "title"),
    "reviews": (
        "id", "learner_id", "type", "planned_date", "start_time", "officer_id", "attended",
        "actual_date", "trainee_signed_date", "onefile_review_id",
    ),
}  # fmt: skip

# What an unenrollable learner lacks (rule A1).
LACKS_EMAIL = "email"
LACKS_MAIN_OFFICER = "main_officer"
LACKS_PLACEMENT = "placement"
_LACKS = (LACKS_EMAIL, LACKS_MAIN_OFFICER, LACKS_PLACEMENT)


@dataclass(frozen=True)
class GeneratedSummary:
    """What `generate_picsweb` wrote: rows per table and the learner id range."""

    officers: int
    organisations: int
    qualifications: int
    learners: int
    placements: int
    learner_qualifications: int
    learner_qualification_units: int
    reviews: int
    first_learner_id: int | None
    last_learner_id: int | None
    # Learners made to fail rule A1, ascending, each lacking one item (see `LACKS_*`).
    unenrollable_learner_ids: tuple[int, ...] = ()

    @property
    def complete_learner_ids(self) -> list[int]:
        """The learners generated with everything enrolment needs (the others are listed in
        `unenrollable_learner_ids`): what the generator made, not a reading of rule A1."""
        if self.first_learner_id is None or self.last_learner_id is None:
            return []
        lacking = set(self.unenrollable_learner_ids)
        ids = range(self.first_learner_id, self.last_learner_id + 1)
        return [lid for lid in ids if lid not in lacking]

    @property
    def counts(self) -> dict[str, int]:
        """Rows per table, keyed by table name."""
        return {table: int(getattr(self, table)) for table in TABLES}


# --- date helpers ---------------------------------------------------------------------------


def _add_months(day: datetime.date, months: int) -> datetime.date:
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return datetime.date(year, month0 + 1, min(day.day, last))


def _days(n: int) -> datetime.timedelta:
    return datetime.timedelta(days=n)


def _between(rng: random.Random, first: datetime.date, last: datetime.date) -> datetime.date:
    return first + _days(rng.randint(0, (last - first).days))


def _not_after(day: datetime.date, today: datetime.date) -> datetime.date | None:
    return day if day <= today else None


# --- generators, one per table --------------------------------------------------------------


def _officers(rng: random.Random, emails: random.Random, n: int) -> list[Row]:
    """Officers; most have a work email, a few (about one in thirty) none: rule A1 refuses to
    upload those to OneFile. Emails come from their own stream, so names stay as they were."""
    rows: list[Row] = []
    for oid in range(1, n + 1):
        first, surname = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
        ident = None if rng.random() < 0.05 else f"OFF{oid:04d}"
        email = (
            None
            if emails.random() < 0.03
            else f"{_email_part(first)}.{_email_part(surname)}.{oid}@staff.example.test"
        )
        rows.append((oid, first, surname, ident, email, None))
    return rows


def _organisations(rng: random.Random, n: int) -> list[Row]:
    seen: dict[str, int] = {}
    rows: list[Row] = []
    for oid in range(1, n + 1):
        base = f"{rng.choice(COMPANY_FIRST)} {rng.choice(COMPANY_TRADE)} {rng.choice(COMPANY_FORM)}"
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 else f"{base} ({seen[base]})"
        ident = None if rng.random() < 0.05 else f"ORG{oid:05d}"
        rows.append((oid, name, ident, None))
    return rows


def _qualifications(rng: random.Random, standard_ids: Sequence[int]) -> list[QualificationRow]:
    linked = sorted(rng.sample(range(CATALOGUE_SIZE), len(standard_ids)))
    standard_of = dict(zip(linked, standard_ids, strict=True))
    return [
        (i + 1, f"ST{i + 1:04d}", QUALIFICATION_TITLES[i], standard_of.get(i))
        for i in range(CATALOGUE_SIZE)
    ]


def _telephone(rng: random.Random) -> str:
    prefix, digits = rng.choice(LANDLINES)
    return f"{prefix}{rng.randrange(10**digits):0{digits}d}"


def _nino(rng: random.Random) -> str:
    while True:
        prefix = rng.choice(_NINO_FIRST) + rng.choice(_NINO_SECOND)
        if prefix not in _NINO_BAD_PREFIXES:
            break
    return f"{prefix}{rng.randrange(10**6):06d}{rng.choice('ABCD')}"


def _email_part(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


@dataclass(frozen=True, slots=True)
class _Learner:
    id: int
    start_date: datetime.date
    main_officer_id: int | None
    lacks: str | None


def _learners(
    rng: random.Random,
    n: int,
    *,
    today: datetime.date,
    officers: int,
    unenrollable: dict[int, str],
) -> tuple[list[Row], list[_Learner]]:
    rows: list[Row] = []
    learners: list[_Learner] = []
    ulns: set[str] = set()
    eth_codes = [code for code, _ in ETHNICITY]
    eth_weights = [weight for _, weight in ETHNICITY]
    oldest = _add_months(today, -51 * 12) + _days(1)
    youngest = _add_months(today, -16 * 12)
    for lid in range(1, n + 1):
        lacks = unenrollable.get(lid)
        first, surname = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
        email = f"{_email_part(first)}.{_email_part(surname)}.{lid}@example.test"
        while True:
            uln = str(rng.randrange(10**9, 10**10))
            if uln not in ulns:
                ulns.add(uln)
                break
        start = today - _days(rng.randint(0, 730))
        main_officer = rng.randint(1, officers)
        rows.append(
            (
                lid,
                first,
                surname,
                None if lacks == LACKS_EMAIL else email,
                None if rng.random() < 0.3 else _telephone(rng),
                None if rng.random() < 0.15 else f"{MOBILE_PREFIX}{rng.randrange(1000):03d}",
                _between(rng, oldest, youngest),
                uln,
                None if rng.random() < 0.1 else _nino(rng),
                start,
                _add_months(start, rng.randint(12, 30)),
                None if lacks == LACKS_MAIN_OFFICER else main_officer,
                rng.choices(eth_codes, eth_weights)[0],
                rng.choice("MF"),
                rng.choices(("1", "2", "9"), (15, 75, 10))[0],
                None,
            )
        )
        learners.append(
            _Learner(lid, start, None if lacks == LACKS_MAIN_OFFICER else main_officer, lacks)
        )
    return rows, learners


def _placements(rng: random.Random, learners: list[_Learner], organisations: int) -> list[Row]:
    rows: list[Row] = []
    pid = 0
    for learner in learners:
        if learner.lacks == LACKS_PLACEMENT:
            continue
        count = rng.choices((1, 2, 3), (60, 30, 10))[0]
        start = learner.start_date - _days(rng.randint(0, 30))
        for k in range(count):
            if k:
                # Now and then two placements start the same day (ties: the higher id wins).
                start += _days(0 if rng.random() < 0.05 else rng.randint(14, 240))
            pid += 1
            kind = rng.choices("PEO", (80, 12, 8))[0]
            rows.append((pid, learner.id, rng.randint(1, organisations), kind, start))
    return rows


def _assessor(rng: random.Random, main_officer: int | None, officers: int) -> int:
    if main_officer is not None and rng.random() < 0.7:
        return main_officer
    return rng.randint(1, officers)


def _learner_qualifications(
    rng: random.Random,
    learners: list[_Learner],
    *,
    today: datetime.date,
    officers: int,
    qualifications: list[QualificationRow],
) -> list[Row]:
    linked = [q[0] for q in qualifications if q[3] is not None]
    unlinked = [q[0] for q in qualifications if q[3] is None]
    rows: list[Row] = []
    lqid = 0
    for learner in learners:
        count = rng.choices((1, 2, 3), (65, 25, 10))[0]
        chosen: list[int] = []
        while len(chosen) < count:
            pool = linked if linked and (not unlinked or rng.random() < 0.85) else unlinked
            qid = rng.choice(pool)
            if qid not in chosen:
                chosen.append(qid)
        for qid in chosen:
            lqid += 1
            start = learner.start_date + _days(rng.randint(0, 45))
            planned_end = _add_months(start, rng.randint(12, 24))
            reg_number: str | None = None
            reg_date: datetime.date | None = None
            if rng.random() < 0.5:
                reg_number = f"{rng.choice('CEPR')}{rng.randrange(10**8):08d}"
                reg_date = _not_after(start + _days(rng.randint(7, 90)), today)
            achieved = claimed = applied = received = None
            if planned_end <= today and rng.random() < 0.5:
                achieved = max(start, planned_end - _days(rng.randint(0, 60)))
                if rng.random() < 0.7:
                    claimed = _not_after(achieved + _days(rng.randint(1, 30)), today)
                if rng.random() < 0.6:
                    applied = _not_after(achieved + _days(rng.randint(7, 45)), today)
                    if applied is not None and rng.random() < 0.7:
                        received = _not_after(applied + _days(rng.randint(14, 60)), today)
            rows.append(
                (
                    lqid,
                    learner.id,
                    qid,
                    start,
                    planned_end,
                    reg_number,
                    reg_date,
                    achieved,
                    claimed,
                    applied,
                    received,
                    _assessor(rng, learner.main_officer_id, officers),
                    None,
                    None,
                    None,
                )
            )
    return rows


def _units(
    rng: random.Random, learner_qualifications: list[Row], qualifications: list[QualificationRow]
) -> list[Row]:
    code_of: dict[object, str] = {q[0]: q[1] for q in qualifications}
    rows: list[Row] = []
    uid = 0
    for lq in learner_qualifications:
        if rng.random() >= 0.1:
            continue
        qcode = code_of[lq[2]]
        for k in sorted(rng.sample(range(len(UNIT_TITLES)), rng.randint(1, 4))):
            uid += 1
            rows.append((uid, lq[0], f"{qcode}/U{k + 1:02d}", UNIT_TITLES[k]))
    return rows


def _reviews(
    rng: random.Random, learners: list[_Learner], *, today: datetime.date, officers: int
) -> list[Row]:
    earliest, latest = _add_months(today, -6), _add_months(today, 6)
    rows: list[Row] = []
    rid = 0
    for learner in learners:
        planned_dates = sorted(_between(rng, earliest, latest) for _ in range(rng.randint(2, 6)))
        for planned in planned_dates:
            rid += 1
            kind = rng.choices("NPE", (85, 10, 5))[0]
            start_time = None if rng.random() < 0.1 else rng.choice(START_TIMES)
            draw = rng.random()
            if draw < 0.6:
                officer: int | None = None  # the learner's main officer applies
            elif draw < 0.8 and learner.main_officer_id is not None:
                officer = learner.main_officer_id
            else:
                officer = rng.randint(1, officers)
            actual: datetime.date | None = None
            signed: datetime.date | None = None
            if planned > today:
                attended = "U"
            else:
                attended = rng.choices("YNU", (70, 15, 15))[0]
                if attended == "Y":
                    shift = 0 if rng.random() < 0.7 else rng.randint(-3, 7)
                    actual = min(today, planned + _days(shift))
                    if rng.random() < 0.6:
                        signed = min(today, actual + _days(rng.randint(0, 5)))
            rows.append(
                (
                    rid,
                    learner.id,
                    kind,
                    planned,
                    start_time,
                    officer,
                    attended,
                    actual,
                    signed,
                    None,
                )
            )
    return rows


# --- public API -----------------------------------------------------------------------------


async def generate_picsweb(
    conn: asyncpg.Connection,
    *,
    learners: int,
    seed: int = 1,
    today: datetime.date | None = None,
    standard_ids: Sequence[int] = range(501, 531),
    unenrollable_fraction: float = 0.0,
) -> GeneratedSummary:
    """Fill the empty PICSWeb tables with `learners` learners and all that goes with them.

    Deterministic for a given `seed` and `today` (default: today in the UK). Of the 40
    qualifications, one per `standard_ids` entry is linked to that OneFile Standard, the others
    are not available in OneFile. `unenrollable_fraction` of the learners, chosen at random,
    each lack one thing rule A1 needs (an email, a main officer or any placement). Runs in one
    transaction; raises ValueError when a table already has rows or an argument is out of range.
    """
    if learners < 0:
        raise ValueError("learners must be >= 0")
    if not 0.0 <= unenrollable_fraction <= 1.0:
        raise ValueError("unenrollable_fraction must be within [0, 1]")
    standards = [int(s) for s in standard_ids]
    if len(standards) > CATALOGUE_SIZE or len(set(standards)) != len(standards):
        raise ValueError(f"standard_ids must be at most {CATALOGUE_SIZE} distinct ids")
    day = today if today is not None else uk_today(datetime.datetime.now(datetime.UTC))

    def rng(table: str) -> random.Random:
        # One stream per table: a change to one table's rules leaves the others as they were.
        return random.Random(f"{seed}/{table}")

    n_officers = learners // 25 + 3
    n_organisations = learners // 8 + 2
    pick = rng("unenrollable")
    unenrollable_ids = sorted(
        pick.sample(range(1, learners + 1), round(learners * unenrollable_fraction))
    )
    unenrollable = {lid: pick.choice(_LACKS) for lid in unenrollable_ids}

    officer_rows = _officers(rng("officers"), rng("officer_emails"), n_officers)
    organisation_rows = _organisations(rng("organisations"), n_organisations)
    qualification_rows = _qualifications(rng("qualifications"), standards)
    learner_rows, people = _learners(
        rng("learners"), learners, today=day, officers=n_officers, unenrollable=unenrollable
    )
    placement_rows = _placements(rng("placements"), people, n_organisations)
    lq_rows = _learner_qualifications(
        rng("learner_qualifications"),
        people,
        today=day,
        officers=n_officers,
        qualifications=qualification_rows,
    )
    unit_rows = _units(rng("learner_qualification_units"), lq_rows, qualification_rows)
    review_rows = _reviews(rng("reviews"), people, today=day, officers=n_officers)

    data: dict[str, Sequence[Sequence[object]]] = {
        "officers": officer_rows,
        "organisations": organisation_rows,
        "qualifications": qualification_rows,
        "learners": learner_rows,
        "placements": placement_rows,
        "learner_qualifications": lq_rows,
        "learner_qualification_units": unit_rows,
        "reviews": review_rows,
    }
    async with conn.transaction():
        occupied = [
            table
            for table in TABLES
            if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {SCHEMA}.{table})")  # noqa: S608
        ]
        if occupied:
            raise ValueError(f"PICSWeb tables are not empty: {', '.join(occupied)}")
        for table in TABLES:
            rows = data[table]
            if rows:
                await conn.copy_records_to_table(
                    table, schema_name=SCHEMA, columns=_COLUMNS[table], records=rows
                )
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence($1, 'id'), $2, false)",
                f"{SCHEMA}.{table}",
                len(rows) + 1,
            )
    return GeneratedSummary(
        officers=len(officer_rows),
        organisations=len(organisation_rows),
        qualifications=len(qualification_rows),
        learners=len(learner_rows),
        placements=len(placement_rows),
        learner_qualifications=len(lq_rows),
        learner_qualification_units=len(unit_rows),
        reviews=len(review_rows),
        first_learner_id=1 if learners else None,
        last_learner_id=learners if learners else None,
        unenrollable_learner_ids=tuple(unenrollable_ids),
    )


async def truncate_picsweb(conn: asyncpg.Connection) -> None:
    """Empty all eight PICSWeb tables and restart their identity sequences."""
    names = ", ".join(f"{SCHEMA}.{table}" for table in TABLES)
    await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
