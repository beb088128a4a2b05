"""Every advisory lock key of the service and of its tools is its own: two users of one key
wait on each other for no reason (creating the demo's tables once waited on a running leader)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lock_keys() -> dict[int, list[str]]:
    """Module-level constants named `*LOCK_KEY` in app/ and devtools/, by value."""
    keys: defaultdict[int, list[str]] = defaultdict(list)
    for package in ("app", "devtools"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.parse(path.read_text(), str(path)).body:
                targets = node.targets if isinstance(node, ast.Assign) else []
                for target in targets:
                    if isinstance(target, ast.Name) and target.id.endswith("LOCK_KEY"):
                        value = ast.literal_eval(node.value)  # type: ignore[union-attr]
                        keys[value].append(f"{path.relative_to(ROOT)}:{target.id}")
    return keys


def test_advisory_lock_keys_are_distinct() -> None:
    keys = _lock_keys()
    names = [name for users in keys.values() for name in users]
    # The migration runner's, the leader's and the demo schema's, at least.
    assert len(names) >= 3, names
    shared = {hex(key): users for key, users in keys.items() if len(users) > 1}
    assert shared == {}
