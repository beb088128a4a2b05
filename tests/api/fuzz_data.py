"""The data both fuzz runs start from: a learner in each state the API answers differently."""

from __future__ import annotations

import asyncpg

from tests import pg

# 1: enrollable (202); 2: enrolled (409, and refreshable: 202); 3: not enrollable (422, A1).
LEARNERS_IN_EVERY_STATE = (
    "INSERT INTO picsweb.officers (id, first_name, surname, email) "
    "VALUES (1, 'A', 'B', 'a@staff.example.test');"
    "INSERT INTO picsweb.organisations (id, name) VALUES (1, 'Org');"
    "INSERT INTO picsweb.learners (id, first_name, surname, email, main_officer_id, "
    "onefile_user_id) VALUES (1, 'C', 'D', 'c@example.test', 1, NULL), "
    "(2, 'E', 'F', 'e@example.test', 1, 10002), (3, 'G', 'H', NULL, NULL, NULL);"
    "INSERT INTO picsweb.placements (learner_id, organisation_id, type, start_date) "
    "VALUES (1, 1, 'P', '2026-01-01'), (2, 1, 'P', '2026-01-01')"
)


async def fuzz_database(admin: str, template: str) -> str:
    """A clone of the migrated template holding LEARNERS_IN_EVERY_STATE; returns its name."""
    name = await pg.clone(admin, template)
    conn = await asyncpg.connect(pg.with_database(admin, name))
    try:
        await conn.execute(LEARNERS_IN_EVERY_STATE)
    finally:
        await conn.close()
    return name
