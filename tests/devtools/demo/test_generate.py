"""The PICSWeb demo tables (devtools/demo/picsweb_schema.sql) and the data generator.

Runs against a Postgres server (env TEST_DATABASE_URL, default the local one) in a database
created for this module and dropped at its end. Fixtures are local on purpose.
"""

from __future__ import annotations

import datetime
import os
import re
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import pytest_asyncio

from devtools.demo.generate import GeneratedSummary, generate_picsweb, truncate_picsweb
from devtools.demo.picsweb_schema import TABLES, create_picsweb_tables, drop_picsweb_tables

pytestmark = pytest.mark.asyncio(loop_scope="session")

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TODAY = datetime.date(2025, 11, 28)
N = 2_000
UNENROLLABLE = 0.05
NINO = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]")

# docs/picsweb-database.md, column by column: (name, type, nullable).
BIGINT, TEXT, DATE, INT = "bigint", "text", "date", "integer"
TIME, TSTZ = "time without time zone", "timestamp with time zone"
CONTRACT: dict[str, list[tuple[str, str, bool]]] = {
    "officers": [
        ("id", BIGINT, False),
        ("first_name", TEXT, False),
        ("surname", TEXT, False),
        ("ident", TEXT, True),
        ("email", TEXT, True),
        ("onefile_user_id", BIGINT, True),
    ],
    "organisations": [
        ("id", BIGINT, False),
        ("name", TEXT, False),
        ("ident", TEXT, True),
        ("onefile_placement_id", BIGINT, True),
    ],
    "learners": [
        ("id", BIGINT, False),
        ("first_name", TEXT, False),
        ("surname", TEXT, False),
        ("email", TEXT, True),
        ("telephone", TEXT, True),
        ("mobile", TEXT, True),
        ("dob", DATE, True),
        ("uln", TEXT, True),
        ("nino", TEXT, True),
        ("start_date", DATE, True),
        ("planned_end_date", DATE, True),
        ("main_officer_id", BIGINT, True),
        ("ethnicity", TEXT, True),
        ("sex", TEXT, True),
        ("disability", TEXT, True),
        ("onefile_user_id", BIGINT, True),
    ],
    "placements": [
        ("id", BIGINT, False),
        ("learner_id", BIGINT, False),
        ("organisation_id", BIGINT, False),
        ("type", TEXT, False),
        ("start_date", DATE, False),
    ],
    "qualifications": [
        ("id", BIGINT, False),
        ("code", TEXT, False),
        ("title", TEXT, False),
        ("onefile_standard_id", BIGINT, True),
    ],
    "learner_qualifications": [
        ("id", BIGINT, False),
        ("learner_id", BIGINT, False),
        ("qualification_id", BIGINT, False),
        ("start_date", DATE, True),
        ("planned_end_date", DATE, True),
        ("registration_number", TEXT, True),
        ("registration_date", DATE, True),
        ("achieved_date", DATE, True),
        ("claimed_date", DATE, True),
        ("certificate_applied_date", DATE, True),
        ("certificate_received_date", DATE, True),
        ("assessor_officer_id", BIGINT, True),
        ("total_elements", INT, True),
        ("elements_done", INT, True),
        ("onefile_learning_aim_id", BIGINT, True),
    ],
    "learner_qualification_units": [
        ("id", BIGINT, False),
        ("learner_qualification_id", BIGINT, False),
        ("code", TEXT, False),
        ("title", TEXT, False),
    ],
    "reviews": [
        ("id", BIGINT, False),
        ("learner_id", BIGINT, False),
        ("type", TEXT, False),
        ("planned_date", DATE, True),
        ("start_time", TIME, True),
        ("officer_id", BIGINT, True),
        ("attended", TEXT, False),
        ("actual_date", DATE, True),
        ("trainee_signed_date", DATE, True),
        ("onefile_review_id", BIGINT, True),
    ],
}
# (table, column) -> referenced table
FOREIGN_KEYS = {
    ("learners", "main_officer_id"): "officers",
    ("placements", "learner_id"): "learners",
    ("placements", "organisation_id"): "organisations",
    ("learner_qualifications", "learner_id"): "learners",
    ("learner_qualifications", "qualification_id"): "qualifications",
    ("learner_qualifications", "assessor_officer_id"): "officers",
    ("learner_qualification_units", "learner_qualification_id"): "learner_qualifications",
    ("reviews", "learner_id"): "learners",
    ("reviews", "officer_id"): "officers",
}
OTHER_INDEXED = {
    ("learners", "onefile_user_id"),
    ("learners", "updated_at"),
    ("officers", "onefile_user_id"),
    ("officers", "ident"),
    ("organisations", "ident"),
}


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def database_url() -> AsyncIterator[str]:
    name = f"test_demo_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield _with_database(ADMIN_URL, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest_asyncio.fixture(loop_scope="session")
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the module's database with empty PICSWeb tables."""
    connection = await asyncpg.connect(database_url)
    try:
        await create_picsweb_tables(connection)
        await truncate_picsweb(connection)
        yield connection
    finally:
        await connection.close()


