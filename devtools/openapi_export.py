"""Write the service's OpenAPI document: `onefile-sync-dev openapi openapi/openapi.json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from app.main import create_app


def document() -> dict[str, Any]:
    """The OpenAPI document generated from the app's routes and models."""
    return create_app().openapi()


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    Path(sys.argv[1] if len(sys.argv) > 1 else "openapi/openapi.json").write_text(render())
