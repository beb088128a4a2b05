"""Schemathesis over the OpenAPI document, in-process: no 5xx, every answer as documented.

The app runs with its real lifespan (pool, migrations) against a database of its own; workers
are off, so queued jobs stay queued and the fuzzer meets every state the API can be in. Hypothesis
explores the bodies, ids and headers; the data also contains learners in each enrolment state.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.python import asgi as st_asgi

from app.main import create_app
from app.openapi_export import document
from tests import pg
from tests.conftest import API_TOKEN, make_settings

SEEN: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


def _in_thread(coro: Any) -> Any:
    """Run a coroutine on a loop of its own (the test session's loop is busy or absent)."""
    out: dict[str, Any] = {}

    def target() -> None:
        out["v"] = asyncio.run(coro)

    t = threading.Thread(target=target)
    t.start()
    t.join()
    return out.get("v")


async def _prepare(admin: str, template: str) -> str:
    name = await pg.clone(admin, template)
    conn = await asyncpg.connect(pg.with_database(admin, name))
    try:
        await conn.execute(
            "INSERT INTO picsweb.officers (id, first_name, surname, email) "
            "VALUES (1, 'A', 'B', 'a@staff.example.test');"
            "INSERT INTO picsweb.organisations (id, name) VALUES (1, 'Org');"
            "INSERT INTO picsweb.learners (id, first_name, surname, email, main_officer_id, "
            "onefile_user_id) VALUES (1, 'C', 'D', 'c@example.test', 1, NULL), "
            "(2, 'E', 'F', 'e@example.test', 1, 10002), (3, 'G', 'H', NULL, NULL, NULL);"
            "INSERT INTO picsweb.placements (learner_id, organisation_id, type, start_date) "
            "VALUES (1, 1, 'P', '2026-01-01'), (2, 1, 'P', '2026-01-01')"
        )
    finally:
        await conn.close()
    return name


# Loaded from the app's own document at import (no lifespan needed); the app answers through
# the in-process client of the fixture below, once its database exists.
schema = schemathesis.openapi.from_dict(document())


@pytest.fixture(scope="module")
def fuzz_client(pg_admin: str, pg_template: str) -> Iterator[Any]:
    name = _in_thread(_prepare(pg_admin, pg_template))
    # Workers are off, so the OneFile client is built but never called.
    app = create_app(
        make_settings(pg.with_database(pg_admin, name), "http://127.0.0.1:9/api/v2.1/"),
        run_workers=False,
        configure_logs=False,
    )
    try:
        with st_asgi.get_client(app) as client:  # runs the lifespan in schemathesis's loop
            yield client
    finally:
        st_asgi.shutdown_lifespans()
        _in_thread(pg.drop(pg_admin, name))


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_5xx_and_answers_match_the_schema(case: Any, fuzz_client: Any) -> None:
    response = case.call_and_validate(
        session=fuzz_client,
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        checks=CHECKS,
    )
    SEEN[(case.method, case.path)].add(response.status_code)


def test_the_fuzzer_got_past_authentication() -> None:
    """Guard against a fuzz run that only ever met 401s (it runs after the one above)."""
    assert 202 in SEEN[("POST", "/learners/{learner_id}/enrol")]
    assert {404, 422} <= SEEN[("POST", "/refresh")]
    assert 200 in SEEN[("GET", "/health")]
