"""The enrolment and exchange tests run against OneFile as first read (`today`) and as the
public evidence makes likely (`realistic`: bare-text session, thin rows, a page cap of 100,
replacing updates, 403 on expiry, Email required, UK-midnight dates, …; docs/onefile-api.md)."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.simulator import SimulatorConfig
from devtools.simulator.config import REALISTIC

PRESETS: dict[str, dict[str, Any]] = {"today": {}, "realistic": REALISTIC}


@pytest.fixture(params=list(PRESETS))
def onefile_kind(request: pytest.FixtureRequest) -> str:
    """Which OneFile the simulator is: "today" or "realistic"."""
    kind: str = request.param
    return kind


@pytest.fixture
def sim_config(onefile_kind: str) -> SimulatorConfig:
    """A fast simulator of that kind; tests that need a tight quota or faults change it."""
    return SimulatorConfig(**PRESETS[onefile_kind], rate_limit=100_000, rate_period=60.0, seed=7)
