"""Schemathesis's own CLI against the running service over HTTP: every check, no failure.

The service runs as deployed — `uvicorn app.main:app` in its own process, workers on — against
the OneFile simulator, on a database holding a learner in each state the API answers
differently (tests/api/fuzz_data.py). `st run` reads the committed document
(openapi/openapi.json: the document is the API) and runs every phase (coverage, fuzzing,
stateful) with `--checks all`. Its NDJSON report is then read back to make sure the run got
past authentication, and that every 422 given to schema-valid input is one of the contract's
business refusals (tests/api/schemathesis.toml says why those two need this).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from devtools.service_process import service_process
from devtools.simulator import SimulatorState
from tests import pg
from tests.api.fuzz_data import fuzz_database

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "schemathesis-token-0123456789"
BUSINESS_422 = {"not_enrolled", "not_enrollable"}


def st_command(url: str, report: Path) -> list[str]:
    return [
        str(Path(sys.executable).parent / "st"),
        "--config-file", str(ROOT / "tests" / "api" / "schemathesis.toml"),
        "--no-color",
        "run", str(ROOT / "openapi" / "openapi.json"),
        "--url", url,
        "--checks", "all",
        "--header", f"Authorization: Bearer {TOKEN}",
        "--report", "ndjson", "--report-ndjson-path", str(report),
        "--generation-database", "none",
    ]  # fmt: skip


def read_report(path: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(case, response) for every request the run sent."""
    pairs = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        recorder = event.get("ScenarioFinished", {}).get("recorder", {})
        interactions = recorder.get("interactions", {})
        for case_id, case in recorder.get("cases", {}).items():
            response = (interactions.get(case_id) or {}).get("response")
            if response is not None:
                pairs.append((case["value"], response))
    return pairs


def body_of(response: dict[str, Any]) -> Any:
    content = response.get("content") or {}
    raw = base64.b64decode(content["$base64"]) if "$base64" in content else b""
    return json.loads(raw) if raw else None


@pytest.mark.timeout(400)  # the whole CLI run: about 30 s on an idle machine, more when loaded
async def test_schemathesis_finds_nothing_over_http(
    pg_admin: str, pg_template: str, simulator: tuple[str, SimulatorState], tmp_path: Path
) -> None:
    name = await fuzz_database(pg_admin, pg_template)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONEFILE_", "SERVICE_"))}
    env.update(
        DATABASE_URL=pg.with_database(pg_admin, name),
        ONEFILE_BASE_URL=simulator[0],
        ONEFILE_API_TOKEN="sim-token",
        ONEFILE_ORGANISATION_ID="1",
        ONEFILE_CLASSROOM_ID="1",
        SERVICE_API_TOKEN=TOKEN,
    )
    report = tmp_path / "run.ndjson"
    try:
        async with service_process(env, tmp_path / "service.log") as svc:
            st = await asyncio.create_subprocess_exec(
                *st_command(svc.url, report), cwd=tmp_path,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            out, _ = await st.communicate()
    finally:
        await pg.drop(pg_admin, name)
    text = out.decode()
    summary = text[text.rfind("SUMMARY") :]
    assert st.returncode == 0, text[-6000:]
    assert re.search(r"(\d+) generated, \1 passed", summary), summary

    seen: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
    for case, response in read_report(report):
        status = response["status_code"]
        seen[(case["method"], case["path"])].add(status)
        positive = case["meta"]["generation"]["mode"] == "positive"
        if positive and status == 422 and case["method"] == "POST":
            assert body_of(response)["error"] in BUSINESS_422, (case, body_of(response))
    # A run that only ever met 401s, or never reached a queued job, would prove little.
    assert 202 in seen[("POST", "/learners/{learner_id}/enrol")], dict(seen)
    assert {202, 404} <= seen[("POST", "/refresh")], dict(seen)
    assert 202 in seen[("POST", "/sync")], dict(seen)
    assert {200, 404} <= seen[("GET", "/jobs/{job_id}")], dict(seen)
    assert 200 in seen[("GET", "/health")], dict(seen)
