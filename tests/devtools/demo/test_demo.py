"""The demo speaks to a person: plain tables, no raw dicts or internal keys, a closing summary."""

from __future__ import annotations

import re
import uuid

from rich.console import Console

from devtools.demo.report import SYNC_FIGURES
from devtools.demo.run import run_demo
from tests import pg

# What the API's job results call things; a person should never read them.
INTERNAL_KEYS = re.compile(
    r"reviews_read|to_exchange|fields_written|per_learner|dry_run|users_confirmed|"
    r"learners\.|onefile\.|picsweb\.[a-z]"
)


async def test_the_demo_speaks_plainly_and_ends_with_a_summary(pg_admin: str) -> None:
    console = Console(record=True, width=120, force_terminal=False)
    name = f"onefile_sync_demo_test_{uuid.uuid4().hex[:8]}"
    try:
        code = await run_demo(8, 1000, 10.0, 0.0, console, admin_url=pg_admin, database=name)
    finally:
        await pg.drop(pg_admin, name)
    out = console.export_text()
    assert code == 0, out
    assert not re.search(r"\{'[a-z_]+': ", out), out  # no raw Python dict
    assert not INTERNAL_KEYS.search(out), INTERNAL_KEYS.search(out)
    assert " 0/0 " not in out
    for label in (
        "Learners to look at",
        "OneFile calls made by the service",
        "Enrolled in OneFile",
    ):
        assert label in out
    closing = out[out.index("Demo finished.") :]
    assert "What ran:" in closing
    assert f'database "{name}"' in closing  # where the data lives
    assert "The OneFile simulator ran at http://127.0.0.1:" in closing
    assert "What to try next:" in closing
    assert "onefile-sync-dev simulate" in closing


def test_every_sync_figure_has_a_plain_label() -> None:
    for path, label in SYNC_FIGURES:
        assert not INTERNAL_KEYS.search(label), (path, label)
        assert label[0].isupper()
