"""The shared quota: no window of `period` seconds ever holds more than `limit` calls."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.onefile.quota import BATCH, INTERACTIVE, Quota, call_priority


def max_in_window(times: list[float], period: float) -> int:
    """The most calls any half-open window of `period` seconds holds."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - period:
            j += 1
        best = max(best, i - j + 1)
    return best


async def test_fifty_concurrent_workers_never_exceed_the_window() -> None:
    limit, period = 20, 0.5
    quota = Quota(limit, period, margin=0.02)
    sent: list[float] = []
    total = 90

    async def worker() -> None:
        while len(sent) < total:
            await quota.acquire()
            sent.append(time.monotonic())

    await asyncio.gather(*(worker() for _ in range(50)))
    assert max_in_window(sent, period) <= limit
    # and no burst: never more than two calls within one spacing
    ordered = sorted(sent)
    spans = [b - a for a, b in zip(ordered, ordered[2:], strict=False)]
    assert min(spans) >= quota.spacing * 0.999


async def test_no_burst_even_after_idle() -> None:
    """A leaky bucket that refills while idle would let `limit` calls out at once."""
    quota = Quota(10, 0.2, margin=0.05)  # margin 0 leaves no slack: see the window test below
    await quota.acquire()
    await asyncio.sleep(0.3)  # idle longer than a period
    sent = []
    for _ in range(12):
        await quota.acquire()
        sent.append(time.monotonic())
    assert max_in_window(sent, 0.2) <= 10
    assert sent[-1] - sent[0] >= 10 * quota.spacing * 0.999  # at most one pair at the start


async def test_interactive_calls_overtake_queued_batch_calls() -> None:
    quota = Quota(50, 1.0, margin=0.0)  # one call every 20 ms
    sent: list[tuple[str, float]] = []

    async def call(tag: str, prio: int) -> None:
        call_priority.set(prio)
        await quota.acquire()
        sent.append((tag, time.monotonic()))

    batch = [asyncio.create_task(call(f"b{i}", BATCH)) for i in range(10)]
    await asyncio.sleep(0.05)  # some batch calls went out, the rest are queued
    queued_at = time.monotonic()
    interactive = asyncio.create_task(call("refresh", INTERACTIVE))
    await asyncio.gather(*batch, interactive)
    tags = [tag for tag, _ in sent]
    ahead = [tag for tag, t in sent[: tags.index("refresh")] if t > queued_at]
    assert len(ahead) <= 1  # only the call already holding the turn went first
    assert tags.index("refresh") < 9


async def test_a_cancelled_waiter_does_not_block_the_others() -> None:
    quota = Quota(100, 1.0, margin=0.0)
    await quota.acquire()
    await quota.acquire()  # the bucket (two calls) is full now
    waiter = asyncio.create_task(quota.acquire())
    other = asyncio.create_task(quota.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.wait_for(other, timeout=1)
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert quota.state().waiting == 0


async def test_pause_holds_every_call() -> None:
    quota = Quota(1000, 1.0, margin=0.0)
    quota.pause(0.2)
    started = time.monotonic()
    await quota.acquire()
    assert time.monotonic() - started >= 0.19


async def test_keeps_the_window_even_when_the_bucket_would_allow_more() -> None:
    """With few calls per period the sliding log, not the bucket, is what holds the line.

    With margin 0 the log has no slack at all: the microseconds between the quota's timestamp
    and the caller's once put 4 calls into a 0.3-s window here — the 51-call failure of the
    two-replica test in miniature. The margin is what a strict window on the other side needs.
    """
    limit, period = 3, 0.3
    quota = Quota(limit, period, margin=0.05)
    sent = []
    for _ in range(10):
        await quota.acquire()
        sent.append(time.monotonic())
    assert max_in_window(sent, period) <= limit


async def test_sustained_rate_reaches_the_quota() -> None:
    """Lateness of the event loop's timers must not accumulate into lost throughput."""
    quota = Quota(200, 1.0, margin=0.0)
    sent: list[float] = []

    async def worker() -> None:
        while len(sent) < 201:
            await quota.acquire()
            sent.append(time.monotonic())

    await asyncio.gather(*(worker() for _ in range(8)))
    rate = (len(sent) - 1) / (sent[-1] - sent[0])
    assert rate >= 200 * 0.95  # a bucket of one loses 5-10% here


async def test_state_counts_the_window() -> None:
    quota = Quota(5, 10.0, margin=0.0)
    for _ in range(3):
        await quota.acquire(priority=INTERACTIVE)
    s = quota.state()
    assert s.calls_in_window == 3
    assert s.limit == 5


async def test_a_new_leader_keeps_the_window_with_the_old_leaders_calls() -> None:
    """After a hand-over both leaders' calls count at OneFile. The new leader knows only that
    the old one obeyed the same bucket and stopped by `until`: four spacings later, the union
    keeps every window — and it waits that, not a period (issue 13)."""
    limit, period, margin = 20, 2.0, 0.1
    old, new = Quota(limit, period, margin=margin), Quota(limit, period, margin=margin)
    sent: list[float] = []
    for _ in range(limit):  # the old leader at its full rate, up to its last call
        await old.acquire()
        sent.append(time.monotonic())
    until = time.monotonic()  # by then the old leader has stopped (its fence)
    new.assume_previous_caller(until)
    first = None
    for _ in range(limit):
        await new.acquire()
        first = first or time.monotonic()
        sent.append(time.monotonic())
    assert max_in_window(sent, period) <= limit
    assert first is not None
    assert first >= until + 4 * new.spacing - 0.001  # sleeps never end early
    # Nowhere near a period: the advisory-lock leader waited 2.5 s whatever the period.
    assert first < until + period / 2


async def test_a_hand_over_costs_no_memory_and_keeps_this_processs_own_calls() -> None:
    """A quota "out of the way" (a million calls a period, as the bench runs it) must not
    grow by a hand-over; a process that leads again still counts its own calls."""
    big = Quota(1_000_000, 10.0)
    big.assume_previous_caller(time.monotonic())
    assert big.state().calls_in_window == 0
    quota = Quota(5, 10.0, margin=0.0)
    await quota.acquire()
    until = time.monotonic()
    quota.assume_previous_caller(until)
    assert quota.state().calls_in_window == 1
    await quota.acquire()
    assert time.monotonic() >= until + 4 * quota.spacing - 0.001


async def test_the_log_keeps_only_the_last_period() -> None:
    """A limit far above the calls of a period must not keep every send time (memory)."""
    now = [0.0]
    quota = Quota(1_000_000, 1.0, margin=0.0, clock=lambda: now[0])
    for _ in range(10):  # sent at 0.0, 0.3, … 2.7
        await quota.acquire()
        now[0] += 0.3
    assert quota.state().calls_in_window == 3  # 2.1, 2.4, 2.7: within a second of 3.0
    assert list(quota._sent) == pytest.approx([1.8, 2.1, 2.4, 2.7])  # the log, not the window
