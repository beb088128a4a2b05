"""`onefile-sync probe` against the simulator as today's OneFile and as the realistic one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from app.cli import cli
from app.onefile.probe import render, run_probe
from app.settings import OneFileSettings
from devtools.loopback import serve_loopback as serve_http
from devtools.simulator import SimulatorConfig, SimulatorState, create_simulator_app
from devtools.simulator.config import REALISTIC

SIM_TOKEN = "sim-token"
READS = {"POST Authentication", "GET", "Search"}


def settings(url: str, **overrides: Any) -> OneFileSettings:
    values: dict[str, Any] = {
        "onefile_base_url": url,
        "onefile_api_token": SecretStr(SIM_TOKEN),
        "onefile_organisation_id": 1,
        "onefile_classroom_id": 1,
        # The simulator's own limit, compressed: the probe paces itself under it (no 429).
        "onefile_rate_limit": 20,
        "onefile_rate_period": 1.0,
    }
    values.update(overrides)
    return OneFileSettings(**values)


@pytest.fixture(params=["today", "realistic"])
async def onefile(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, str, SimulatorState]]:
    """(kind, base URL, state) of a simulator with 150 learners, each with an aim and a
    review: more than a page under the realistic cap of 100."""
    preset = {} if request.param == "today" else REALISTIC
    config = SimulatorConfig(**preset, rate_limit=20, rate_period=1.0, seed=2)
    app = create_simulator_app(config)
    state: SimulatorState = app.state.sim
    state.seed_learners(150)
    async with serve_http(app) as url:
        yield request.param, f"{url}{config.path_prefix}/", state


def _read_only(state: SimulatorState) -> None:
    for call in state.calls:
        assert (
            call.route == "POST Authentication"
            or call.method == "GET"
            or (call.route.endswith("/Search"))
        ), call.route
    assert state.count_calls(status=429) == 0


async def test_the_probe_reads_what_each_onefile_does(
    onefile: tuple[str, str, SimulatorState],
) -> None:
    kind, url, state = onefile
    found = await run_probe(settings(url))
    _read_only(state)
    assert found.calls == state.count_calls() <= 15
    out = found.as_json()
    for key in ("session_body", "page_size_honoured", "thin_rows", "missing_fields", "settings"):
        assert key in out
    assert out["missing_fields"] == {}
    assert set(out["thin_rows"]) == {"User", "LearningAim", "Review", "Placement"}
    assert set(out["settings"]) >= {
        "ONEFILE_PAGE_SIZE",
        "ONEFILE_FIELD_TOTAL_ELEMENTS",
        "ONEFILE_FIELD_ELEMENTS_DONE",
        "ONEFILE_FIELD_CLAIMED_DATE",
        "ONEFILE_FIELD_CERTIFICATE_RECEIVED_DATE",
    }
    if kind == "today":
        assert out["session_body"] == "json"
        assert out["thin_rows"] == dict.fromkeys(out["thin_rows"], False)
        # 150 learners, no cap: 1000 is not proven, 150 is; the service keeps asking 1000.
        assert (out["page_size_honoured"], out["page_size_confirmed"]) == (150, False)
        assert out["page_cap"] is None
        assert out["settings"]["ONEFILE_PAGE_SIZE"] == "1000"
    else:
        assert out["session_body"] == "text"
        assert out["thin_rows"] == dict.fromkeys(out["thin_rows"], True)
        assert (out["page_size_honoured"], out["page_cap"]) == (100, 100)
        assert out["settings"]["ONEFILE_PAGE_SIZE"] == "100"
    text = render(found)
    assert "settings to use:" in text and "ONEFILE_PAGE_SIZE=" in text
    assert SIM_TOKEN not in text


async def test_a_field_name_no_record_has_is_reported_with_lookalikes(
    onefile: tuple[str, str, SimulatorState],
) -> None:
    _, url, _ = onefile
    found = await run_probe(settings(url, onefile_field_total_elements="NumberOfElements"))
    assert found.missing_fields == {"LearningAim": ["NumberOfElements"]}
    assert any("TotalElements" in n for n in found.notes)  # the lookalike in real records


async def test_write_learns_replace_or_merge_and_last_modified(
    onefile: tuple[str, str, SimulatorState],
) -> None:
    kind, url, state = onefile
    found = await run_probe(settings(url), sandbox_centre=1)
    assert found.write is not None
    assert found.write["update_replaces"] is (kind == "realistic")
    assert found.write["last_modified_moves_on_aim_update"] is True
    created = found.write["created"]
    assert set(created) == {"assessor", "placement", "learner", "learning_aim"}
    assert state.user(created["learner"])["PlacementID"] == created["placement"]
    assert state.placement(created["placement"])["Active"] is True


async def test_cli_probe_json_and_its_guards(
    onefile: tuple[str, str, SimulatorState], monkeypatch: pytest.MonkeyPatch
) -> None:
    kind, url, state = onefile
    for key, value in {
        "ONEFILE_BASE_URL": url,
        "ONEFILE_API_TOKEN": SIM_TOKEN,
        "ONEFILE_ORGANISATION_ID": "1",
        "ONEFILE_CLASSROOM_ID": "1",
        "ONEFILE_RATE_LIMIT": "20",
        "ONEFILE_RATE_PERIOD": "1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DATABASE_URL", raising=False)  # the probe needs no database
    runner = CliRunner()
    # the CLI runs its own event loop: give it a thread so the simulator keeps serving
    refused = await asyncio.to_thread(runner.invoke, cli, ["probe", "--write"])
    assert refused.exit_code == 2
    assert state.calls == []
    result = await asyncio.to_thread(runner.invoke, cli, ["probe", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["session_body"] == ("json" if kind == "today" else "text")
    _read_only(state)
