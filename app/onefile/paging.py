"""Paged searches that lose no row under a silent page-size cap, and what rows hold.

OneFile's `…/Search/{page}/{size}` answers at most `size` rows, and nothing public says how large
a size it honours (docs/onefile-api.md, "Paged searches"). The naive rule "a page shorter than
asked is the last one" loses every row past the first page on a server that silently answers
100 rows when asked for 1,000. Two readings of such a server are possible, and the reader must
be right under both: it *clamps* the size (page p holds rows (p−1)·cap+1 … p·cap), or it takes
the offset from the size asked and serves `cap` rows from there (page p holds rows
(p−1)·size+1 … (p−1)·size+cap, the rows in between never served at that size).

So, per entity, the reader keeps the largest size it has seen honoured (a full page; it starts
at 10, the floor of the contract) and, once learned, the cap. A page shorter than asked is final
only when it is shorter than a size known to be honoured — then no cap can explain it. Otherwise
the next page is asked with the size the server actually answered (n): a size of n is honoured
under both readings, and page 2 at size n starts right after the rows already read. Rows there
mean a cap of n, remembered for the entity from then on; none mean the search was complete, and
n is now known to be honoured. That costs at most one extra call per search, none for searches
of fewer than 10 rows, and none once a full page or the cap is known. Pages are read ahead side
by side (so the quota is not left idle for a round trip per page) only at a size known to be
honoured: a read ahead at a guessed size could skip rows under the second reading.

`RowShapes` remembers, per entity, whether search rows came thin (without the details the
service reads): callers then skip searches whose rows would be useless when GETs alone cost
less, and never take a missing field for a null one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

FLOOR = 10  # the smallest page size the contract promises (help centre: User/Search/1/10)
MAX_PAGE_SIZE = 1000  # the largest size asked; OneFile's own limit is unknown
READ_AHEAD = 8  # pages requested side by side at most (bounds memory)

Rows = list[dict[str, Any]]
FetchPage = Callable[[int, int], Awaitable[Rows]]  # (page, size) → rows


class PageSizes:
    """What this process has learned about the page sizes OneFile honours, per entity."""

    def __init__(self, wanted: int = MAX_PAGE_SIZE) -> None:
        self.wanted = max(FLOOR, min(wanted, MAX_PAGE_SIZE))
        self._honoured: dict[str, int] = {}
        self._cap: dict[str, int] = {}

    def size(self, entity: str) -> int:
        """The size to ask for: the wanted one, or the cap when one was learned."""
        return min(self.wanted, self._cap.get(entity, MAX_PAGE_SIZE))

    def honoured(self, entity: str) -> int:
        return max(FLOOR, self._honoured.get(entity, 0))

    def cap(self, entity: str) -> int | None:
        return self._cap.get(entity)

    def saw_honoured(self, entity: str, size: int) -> None:
        self._honoured[entity] = max(self._honoured.get(entity, 0), size)

    def learn_cap(self, entity: str, cap: int) -> None:
        self._cap[entity] = cap
        self.saw_honoured(entity, cap)


class RowShapes:
    """Whether an entity's search rows came thin (lacking details) or full, as last seen."""

    def __init__(self) -> None:
        self._thin: dict[str, bool] = {}

    def thin(self, entity: str) -> bool | None:
        """True: rows lack details; False: rows hold them; None: not seen yet."""
        return self._thin.get(entity)

    def saw(self, entity: str, *, thin: bool) -> None:
        self._thin[entity] = thin


async def read_pages(
    sizes: PageSizes, entity: str, fetch: FetchPage, *, expected_rows: int = 0
) -> AsyncIterator[Rows]:
    """Every page of one search, in order, until no further row can exist.

    `expected_rows` (an estimate, 0 when unknown) lets pages be requested side by side once
    the size is known to be honoured; past the estimate the read goes on one page at a time.
    """
    size = sizes.size(entity)
    page = 1  # the next page to yield, at `size`
    probing = True  # may a short page still be a cap? (only before any size is confirmed)
    in_flight: deque[tuple[int, asyncio.Future[Rows]]] = deque()
    requested = 0  # highest page requested at `size`

    def ahead_allowed() -> bool:
        return size <= sizes.honoured(entity)

    try:
        while True:
            if ahead_allowed():
                last = max(page, expected_rows // size + 1)
                while requested < last and len(in_flight) < READ_AHEAD:
                    requested += 1
                    in_flight.append((requested, asyncio.ensure_future(fetch(requested, size))))
            if not in_flight:
                requested = page
                in_flight.append((page, asyncio.ensure_future(fetch(page, size))))
            number, future = in_flight.popleft()
            assert number == page
            rows = await future
            yield rows
            n = len(rows)
            if n >= size:
                sizes.saw_honoured(entity, size)
                probing = False
                page += 1
                continue
            if n == 0 or n < sizes.honoured(entity) or not probing:
                return
            # Shorter than asked, yet not shorter than any size known to be honoured: the last
            # page, or a silent cap of n. Page 2 at size n tells, under either reading.
            sizes.saw_honoured(entity, n)
            size, page, probing = n, page + 1, False
            requested = page
            rows = await fetch(page, size)
            if not rows:
                return
            sizes.learn_cap(entity, n)
            yield rows
            if len(rows) < size:
                return
            page += 1
    finally:
        for _, task in in_flight:
            task.cancel()
        if in_flight:
            with contextlib.suppress(Exception):
                await asyncio.gather(*(t for _, t in in_flight), return_exceptions=True)
