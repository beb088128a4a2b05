"""glibc's mmap threshold: without the pin, a freed large block moves later 256 KiB buffers
(asyncio's read buffers) onto the brk heap; with it, they stay mapped blocks of their own."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")

# Runs in a fresh interpreter, so nothing this test process did to its allocator counts.
PROBE = """
import ctypes, json, sys
from app.malloc import pin_mmap_threshold

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
pinned = pin_mmap_threshold() if sys.argv[1] == "pin" else False
big = bytes(4 * 2**20)  # mapped; freeing it raises a dynamic threshold to 4 MiB
del big
before = libc.mallinfo2().hblks
buf = bytes(256 * 1024)  # the size of asyncio's read buffer
print(json.dumps({"pinned": pinned, "mapped": libc.mallinfo2().hblks - before}))
"""


def _probe(mode: str) -> dict[str, object]:
    out = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", PROBE, mode], check=True, capture_output=True, text=True, timeout=60
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_without_the_pin_a_read_buffer_lands_on_the_heap() -> None:
    assert _probe("none") == {"pinned": False, "mapped": 0}


def test_with_the_pin_a_read_buffer_is_mapped_on_its_own() -> None:
    assert _probe("pin") == {"pinned": True, "mapped": 1}
