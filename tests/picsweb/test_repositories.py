"""The PICSWeb repositories against the migrated template database: one record type per row,
the change detection's PICSWeb half, and writes that touch only what changes (B10)."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from app.picsweb.enrolment_repo import EnrolmentRepo
from app.picsweb.exchange_repo import ExchangeRepo, ReviewAlreadyLinked
from app.picsweb.lookup import PicswebLookup
from app.picsweb.rows import Learner, LearnerQualification, Review
from tests.exchange import factories as f

D = dt.date


async def test_the_enrolment_and_the_exchange_read_the_same_record_of_each_row(
    pool: asyncpg.Pool,
) -> None:
    officer = await f.officer(pool, "OFF1", onefile_user_id=900)
    lid = await f.learner(pool, officer, onefile_user_id=700)
    standard = await f.qualification(pool, 501)
    lq = await f.learner_qualification(
        pool, lid, standard, registration_number="R1", total_elements=40,
        assessor_officer_id=officer,
    )  # fmt: skip
    await pool.execute(
        "INSERT INTO picsweb.learner_qualification_units (learner_qualification_id, code, title)"
        " VALUES ($1, 'U1', 'Unit')",
        lq,
    )
    rid = await f.review(
        pool, lid, D(2026, 1, 5), start_time=dt.time(10), actual_date=D(2026, 1, 5),
        trainee_signed_date=D(2026, 1, 6), onefile_review_id=55,
    )  # fmt: skip
    enrolment = EnrolmentRepo(pool)
    (rows,) = await ExchangeRepo(pool).load(await ExchangeRepo(pool).learners([lid]))
    assert rows.learner == await enrolment.learner(lid)
    assert rows.qualifications == await enrolment.learner_qualifications(lid)
    assert rows.reviews == await enrolment.reviews(lid)
    (q,) = rows.qualifications
    assert q == LearnerQualification(
        id=lq, qualification_id=standard, onefile_standard_id=501, registration_number="R1",
        total_elements=40, assessor_officer_id=officer, has_units=True,
    )  # fmt: skip
    assert rows.reviews == [
        Review(
            id=rid, type="N", planned_date=D(2026, 1, 5), start_time=dt.time(10), officer_id=None,
            attended="U", actual_date=D(2026, 1, 5), trainee_signed_date=D(2026, 1, 6),
            onefile_review_id=55,
        )
    ]  # fmt: skip
    assert isinstance(rows.learner, Learner) and rows.learner.onefile_user_id == 700
    assert "Jo" not in repr(rows.learner) and "jo@" not in repr(rows.learner)


async def test_who_is_linked_and_to_whom(pool: asyncpg.Pool) -> None:
    officer = await f.officer(pool)
    a = await f.learner(pool, officer, onefile_user_id=701)
    b = await f.learner(pool, officer, onefile_user_id=702)
    await f.learner(pool, officer)  # not linked
    repo = ExchangeRepo(pool)
    assert await repo.linked_learners() == [a, b]
    assert sorted(await repo.learners_of_users([702, 999])) == [(b, 702)]
    assert await PicswebLookup(pool).learner_links([a, 123456]) == {a: 701}


async def test_changed_learners_compares_every_row_with_the_mark(pool: asyncpg.Pool) -> None:
    officer = await f.officer(pool)
    quiet, edited, unit_added, never = [
        await f.learner(pool, officer, onefile_user_id=800 + n) for n in range(4)
    ]
    lq = await f.learner_qualification(pool, unit_added, await f.qualification(pool, 501))
    mark = await pool.fetchval("SELECT clock_timestamp()")
    await pool.execute(
        "UPDATE picsweb.learners SET surname = 'Changed', updated_at = now() WHERE id = $1", edited
    )
    await pool.execute(
        "INSERT INTO picsweb.learner_qualification_units (learner_qualification_id, code, title)"
        " VALUES ($1, 'U1', 'Unit')",
        lq,
    )
    repo = ExchangeRepo(pool)
    changed = await repo.changed_learners([quiet, edited, unit_added], [mark] * 3)
    assert sorted(changed) == sorted([edited, unit_added, never])  # no mark: never exchanged


async def test_a_write_that_changes_nothing_leaves_updated_at(pool: asyncpg.Pool) -> None:
    lid = await f.learner(pool, await f.officer(pool), onefile_user_id=1)
    rid = await f.review(pool, lid, D(2026, 1, 5), onefile_review_id=77)
    before = await pool.fetchval("SELECT updated_at FROM picsweb.reviews WHERE id = $1", rid)
    repo = ExchangeRepo(pool)
    async with pool.acquire() as conn:
        await repo.update_reviews(conn, lid, [(rid, {"attended": ("U", "U")})])
        seen = await repo.seen_at(conn, lid)
    after = await pool.fetchval("SELECT updated_at FROM picsweb.reviews WHERE id = $1", rid)
    assert after == before
    assert seen is not None and seen >= before
    async with pool.acquire() as conn:
        await repo.update_reviews(conn, lid, [(rid, {"attended": ("U", "Y")})])
    row = await pool.fetchrow("SELECT attended, updated_at FROM picsweb.reviews WHERE id = $1", rid)
    assert row is not None and row["attended"] == "Y" and row["updated_at"] > before


async def test_a_onefile_review_links_to_one_picsweb_review_only(pool: asyncpg.Pool) -> None:
    officer = await f.officer(pool)
    a = await f.learner(pool, officer, onefile_user_id=1)
    b = await f.learner(pool, officer, onefile_user_id=2)
    await f.review(pool, a, D(2026, 1, 5), onefile_review_id=77)
    fields = {
        "type": "N", "planned_date": D(2026, 1, 5), "start_time": None, "officer_id": None,
        "attended": "U", "actual_date": None, "trainee_signed_date": None,
        "onefile_review_id": 77,
    }  # fmt: skip
    async with pool.acquire() as conn:
        with pytest.raises(ReviewAlreadyLinked):
            await ExchangeRepo(pool).insert_review(conn, b, fields)
    assert await ExchangeRepo(pool).linked_review_owners([77, 78]) == {77: 1}


async def test_links_are_written_once(pool: asyncpg.Pool) -> None:
    repo = EnrolmentRepo(pool)
    officer = await f.officer(pool)
    await repo.link_officer(officer, 900)
    await repo.link_officer(officer, 901)  # a second link never overwrites the first
    found = await repo.officer(officer)
    assert found is not None and found.onefile_user_id == 900
    lid = await f.learner(pool, officer)
    rid = await f.review(pool, lid, D(2026, 1, 5))
    assert await repo.link_review(rid, 55)
    assert not await repo.link_review(rid, 56)
    assert await repo.linked_review_ids([55, 56]) == {55}