async def _generate(conn: asyncpg.Connection, seed: int = 1) -> GeneratedSummary:
    return await generate_picsweb(
        conn, learners=N, seed=seed, today=TODAY, unenrollable_fraction=UNENROLLABLE
    )


async def _snapshot(conn: asyncpg.Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table but updated_at, in id order."""
    out: dict[str, list[tuple[object, ...]]] = {}
    for table, columns in CONTRACT.items():
        names = ", ".join(col for col, _, _ in columns)
        rows = await conn.fetch(f"SELECT {names} FROM picsweb.{table} ORDER BY id")
        out[table] = [tuple(r) for r in rows]
    return out


# --- the DDL ----------------------------------------------------------------------------------


async def test_ddl_applies_twice_and_drops(conn: asyncpg.Connection) -> None:
    await create_picsweb_tables(conn)
    await create_picsweb_tables(conn)
    await drop_picsweb_tables(conn)
    assert not await conn.fetchval(
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'picsweb'::regnamespace"
        " AND relkind = 'r'"
    )
    await drop_picsweb_tables(conn)
    await create_picsweb_tables(conn)
    tables = await conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'picsweb'"
    )
    assert {r["table_name"] for r in tables} == set(TABLES)


async def test_columns_match_the_contract(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(
        """
        SELECT table_name, column_name, data_type, is_nullable, column_default,
               is_identity, identity_generation
          FROM information_schema.columns
         WHERE table_schema = 'picsweb'
         ORDER BY table_name, ordinal_position
        """
    )
    actual: dict[str, list[tuple[str, str, bool]]] = {}
    for r in rows:
        if r["column_name"] == "updated_at":
            assert r["data_type"] == TSTZ
            assert r["is_nullable"] == "NO"
            assert r["column_default"] == "now()"
            continue
        actual.setdefault(r["table_name"], []).append(
            (r["column_name"], r["data_type"], r["is_nullable"] == "YES")
        )
        if r["column_name"] == "id":
            assert (r["is_identity"], r["identity_generation"]) == ("YES", "BY DEFAULT")
    assert actual == CONTRACT
    with_updated_at = await conn.fetchval(
        "SELECT count(*) FROM information_schema.columns"
        " WHERE table_schema = 'picsweb' AND column_name = 'updated_at'"
    )
    assert with_updated_at == len(TABLES)


async def test_keys_indexes_and_no_triggers(conn: asyncpg.Connection) -> None:
    fks = await conn.fetch(
        """
        SELECT c.conrelid::regclass::text AS tbl, a.attname AS col,
               c.confrelid::regclass::text AS ref
          FROM pg_constraint c
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE c.contype = 'f' AND c.connamespace = 'picsweb'::regnamespace
        """
    )
    assert {
        (r["tbl"].removeprefix("picsweb."), r["col"]): r["ref"].removeprefix("picsweb.")
        for r in fks
    } == FOREIGN_KEYS
    indexed = await conn.fetch(
        """
        SELECT t.relname AS tbl, a.attname AS col, i.indisunique AS uniq, i.indisprimary AS pk
          FROM pg_index i
          JOIN pg_class t ON t.oid = i.indrelid
          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]
         WHERE t.relnamespace = 'picsweb'::regnamespace
        """
    )
    leading = {(r["tbl"], r["col"]) for r in indexed}
    assert set(FOREIGN_KEYS) | OTHER_INDEXED <= leading
    unique = {(r["tbl"], r["col"]) for r in indexed if r["uniq"] and not r["pk"]}
    assert unique == {("reviews", "onefile_review_id")}
    assert {r["tbl"] for r in indexed if r["pk"]} == set(TABLES)
    triggers = await conn.fetchval(
        "SELECT count(*) FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid"
        " WHERE t.relnamespace = 'picsweb'::regnamespace AND NOT g.tgisinternal"
    )
    assert triggers == 0


# --- the generator ----------------------------------------------------------------------------


async def test_counts_match_the_summary(conn: asyncpg.Connection) -> None:
    summary = await _generate(conn)
    for table in TABLES:
        assert await conn.fetchval(f"SELECT count(*) FROM picsweb.{table}") == getattr(
            summary, table
        ), table
    assert summary.learners == N
    assert (summary.first_learner_id, summary.last_learner_id) == (1, N)
    assert summary.officers == N // 25 + 3
    assert summary.organisations == N // 8 + 2
    assert summary.qualifications == 40
    assert 1.2 * N <= summary.placements <= 2.0 * N
    assert 1.2 * N <= summary.learner_qualifications <= 2.0 * N
    assert 3 * N <= summary.reviews <= 5 * N
    assert 0.05 * summary.learner_qualifications <= summary.learner_qualification_units
    assert summary.learner_qualification_units <= 0.4 * summary.learner_qualifications
    assert len(summary.unenrollable_learner_ids) == round(N * UNENROLLABLE)
    assert summary.counts == {table: getattr(summary, table) for table in TABLES}


async def test_officers_organisations_qualifications(conn: asyncpg.Connection) -> None:
    await _generate(conn)
    officers = await conn.fetch("SELECT * FROM picsweb.officers")
    assert all(o["first_name"] and o["surname"] for o in officers)
    assert all(o["onefile_user_id"] is None for o in officers)
    idents = [o["ident"] for o in officers if o["ident"] is not None]
    assert all(i == f"OFF{o['id']:04d}" for o in officers if (i := o["ident"]) is not None)
    assert len(idents) >= 0.8 * len(officers)
    emails = [o["email"] for o in officers if o["email"] is not None]
    assert all(e.endswith(".example.test") for e in emails)
    assert 0.8 * len(officers) <= len(emails) < len(officers)  # most have one, a few not

    orgs = await conn.fetch("SELECT * FROM picsweb.organisations")
    assert len({o["name"] for o in orgs}) == len(orgs)
    assert all(o["onefile_placement_id"] is None for o in orgs)
    assert all(i == f"ORG{o['id']:05d}" for o in orgs if (i := o["ident"]) is not None)
    assert 0 < sum(o["ident"] is None for o in orgs) <= 0.12 * len(orgs)

    quals = await conn.fetch("SELECT * FROM picsweb.qualifications ORDER BY id")
    assert [q["code"] for q in quals] == [f"ST{i:04d}" for i in range(1, 41)]
    assert all(q["title"] for q in quals)
    linked = sorted(q["onefile_standard_id"] for q in quals if q["onefile_standard_id"])
    assert linked == list(range(501, 531))


async def test_learners(conn: asyncpg.Connection) -> None:
    summary = await _generate(conn)
    rows = await conn.fetch("SELECT * FROM picsweb.learners ORDER BY id")
    ulns = [r["uln"] for r in rows]
    assert all(u is not None and len(u) == 10 and u.isdigit() for u in ulns)
    assert len(set(ulns)) == len(ulns)
    emails = [r["email"] for r in rows if r["email"] is not None]
    assert all("@" in e for e in emails)
    assert all(r["email"].endswith(f".{r['id']}@example.test") for r in rows if r["email"])
    assert len(emails) >= N - len(summary.unenrollable_learner_ids)
    for r in rows:
        assert r["first_name"]
        assert r["surname"]
        assert r["onefile_user_id"] is None
        assert r["sex"] in {"M", "F"}
        assert r["disability"] in {"1", "2", "9"}
        assert r["ethnicity"] in {str(c) for c in range(31, 48)} | {"98", "99"}
        age_years = (TODAY - r["dob"]).days / 365.25
        assert 16 <= age_years < 51
        assert TODAY - datetime.timedelta(days=731) <= r["start_date"] <= TODAY
        months = (r["planned_end_date"].year - r["start_date"].year) * 12 + (
            r["planned_end_date"].month - r["start_date"].month
        )
        assert 12 <= months <= 30
        assert r["nino"] is None or NINO.fullmatch(r["nino"])
    assert any(r["nino"] is None for r in rows)
    assert any(r["telephone"] is None for r in rows)
    assert any(r["mobile"] is not None for r in rows)


async def test_unenrollable_learners_lack_exactly_one_thing(conn: asyncpg.Connection) -> None:
    summary = await _generate(conn)
    rows = await conn.fetch(
        """
        SELECT l.id,
               (l.email IS NULL)::int
             + (l.main_officer_id IS NULL)::int
             + (NOT EXISTS (SELECT 1 FROM picsweb.placements p WHERE p.learner_id = l.id))::int
               AS missing
          FROM picsweb.learners l
        """
    )
    missing = {r["id"]: r["missing"] for r in rows}
    assert {lid for lid, m in missing.items() if m} == set(summary.unenrollable_learner_ids)
    assert all(m <= 1 for m in missing.values())
    kinds = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE email IS NULL) AS email,
               count(*) FILTER (WHERE main_officer_id IS NULL) AS officer,
               count(*) FILTER (WHERE NOT EXISTS
                   (SELECT 1 FROM picsweb.placements p WHERE p.learner_id = l.id)) AS placement
          FROM picsweb.learners l
        """
    )
    assert kinds is not None
    assert all(kinds[k] > 0 for k in ("email", "officer", "placement"))


