"""Retry policy for OneFile calls, declared as data.

Two budgets, because the two failures mean different things: a 429 says "slow down" and is
answered by pausing the shared quota (Retry-After when OneFile sends it, else a growing pause);
a 5xx or timeout says "something broke" and gets a few jittered, exponential attempts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient OneFile failure."""

    attempts: int = 5  # for 5xx, timeouts and unreadable answers; the first try counts
    wait_initial: float = 0.5
    wait_max: float = 10.0
    jitter: float = 0.5  # ± this fraction of each wait
    rate_limited_attempts: int = 30  # for 429s: they cost a pause, never a lost call
    rate_limited_wait_initial: float = 1.0
    rate_limited_wait_max: float = 60.0
    retry_after_max: float = 300.0  # a Retry-After beyond this is capped, not obeyed blindly

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Wait before retry number `attempt` (1-based) of a 5xx/timeout."""
        return self._jittered(self.wait_initial * 2 ** (attempt - 1), self.wait_max, rng)

    def rate_limited_backoff(
        self, attempt: int, retry_after: float | None, rng: random.Random | None = None
    ) -> float:
        """Pause after the `attempt`-th 429 in a row; OneFile's Retry-After wins when present."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.retry_after_max)
        base = self.rate_limited_wait_initial * 2 ** (attempt - 1)
        return self._jittered(base, self.rate_limited_wait_max, rng)

    def _jittered(self, base: float, cap: float, rng: random.Random | None) -> float:
        r = (rng or random).uniform(1 - self.jitter, 1 + self.jitter)
        return min(base, cap) * r


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header; None when absent or not a number of seconds."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
