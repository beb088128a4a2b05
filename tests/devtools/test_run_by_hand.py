"""README's "Run it by hand", run as written: from an empty database to a served API.

The commands are read from the README itself, so the recipe and this test cannot drift apart;
only what must differ on a shared test machine is replaced: the database (a fresh one on the
test server) and the two ports (free ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from devtools.loopback import fresh_database
from devtools.service_process import free_port
from tests import pg

ROOT = Path(__file__).resolve().parents[2]
MAX_COMMANDS = 5


def recipe() -> list[str]:
    """The shell lines of the README's "Run it by hand" block."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Run it by hand") :]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "no ```sh block under 'Run it by hand'"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_the_recipe_is_at_most_five_commands_and_uses_the_dev_command() -> None:
    lines = recipe()
    assert len(lines) <= MAX_COMMANDS, lines
    assert any(line.startswith("onefile-sync-dev picsweb") for line in lines)
    assert any(line.startswith("onefile-sync serve") for line in lines)


@pytest.mark.timeout(180)
async def test_the_recipe_serves_the_api_against_the_simulator(
    pg_admin: str, tmp_path: Path
) -> None:
    name = f"onefile_by_hand_{uuid.uuid4().hex[:8]}"
    url = await fresh_database(pg_admin, name)
    sim_port, service_port = free_port(), free_port()
    script = "\n".join(recipe())
    script = re.sub(r"DATABASE_URL=\S+", f"DATABASE_URL='{url}'", script)
    script = script.replace("8900", str(sim_port)).replace("8000", str(service_port))
    token = re.search(r"SERVICE_API_TOKEN=(\S+)", script)
    assert token is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONEFILE_", "SERVICE_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    log = tmp_path / "recipe.log"
    with log.open("wb") as sink:
        shell = await asyncio.create_subprocess_exec(
            "bash", "-e", "-c", script, cwd=ROOT, env=env, stdout=sink, stderr=sink,
            start_new_session=True,  # its own process group: simulator and service stop together
        )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service_port}") as api:
            health = None
            while health is None or health.status_code != 200:
                assert shell.returncode is None, log.read_text()
                with contextlib.suppress(httpx.TransportError):  # not listening yet
                    health = await api.get("/health")
                await asyncio.sleep(0.2)
            assert health.json()["database"] == "ok", health.text
            auth = {"Authorization": f"Bearer {token.group(1)}"}
            enrol = await api.post("/learners/1/enrol", headers=auth)
            assert enrol.status_code == 202, enrol.text
            job = enrol.json()
            while job["status"] not in ("succeeded", "partial", "failed"):
                await asyncio.sleep(0.2)
                job = (await api.get(f"/jobs/{job['id']}", headers=auth)).json()
            assert job["status"] == "succeeded", job  # the simulator answered the service
    finally:
        # The whole group, even when the shell has ended: a background simulator outlives it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGTERM)
        await asyncio.wait_for(shell.wait(), 30)
        await pg.drop(pg_admin, name)
    assert "PICSWeb's tables created with 50 sample learners" in log.read_text()