async def test_without_unenrollable_every_learner_can_enrol(conn: asyncpg.Connection) -> None:
    summary = await generate_picsweb(conn, learners=300, seed=7, today=TODAY)
    assert summary.unenrollable_learner_ids == ()
    failing = await conn.fetchval(
        """
        SELECT count(*) FROM picsweb.learners l
         WHERE l.email IS NULL OR l.main_officer_id IS NULL
            OR NOT EXISTS (SELECT 1 FROM picsweb.placements p WHERE p.learner_id = l.id)
        """
    )
    assert failing == 0


async def test_placements_and_qualifications(conn: asyncpg.Connection) -> None:
    await _generate(conn)
    per_learner = await conn.fetch(
        "SELECT learner_id, count(*) AS n, count(*) FILTER (WHERE type = 'P') AS p"
        " FROM picsweb.placements GROUP BY learner_id"
    )
    assert all(1 <= r["n"] <= 3 for r in per_learner)
    types = await conn.fetch("SELECT type, count(*) AS n FROM picsweb.placements GROUP BY type")
    by_type = {r["type"]: r["n"] for r in types}
    assert set(by_type) == {"P", "E", "O"}
    assert by_type["P"] > 0.6 * sum(by_type.values())
    assert any(r["p"] == 0 for r in per_learner)  # A3's fallback has cases

    lq = await conn.fetch(
        """
        SELECT lq.*, q.onefile_standard_id FROM picsweb.learner_qualifications lq
          JOIN picsweb.qualifications q ON q.id = lq.qualification_id
        """
    )
    per = await conn.fetch(
        "SELECT learner_id, count(*) AS n, count(DISTINCT qualification_id) AS d"
        " FROM picsweb.learner_qualifications GROUP BY learner_id"
    )
    assert len(per) == N
    assert all(1 <= r["n"] <= 3 and r["n"] == r["d"] for r in per)
    assert sum(r["onefile_standard_id"] is not None for r in lq) > 0.7 * len(lq)
    assert any(r["onefile_standard_id"] is None for r in lq)
    assert all(r["assessor_officer_id"] is not None for r in lq)
    assert all(
        r["total_elements"] is None
        and r["elements_done"] is None
        and r["onefile_learning_aim_id"] is None
        for r in lq
    )
    assert all(r["start_date"] < r["planned_end_date"] for r in lq)
    registered = sum(r["registration_number"] is not None for r in lq)
    assert 0.35 * len(lq) <= registered <= 0.65 * len(lq)
    achieved = [r for r in lq if r["achieved_date"] is not None]
    assert 0 < len(achieved) < 0.3 * len(lq)
    assert any(r["certificate_received_date"] is not None for r in achieved)
    assert all(r["achieved_date"] <= TODAY for r in achieved)

    units = await conn.fetch(
        "SELECT learner_qualification_id, count(*) AS n"
        " FROM picsweb.learner_qualification_units GROUP BY learner_qualification_id"
    )
    assert all(1 <= r["n"] <= 4 for r in units)
    assert 0.05 * len(lq) <= len(units) <= 0.15 * len(lq)


