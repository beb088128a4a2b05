"""`onefile-sync-dev simulate` talks: start lines to act on, options in --help, a stop line."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from devtools.cli import cli
from devtools.simulator import SimulatorConfig, console

ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT = 60.0  # a loaded machine starts Python slowly; nothing here measures time


async def start(*argv: str) -> tuple[asyncio.subprocess.Process, list[str]]:
    """Run a command and read its start lines up to "Ctrl-C stops it."."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(START_TIMEOUT):
            while not lines or lines[-1] != "Ctrl-C stops it.":
                raw = await proc.stdout.readline()
                if not raw:
                    break
                lines.append(raw.decode().rstrip("\n"))
    except TimeoutError:
        proc.kill()
        raise
    if not lines or lines[-1] != "Ctrl-C stops it.":
        _, err = await proc.communicate()
        pytest.fail(f"no start lines: {lines!r} {err.decode()!r}")
    return proc, lines


def env_lines(lines: list[str]) -> dict[str, str]:
    pairs = (line.strip().split("=", 1) for line in lines if line.strip().startswith("ONEFILE_"))
    return {k: v for k, v in pairs}


@pytest.mark.parametrize(
    ("command", "stop"),
    [
        ([sys.executable, "-m", "devtools.cli", "simulate"], signal.SIGINT),
        ([sys.executable, "-m", "devtools.simulator", "--realistic"], signal.SIGTERM),
    ],
    ids=["onefile-sync-simulate-sigint", "module-realistic-sigterm"],
)
async def test_simulate_prints_what_to_use_and_stops_cleanly(
    command: list[str], stop: signal.Signals
) -> None:
    proc, lines = await start(
        *command,
        "--port",
        "0",
        "--rate-limit",
        "120",
        "--rate-period",
        "30",
        "--seed-learners",
        "2",
    )
    realistic = "--realistic" in command
    try:
        env = env_lines(lines)
        assert set(env) == {
            "ONEFILE_BASE_URL", "ONEFILE_API_TOKEN", "ONEFILE_ORGANISATION_ID",
            "ONEFILE_CLASSROOM_ID", "ONEFILE_RATE_LIMIT", "ONEFILE_RATE_PERIOD",
        }  # fmt: skip
        assert (env["ONEFILE_RATE_LIMIT"], env["ONEFILE_RATE_PERIOD"]) == ("120", "30")
        assert env["ONEFILE_BASE_URL"].endswith("/api/v2.1/")
        assert lines[0] == f"OneFile simulator listening: {env['ONEFILE_BASE_URL']}"
        text = "\n".join(lines)
        for words in (
            f"organisation (centre) id: {env['ONEFILE_ORGANISATION_ID']}",
            f"classroom ids: {env['ONEFILE_CLASSROOM_ID']}",
            "visit type ids: 1, 2",
            "standards: 501–530",
            "quota: 120 calls per 30 s",
            "learners seeded: 2",
            "realistic" if realistic else "as first read",
            "thin search rows" if realistic else "full search rows",
        ):
            assert words in text, words
        async with httpx.AsyncClient(base_url=env["ONEFILE_BASE_URL"], timeout=30) as client:
            resp = await client.post(
                "Authentication", headers={"X-CustomerToken": env["ONEFILE_API_TOKEN"]}
            )
            assert resp.status_code == 200
            session = resp.text.strip().strip('"')
            assert resp.text.startswith('"') != realistic  # bare text when realistic
            rows = await client.post(
                "User/Search/1/10", json={"Role": 1}, headers={"X-TokenID": session}
            )
            assert rows.status_code == 200 and len(rows.json()) == 2
        proc.send_signal(stop)
        async with asyncio.timeout(START_TIMEOUT):
            rest, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert rest.decode().splitlines() == [console.STOPPED]
    assert proc.returncode == 0
    assert "Traceback" not in err.decode() and err.decode().strip() == ""


def test_simulate_help_offers_every_option_without_type_labels() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--help"])
    assert result.exit_code == 0, result.output
    for flag in (
        "--port", "--token", "--seed-learners", "--rate-limit", "--rate-period", "--retry-after",
        "--latency", "--latency-jitter", "--fault-rate", "--timeout-rate", "--garbage-rate",
        "--hang-seconds", "--realistic", "--session-body", "--thin-rows", "--page-cap",
        "--page-cap-skips", "--update-replaces", "--expired-session-status", "--email-required",
        "--review-search-needs-centre", "--placement-answer", "--inactive-placement-refused",
        "--dates-as-uk-midnight", "--duplicate-misid-refused",
    ):  # fmt: skip
        assert f"{flag} " in result.output or f"{flag}," in result.output, flag
    for label in ("<bool>", "<str>", "<int>", "<float>"):
        assert label not in result.output
    assert "onefile-sync-dev simulate" in result.output
    assert "(0.05)" in result.output  # the command line's latency default


def test_an_address_in_use_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert console.run(SimulatorConfig(), "127.0.0.1", port) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"simulator: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_bad_option_values_are_one_usage_error() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--fault-rate", "2"])
    assert result.exit_code == 2
    assert "--fault-rate must be between 0 and 1" in result.output
    assert "Traceback" not in result.output
