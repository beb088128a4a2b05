"""The `onefile-sync` command line against a real database, simulator and service."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.loopback import serve_loopback as serve_http
from app.onefile.simulator import SimulatorState
from tests.conftest import API_TOKEN, SIM_TOKEN

runner = CliRunner()


def test_help_lists_every_command() -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "sync", "enrol", "demo", "simulate", "migrate", "check", "probe"):
        assert command in result.output


async def test_check_reports_each_part_and_changes_nothing(
    db_url: str, simulator: tuple[str, SimulatorState], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, sim = simulator
    for key, value in {
        "DATABASE_URL": db_url,
        "ONEFILE_BASE_URL": url,
        "ONEFILE_API_TOKEN": SIM_TOKEN,
        "ONEFILE_ORGANISATION_ID": "1",
        "ONEFILE_CLASSROOM_ID": "1",
        "SERVICE_API_TOKEN": API_TOKEN,
    }.items():
        monkeypatch.setenv(key, value)
    # the CLI runs its own event loop: give it a thread so the simulator keeps serving
    result = await asyncio.to_thread(runner.invoke, cli, ["check"])
    assert result.exit_code == 0, result.output
    assert "database: ok" in result.output
    assert "OneFile: ok" in result.output
    assert sim.count_calls() == 1  # one Authentication, nothing else
    assert SIM_TOKEN not in result.output

    monkeypatch.setenv("ONEFILE_API_TOKEN", "wrong-token")
    result = await asyncio.to_thread(runner.invoke, cli, ["check"])
    assert result.exit_code == 1
    assert "OneFile" in result.output
    assert "wrong-token" not in result.output


async def test_sync_follows_the_job_to_its_end(service_factory: object) -> None:
    from tests.conftest import ServiceFactory

    factory: ServiceFactory = service_factory  # type: ignore[assignment]
    async with factory() as svc, serve_http(svc.app) as url:
        result = await asyncio.to_thread(
            runner.invoke, cli, ["sync", "--url", url, "--token", API_TOKEN]
        )
        assert result.exit_code == 0, result.output
        assert "succeeded" in result.output
        again = await asyncio.to_thread(
            runner.invoke, cli, ["sync", "--url", url, "--token", "wrong-token-0000000"]
        )
        assert again.exit_code == 1
        assert "401" in again.output