async def test_reviews(conn: asyncpg.Connection) -> None:
    await _generate(conn)
    per = await conn.fetch("SELECT learner_id, count(*) AS n FROM picsweb.reviews GROUP BY 1")
    assert len(per) == N
    assert all(2 <= r["n"] <= 6 for r in per)
    rows = await conn.fetch("SELECT * FROM picsweb.reviews")
    assert sum(r["type"] == "N" for r in rows) > 0.7 * len(rows)
    assert {r["type"] for r in rows} == {"N", "P", "E"}
    lo, hi = TODAY - datetime.timedelta(days=185), TODAY + datetime.timedelta(days=185)
    assert all(lo <= r["planned_date"] <= hi for r in rows)
    future = [r for r in rows if r["planned_date"] > TODAY]
    past = [r for r in rows if r["planned_date"] <= TODAY]
    assert 0.3 * len(rows) < len(future) < 0.7 * len(rows)
    assert all(r["attended"] == "U" for r in future)
    assert {r["attended"] for r in past} == {"Y", "N", "U"}
    assert all((r["actual_date"] is not None) == (r["attended"] == "Y") for r in rows)
    assert all(r["actual_date"] <= TODAY for r in rows if r["actual_date"] is not None)
    signed = [r for r in rows if r["trainee_signed_date"] is not None]
    assert signed
    assert all(r["attended"] == "Y" for r in signed)
    no_time = sum(r["start_time"] is None for r in rows)
    assert 0.05 * len(rows) < no_time < 0.15 * len(rows)
    assert all(r["start_time"].minute in (0, 30) for r in rows if r["start_time"] is not None)
    no_officer = sum(r["officer_id"] is None for r in rows)
    assert 0.4 * len(rows) < no_officer < 0.8 * len(rows)
    assert all(r["onefile_review_id"] is None for r in rows)


