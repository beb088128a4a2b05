"""Every SQL statement of the service lives in `app/db/sql/*.sql`, in named blocks.

A block starts with a line `-- name: <name>` and runs to the next such line. Files are read
once, at import, into read-only mappings; the repositories are their only users.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

_NAME = re.compile(r"^--\s*name:\s*([a-z0-9_]+)\s*$", re.MULTILINE)


def load(filename: str) -> Mapping[str, str]:
    """Named statements of one file under app/db/sql."""
    text = resources.files("app.db").joinpath("sql", filename).read_text(encoding="utf-8")
    return parse(text, filename)


def parse(text: str, filename: str) -> Mapping[str, str]:
    """Named statements of one SQL text (`filename` names it in errors)."""
    parts = _NAME.split(text)
    out: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in out:
            raise ValueError(f"{filename}: statement {name!r} defined twice")
        out[name] = body.strip()
    return MappingProxyType(out)
