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

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import one_of
from schemathesis import GenerationMode, checks
from schemathesis.python import asgi as st_asgi

from app.main import create_app
from devtools.openapi_export import document
from tests import pg
from tests.api.fuzz_data import fuzz_database
from tests.conftest import API_TOKEN, make_settings

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


# Loaded from the app's own document at import (no lifespan needed); the app answers through
# the in-process client of the fixture below, once its database exists.
schema = schemathesis.openapi.from_dict(document())


@pytest.fixture(scope="module")
def fuzz_client(pg_admin: str, pg_template: str) -> Iterator[Any]:
    name = _in_thread(fuzz_database(pg_admin, pg_template))
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


def test_no_5xx_and_answers_match_the_schema(fuzz_client: Any) -> None:
    """Every operation fuzzed in turn, then a guard against a run that only ever met 401s.

    One test, not one per operation: the guard reads what this run saw, so it passes alone,
    in any order, and cannot be fooled by another test's run.
    """
    seen: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
    for result in schema.get_all_operations():
        operation = result.ok()

        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]  # as schema.parametrize()

        @given(case=one_of(*(operation.as_strategy(mode) for mode in modes)))
        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
            database=None,
        )
        def fuzz(case: Any) -> None:
            response = case.call_and_validate(
                session=fuzz_client,
                base_url="http://testserver",
                headers={"Authorization": f"Bearer {API_TOKEN}"},
                checks=CHECKS,
            )
            seen[(case.method, case.path)].add(response.status_code)

        fuzz()
    assert 202 in seen[("POST", "/learners/{learner_id}/enrol")], seen
    assert {404, 422} <= seen[("POST", "/refresh")], seen
    assert 200 in seen[("GET", "/health")], seen