async def test_sequences_continue_after_generation(conn: asyncpg.Connection) -> None:
    summary = await _generate(conn)
    officer = await conn.fetchval(
        "INSERT INTO picsweb.officers (first_name, surname) VALUES ('New', 'Officer') RETURNING id"
    )
    organisation = await conn.fetchval(
        "INSERT INTO picsweb.organisations (name) VALUES ('New Employer Ltd') RETURNING id"
    )
    learner = await conn.fetchval(
        "INSERT INTO picsweb.learners (first_name, surname) VALUES ('New', 'Learner') RETURNING id"
    )
    qualification = await conn.fetchval(
        "INSERT INTO picsweb.qualifications (code, title) VALUES ('X1', 'X') RETURNING id"
    )
    placement = await conn.fetchval(
        "INSERT INTO picsweb.placements (learner_id, organisation_id, type, start_date)"
        " VALUES ($1, $2, 'P', $3) RETURNING id",
        learner,
        organisation,
        TODAY,
    )
    lq = await conn.fetchval(
        "INSERT INTO picsweb.learner_qualifications (learner_id, qualification_id)"
        " VALUES ($1, $2) RETURNING id",
        learner,
        qualification,
    )
    unit = await conn.fetchval(
        "INSERT INTO picsweb.learner_qualification_units (learner_qualification_id, code, title)"
        " VALUES ($1, 'U1', 'Unit') RETURNING id",
        lq,
    )
    review = await conn.fetchval(
        "INSERT INTO picsweb.reviews (learner_id, type, attended) VALUES ($1, 'N', 'U')"
        " RETURNING id",
        learner,
    )
    assert officer == summary.officers + 1
    assert organisation == summary.organisations + 1
    assert learner == N + 1
    assert qualification == summary.qualifications + 1
    assert placement == summary.placements + 1
    assert lq == summary.learner_qualifications + 1
    assert unit == summary.learner_qualification_units + 1
    assert review == summary.reviews + 1


async def test_same_seed_same_data(conn: asyncpg.Connection) -> None:
    first = await _generate(conn, seed=3)
    before = await _snapshot(conn)
    await truncate_picsweb(conn)
    second = await _generate(conn, seed=3)
    assert first == second
    assert await _snapshot(conn) == before
    await truncate_picsweb(conn)
    await _generate(conn, seed=4)
    after = await _snapshot(conn)
    assert after["learners"] != before["learners"]
    assert after["reviews"] != before["reviews"]


async def test_refuses_tables_with_rows(conn: asyncpg.Connection) -> None:
    await generate_picsweb(conn, learners=10, today=TODAY)
    with pytest.raises(ValueError, match="not empty"):
        await generate_picsweb(conn, learners=10, today=TODAY)
    assert await conn.fetchval("SELECT count(*) FROM picsweb.learners") == 10


@pytest.mark.parametrize(
    "kwargs",
    [
        {"learners": -1},
        {"learners": 5, "unenrollable_fraction": 1.5},
        {"learners": 5, "standard_ids": range(41)},
        {"learners": 5, "standard_ids": [1, 1]},
    ],
)
async def test_rejects_bad_arguments(conn: asyncpg.Connection, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        await generate_picsweb(conn, **kwargs)  # type: ignore[arg-type]


async def test_edge_cases(conn: asyncpg.Connection) -> None:
    empty = await generate_picsweb(conn, learners=0, today=TODAY, standard_ids=())
    assert (empty.learners, empty.first_learner_id, empty.last_learner_id) == (0, None, None)
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM picsweb.qualifications WHERE onefile_standard_id IS NOT NULL"
        )
        == 0
    )
    await truncate_picsweb(conn)
    leap = await generate_picsweb(
        conn, learners=50, today=datetime.date(2024, 2, 29), unenrollable_fraction=1.0
    )
    assert len(leap.unenrollable_learner_ids) == 50
