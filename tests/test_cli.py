"""The `onefile-sync` command line against a real database, simulator and service.

Every error is one line (`error: …`) with the exit code `--help` documents: 1 not done,
2 configuration or usage, 3 cannot reach the service, the database or OneFile.
"""

from __future__ import annotations

import asyncio
import re
import socket
import uuid
from typing import Any

import asyncpg
import pytest
from typer.testing import CliRunner, Result

from app.cli import cli
from app.db.target import parse_target
from app.follow import SYNC_FIGURES, figure_rows
from app.settings import Settings
from devtools.loopback import serve_loopback as serve_http
from devtools.simulator import SimulatorState
from tests import pg
from tests.conftest import API_TOKEN, SIM_TOKEN, ServiceFactory
from tests.exchange.factories import enrol as enrol_job
from tests.exchange.factories import typical_learner

runner = CliRunner()
PASSWORD = "pw-Secret-4711"
COMMANDS = ("serve", "sync", "enrol", "history", "migrate", "check", "probe")
# Every variable the service reads unset, so that the test machine's environment cannot leak in.
NO_SETTINGS: dict[str, str | None] = {name.upper(): None for name in Settings.model_fields}


def with_password(url: str) -> str:
    """The same URL with a password in it (the test server trusts; the password is bait)."""
    scheme, rest = url.split("://", 1)
    auth, _, hosts = rest.rpartition("@")
    return f"{scheme}://{auth.partition(':')[0] or 'postgres'}:{PASSWORD}@{hosts}"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def invoke(args: list[str], env: dict[str, str | None] | None = None) -> Result:
    return runner.invoke(cli, args, env={**NO_SETTINGS, **(env or {})}, prog_name="onefile-sync")


def assert_one_error_line(result: Result, code: int, *expected: str) -> str:
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    (line,) = result.output.splitlines()  # the whole output is that one line
    assert line.startswith("error: "), line
    for text in expected:
        assert text in line, (text, line)
    assert PASSWORD not in line and "Traceback" not in line
    return line


