"""Hand-built PICSWeb rows and job helpers for the enrolment tests."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from devtools.uk_dates import uk_today


def today_in_uk() -> dt.date:
    """The UK date now, as the service reads it."""
    return uk_today(dt.datetime.now(dt.UTC))


async def _insert(conn: Any, table: str, values: dict[str, Any]) -> int:
    cols = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    row_id = await conn.fetchval(
        f"INSERT INTO picsweb.{table} ({cols}) VALUES ({params}) RETURNING id",
        *values.values(),
    )
    return int(row_id)


async def officer(pool: asyncpg.Pool, ident: str | None = "OFF1", **kw: Any) -> int:
    """An officer with a work email (OneFile requires one of every user: A1, A4)."""
    email = f"{(ident or 'officer').lower()}@staff.example.test"
    values = {"first_name": "Ann", "surname": "Officer", "ident": ident, "email": email, **kw}
    return await _insert(pool, "officers", values)


async def organisation(pool: asyncpg.Pool, ident: str | None = "ORG1", **kw: Any) -> int:
    return await _insert(pool, "organisations", {"name": "Acme Ltd", "ident": ident, **kw})


async def qualification(pool: asyncpg.Pool, standard_id: int | None, **kw: Any) -> int:
    values = {"code": "ST0001", "title": "Some Standard", "onefile_standard_id": standard_id}
    return await _insert(pool, "qualifications", {**values, **kw})


async def learner(pool: asyncpg.Pool, main_officer_id: int | None, **kw: Any) -> int:
    values: dict[str, Any] = {
        "first_name": "Jo",
        "surname": "Learner",
        "email": "jo@example.test",
        "telephone": "0113 496 0001",
        "mobile": "07700 900001",
        "dob": dt.date(2004, 5, 6),
        "uln": "1234567890",
        "nino": "AB123456C",
        "start_date": dt.date(2024, 9, 2),
        "planned_end_date": dt.date(2026, 9, 1),
        "main_officer_id": main_officer_id,
        "ethnicity": "31",
        "sex": "F",
        "disability": "98",
    }
    values.update(kw)
    return await _insert(pool, "learners", values)


async def placement(
    pool: asyncpg.Pool,
    learner_id: int,
    organisation_id: int,
    *,
    type: str = "P",
    start: dt.date = dt.date(2024, 9, 2),
) -> int:
    return await _insert(
        pool,
        "placements",
        {
            "learner_id": learner_id,
            "organisation_id": organisation_id,
            "type": type,
            "start_date": start,
        },
    )


async def learner_qualification(
    pool: asyncpg.Pool, learner_id: int, qualification_id: int, **kw: Any
) -> int:
    values = {"learner_id": learner_id, "qualification_id": qualification_id, **kw}
    return await _insert(pool, "learner_qualifications", values)


async def review(
    pool: asyncpg.Pool,
    learner_id: int,
    planned: dt.date | None,
    *,
    start_time: dt.time | None = None,
    officer_id: int | None = None,
    type: str = "N",
    attended: str = "U",
    **kw: Any,
) -> int:
    values = {
        "learner_id": learner_id,
        "type": type,
        "planned_date": planned,
        "start_time": start_time,
        "officer_id": officer_id,
        "attended": attended,
        **kw,
    }
    return await _insert(pool, "reviews", values)


@dataclass
class Typical:
    """A typical learner: 2 qualifications in OneFile (+1 not), 3 due reviews (+2 not),
    3 officers (main, a qualification assessor, a review officer), a new employer."""

    learner_id: int
    main_officer: int
    assessor: int
    review_officer: int
    organisation: int
    old_organisation: int
    lqs: list[int] = field(default_factory=list)
    lq_not_in_onefile: int = 0
    due_reviews: list[int] = field(default_factory=list)
    other_reviews: list[int] = field(default_factory=list)


async def typical_learner(pool: asyncpg.Pool, tag: str = "") -> Typical:
    today = today_in_uk()
    main = await officer(pool, f"OFFM{tag}", first_name="Mary", surname="Main")
    assessor = await officer(pool, f"OFFA{tag}", first_name="Adam", surname="Assessor")
    rev_officer = await officer(pool, f"OFFR{tag}", first_name="Rita", surname="Reviewer")
    org = await organisation(pool, f"ORGP{tag}", name="Work Placement Ltd")
    old_org = await organisation(pool, f"ORGX{tag}", name="Other Kind Ltd")
    lid = await learner(pool, main)
    await placement(pool, lid, org, type="P", start=dt.date(2024, 9, 2))
    await placement(pool, lid, old_org, type="X", start=dt.date(2025, 1, 6))  # newer, not P
    q1 = await qualification(pool, 501)
    q2 = await qualification(pool, 502, code="ST0002")
    q3 = await qualification(pool, None, code="ST0003")
    t = Typical(lid, main, assessor, rev_officer, org, old_org)
    t.lqs.append(
        await learner_qualification(
            pool,
            lid,
            q1,
            start_date=dt.date(2024, 9, 2),
            planned_end_date=dt.date(2026, 9, 1),
            registration_number="REG-1",
            registration_date=dt.date(2024, 10, 1),
            assessor_officer_id=assessor,
        )
    )
    t.lqs.append(
        await learner_qualification(
            pool, lid, q2, start_date=dt.date(2024, 9, 2), assessor_officer_id=main
        )
    )
    t.lq_not_in_onefile = await learner_qualification(pool, lid, q3, assessor_officer_id=assessor)
    for days, officer_id, start in (
        (10, rev_officer, dt.time(14, 0)),
        (40, None, None),
        (70, rev_officer, dt.time(10, 30)),
    ):
        t.due_reviews.append(
            await review(
                pool,
                lid,
                today + dt.timedelta(days=days),
                start_time=start,
                officer_id=officer_id,
            )
        )
    # Started already, whatever the hour the test runs at (A8 compares with the moment).
    yesterday = today - dt.timedelta(days=1)
    t.other_reviews.append(
        await review(pool, lid, yesterday, start_time=dt.time(23, 59), officer_id=rev_officer)
    )
    t.other_reviews.append(
        await review(pool, lid, today + dt.timedelta(days=20), type="P", officer_id=rev_officer)
    )
    return t


async def wait_job(
    api: httpx.AsyncClient,
    job_id: int,
    timeout: float = 20.0,  # noqa: ASYNC109 - a poll deadline, named as callers use it
) -> dict[str, Any]:
    """Poll GET /jobs/{id} until the job is finished; its body."""
    async with asyncio.timeout(timeout):
        while True:
            r = await api.get(f"/jobs/{job_id}")
            assert r.status_code == 200, r.text
            job: dict[str, Any] = r.json()
            if job["status"] in ("succeeded", "partial", "failed"):
                return job
            await asyncio.sleep(0.05)


async def enrol(api: httpx.AsyncClient, learner_id: int) -> dict[str, Any]:
    """POST /learners/{id}/enrol and wait for the job; the finished job."""
    r = await api.post(f"/learners/{learner_id}/enrol")
    assert r.status_code == 202, r.text
    return await wait_job(api, r.json()["id"])