def test_help_lists_every_command_and_the_exit_codes() -> None:
    result = invoke(["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output
    codes = result.output[result.output.index("Exit codes:") :]
    assert re.findall(r"^ +(\d)  ", codes, re.MULTILINE) == ["0", "1", "2", "3"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_no_type_labels_and_names_each_variable_once(command: str) -> None:
    result = invoke([command, "--help"])
    assert result.exit_code == 0, result.output
    assert not re.search(r"<[a-z][a-z ]*>", result.output), result.output  # <str>, <int range>
    for variable in ("SERVICE_API_TOKEN", "ONEFILE_SYNC_URL"):
        assert result.output.count(variable) <= 1, result.output


def test_configuration_errors_are_one_line_listing_every_variable() -> None:
    result = invoke(["check"], {"ONEFILE_RATE_LIMIT": "lots", "ONEFILE_BASE_URL": "http://x/"})
    assert_one_error_line(
        result,
        2,
        "DATABASE_URL: required",
        "ONEFILE_API_TOKEN: required",
        "ONEFILE_ORGANISATION_ID",
        "ONEFILE_CLASSROOM_ID",
        "ONEFILE_RATE_LIMIT",
        "SERVICE_API_TOKEN: required",
    )


@pytest.mark.parametrize("command", ["check", "migrate"])
def test_a_malformed_database_url_is_one_line(command: str) -> None:
    result = invoke([command], {"DATABASE_URL": f"postgresql://admin:{PASSWORD}@[bad"})
    assert_one_error_line(result, 2, "DATABASE_URL", "is not a valid URL")


def test_migrate_names_the_database_it_cannot_use(pg_admin: str) -> None:
    missing = f"onefile_sync_absent_{uuid.uuid4().hex[:8]}"
    url = with_password(pg.with_database(pg_admin, missing))
    result = invoke(["migrate"], {"DATABASE_URL": url})
    where = parse_target(url).where
    assert_one_error_line(
        result, 3, f'DATABASE_URL: database "{missing}" does not exist on {where}'
    )

    port = closed_port()
    result = invoke(["migrate"], {"DATABASE_URL": f"postgresql://u:{PASSWORD}@127.0.0.1:{port}/x"})
    assert_one_error_line(result, 3, f"DATABASE_URL: cannot connect to 127.0.0.1:{port}")

    assert_one_error_line(invoke(["migrate"]), 2, "DATABASE_URL is not set")


async def test_migrate_without_picsweb_tables_then_up_to_date(pg_admin: str, db_url: str) -> None:
    empty = f"onefile_sync_empty_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg_admin)
    await admin.execute(f'CREATE DATABASE "{empty}"')
    await admin.close()
    try:
        url = with_password(pg.with_database(pg_admin, empty))
        result = await asyncio.to_thread(invoke, ["migrate"], {"DATABASE_URL": url})
        assert_one_error_line(result, 1, f'database "{empty}"', "PICSWeb tables missing")
    finally:
        await pg.drop(pg_admin, empty)
    result = await asyncio.to_thread(invoke, ["migrate"], {"DATABASE_URL": with_password(db_url)})
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{parse_target(db_url)}: up to date"


def check_env(db_url: str, onefile_url: str, **extra: str) -> dict[str, str | None]:
    return {
        "DATABASE_URL": with_password(db_url),
        "ONEFILE_BASE_URL": onefile_url,
        "ONEFILE_API_TOKEN": SIM_TOKEN,
        "ONEFILE_ORGANISATION_ID": "1",
        "ONEFILE_CLASSROOM_ID": "1",
        "SERVICE_API_TOKEN": API_TOKEN,
        **extra,
    }


async def test_check_reports_each_part_and_changes_nothing(
    db_url: str, simulator: tuple[str, SimulatorState]
) -> None:
    url, sim = simulator
    # the CLI runs its own event loop: give it a thread so the simulator keeps serving
    result = await asyncio.to_thread(invoke, ["check"], check_env(db_url, url))
    assert result.exit_code == 0, result.output
    assert f"database: ok ({parse_target(db_url)}, PICSWeb tables present)" in result.output
    assert "OneFile: ok" in result.output
    assert sim.count_calls() == 1  # one Authentication, nothing else
    assert SIM_TOKEN not in result.output and PASSWORD not in result.output

    env = check_env(db_url, url, ONEFILE_API_TOKEN="wrong-token")
    result = await asyncio.to_thread(invoke, ["check"], env)
    assert result.exit_code == 1
    assert "ONEFILE_API_TOKEN: OneFile POST Authentication (401)" in result.output
    assert "wrong-token" not in result.output


async def test_check_names_the_database_it_cannot_reach(
    simulator: tuple[str, SimulatorState],
) -> None:
    port = closed_port()
    env = check_env(f"postgresql://u@127.0.0.1:{port}/picsweb", simulator[0])
    result = await asyncio.to_thread(invoke, ["check"], env)
    assert result.exit_code == 3, result.output
    lines = result.output.splitlines()
    assert f"database: DATABASE_URL: cannot connect to 127.0.0.1:{port} (connection refused)" in (
        lines
    )
    assert "OneFile: ok (the API token opens a session)" in lines
    assert PASSWORD not in result.output


async def test_sync_follows_the_job_to_its_end(
    service_factory: ServiceFactory, pool: asyncpg.Pool
) -> None:
    async with service_factory() as svc, serve_http(svc.app) as url:
        result = await asyncio.to_thread(invoke, ["sync", "--url", url, "--token", API_TOKEN])
        assert result.exit_code == 0, result.output
        assert "succeeded" in result.output
        # The figures in words (app/follow.py), not the API's keys.
        assert "Learners to look at" in result.output
        assert "no full run had finished yet" in result.output
        assert not re.search(r"learners\.to_exchange|mode_reason|reviews_read", result.output)
        # Without --full or --incremental the schedule decides; each flag is sent as said.
        for flag in ("--incremental", "--full"):
            result = await asyncio.to_thread(
                invoke, ["sync", flag, "--url", url, "--token", API_TOKEN]
            )
            assert result.exit_code == 0, result.output
        sent = await pool.fetch(
            "SELECT params ->> 'full' AS full FROM onefile_sync.jobs"
            " WHERE kind = 'sync' ORDER BY id"
        )
        assert [r["full"] for r in sent] == [None, "false", "true"]
        again = await asyncio.to_thread(
            invoke, ["sync", "--url", url, "--token", "wrong-token-0000000"]
        )
        assert_one_error_line(again, 1, "the service refused: 401")


def test_sync_without_a_token_or_a_service() -> None:
    assert_one_error_line(invoke(["sync"]), 2, "SERVICE_API_TOKEN is not set")
    url = f"http://127.0.0.1:{closed_port()}"
    result = invoke(["sync", "--url", url, "--token", API_TOKEN])
    assert_one_error_line(result, 3, f"cannot reach the service at {url}")
    result = invoke(["sync", "--url", "nowhere", "--token", API_TOKEN])
    assert_one_error_line(result, 2, "--url (ONEFILE_SYNC_URL) is not a valid")


def test_a_usage_error_is_one_line() -> None:
    assert_one_error_line(invoke(["enrol", "0"]), 2, "LEARNER_ID", "onefile-sync enrol --help")
    assert_one_error_line(invoke(["sync", "--fll"]), 2, "--fll")


async def test_enrol_shows_each_step_of_the_job(service_factory: ServiceFactory, pool: Any) -> None:
    learner = await typical_learner(pool)
    async with service_factory() as svc, serve_http(svc.app) as url:
        result = await asyncio.to_thread(
            invoke, ["enrol", str(learner.learner_id), "--url", url, "--token", API_TOKEN]
        )
        assert result.exit_code == 0, result.output
        assert re.search(r"enrol job \d+ .* 5/5", result.output), result.output
        assert re.search(r"OneFile: learner created +│ +1", result.output), result.output
        assert "created.learner" not in result.output and "officer_ids" not in result.output
        job_id = int(re.findall(r"enrol job (\d+)", result.output)[0])
        job = (await svc.api.get(f"/jobs/{job_id}")).json()
    assert job["status"] == "succeeded"
    assert job["progress"] == {"done": 5, "total": 5}


async def test_history_prints_what_the_enrolment_wrote(
    service_factory: ServiceFactory, pool: Any
) -> None:
    learner = await typical_learner(pool)
    async with service_factory() as svc, serve_http(svc.app) as url:
        job = await enrol_job(svc.api, learner.learner_id)
        assert job["status"] == "succeeded"
        args = ["history", str(learner.learner_id), "--url", url, "--token", API_TOKEN]
        result = await asyncio.to_thread(invoke, args)
        assert result.exit_code == 0, result.output
        assert re.search(r"A6 .*onefile.*users.*created", result.output), result.output
        assert re.search(r"A6 .*picsweb.*learners.*onefile_user_id", result.output)
        unknown = await asyncio.to_thread(invoke, ["history", "999999", *args[2:]])
        assert_one_error_line(unknown, 1, "the service refused: 404")


def test_figures_are_named_in_words_and_none_is_hidden() -> None:
    """A figure the words do not know yet still shows under its key; id lists are left to
    GET /jobs/{id}; values are words where the API's are codes."""
    rows = dict(
        figure_rows(
            {
                "mode": "incremental",
                "onefile_user_id": 10_003,
                "learners": {"to_exchange": 3},
                "onefile": {"calls": 12_345, "reviews_gone_list": [{"learner_id": 1}]},
                "something_new": 7,
                "changes": [{"learner_id": 1}],
            },
            SYNC_FIGURES,
        )
    )
    assert rows == {
        "Learners read": "only learners changed on either side",
        "onefile_user_id": "10003",
        "Learners to look at": "3",
        "OneFile calls made by the service": "12,345",
        "something_new": "7",
    }
