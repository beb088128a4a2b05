"""Silent page caps (docs/onefile-api.md, "Paged searches"): no row is lost under any cap of 10
or more, whatever size is asked, under both readings of a capping server; at most one extra
call per search, none below 10 rows."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import respx

from app.onefile.client import Centre, OneFileClient
from app.onefile.paging import PageSizes, Rows, read_pages
from app.onefile.quota import Quota
from app.onefile.transport import counting_calls

BASE = "https://onefile.test/api/v2.1/"


@dataclass
class CappingServer:
    """Pages of `total` rows as a OneFile that answers at most `cap` rows a page.

    clamp (skips=False): page p holds rows (p−1)·cap+1 … p·cap, whatever size was asked;
    skips=True: the offset comes from the size asked, and `cap` rows are served from there.
    """

    total: int
    cap: int | None
    skips: bool = False
    asked: list[tuple[int, int]] = field(default_factory=list)

    def page(self, page: int, size: int) -> Rows:
        assert 1 <= size <= 1000 and page >= 1
        self.asked.append((page, size))
        served = size if self.cap is None else min(size, self.cap)
        start = (page - 1) * (size if self.skips else served)
        return [{"ID": n} for n in range(start + 1, min(self.total, start + served) + 1)]

    async def fetch(self, page: int, size: int) -> Rows:
        return self.page(page, size)


async def read_all(sizes: PageSizes, server: CappingServer, expected: int = 0) -> list[int]:
    out: list[int] = []
    async for rows in read_pages(sizes, "Review", server.fetch, expected_rows=expected):
        out.extend(r["ID"] for r in rows)
    return out


def ideal_calls(total: int, page: int) -> int:
    """Calls a reader that knew the honoured size would make (a full last page needs one
    more call to show that nothing follows)."""
    return total // page + 1


TOTALS = [0, 5, 9, 10, 11, 99, 100, 101, 250, 999, 1000, 1001, 2500]


@pytest.mark.parametrize("skips", [False, True], ids=["clamps", "skips"])
@pytest.mark.parametrize("cap", [None, 10, 100, 250])
@pytest.mark.parametrize("wanted", [1000, 100])
@pytest.mark.parametrize("ahead", [False, True], ids=["one-by-one", "read-ahead"])
async def test_every_row_once_in_order_whatever_the_cap(
    skips: bool, cap: int | None, wanted: int, ahead: bool
) -> None:
    for total in TOTALS:
        server = CappingServer(total, cap, skips)
        sizes = PageSizes(wanted)
        got = await read_all(sizes, server, expected=total if ahead else 0)
        assert got == list(range(1, total + 1)), (total, server.asked)
        honoured = min(wanted, cap or wanted)
        assert len(server.asked) <= ideal_calls(total, honoured) + 1, (total, server.asked)
        if total < 10:
            assert len(server.asked) == 1
        # What was learned is kept: once the cap, or a full page at the size asked, is known,
        # the same search costs no extra call.
        settled = sizes.cap("Review") is not None or sizes.honoured("Review") >= sizes.size(
            "Review"
        )
        again = CappingServer(total, cap, skips)
        assert await read_all(sizes, again, expected=total if ahead else 0) == got
        extra = 0 if settled else 1
        assert len(again.asked) <= ideal_calls(total, honoured) + extra, (total, again.asked)


async def test_a_cap_is_learned_from_the_second_page() -> None:
    server = CappingServer(350, cap=100, skips=True)
    sizes = PageSizes(1000)
    assert await read_all(sizes, server) == list(range(1, 351))
    assert server.asked == [(1, 1000), (2, 100), (3, 100), (4, 100)]
    assert sizes.cap("Review") == 100 and sizes.size("Review") == 100


async def test_a_short_last_page_below_the_honoured_size_is_final() -> None:
    sizes = PageSizes(1000)
    sizes.saw_honoured("Review", 1000)
    server = CappingServer(1500, cap=None)
    assert await read_all(sizes, server) == list(range(1, 1501))
    assert server.asked == [(1, 1000), (2, 1000)]


async def test_read_ahead_only_at_a_size_known_to_be_honoured() -> None:
    server = CappingServer(2500, cap=None)
    sizes = PageSizes(1000)
    await read_all(sizes, server, expected=2500)
    # Page 1 alone (1000 not yet known honoured), then the rest side by side.
    assert server.asked[0] == (1, 1000)
    assert sorted(server.asked[1:]) == [(2, 1000), (3, 1000)]


# ---- through the client, on each kind of search ---------------------------------------------


def paged_route(server: CappingServer, row: Any) -> Any:
    def answer(request: httpx.Request) -> httpx.Response:
        m = re.search(r"/(\d+)/(\d+)$", request.url.path)
        assert m is not None
        rows = server.page(int(m.group(1)), int(m.group(2)))
        return (
            httpx.Response(200, json=[row(r["ID"]) for r in rows]) if rows else httpx.Response(204)
        )

    return answer


def client() -> OneFileClient:
    return OneFileClient(
        base_url=BASE,
        api_token="t",
        quota=Quota(100_000, 1.0, margin=0.0),
        centre=Centre(1, 1),
    )


@pytest.mark.parametrize("cap", [10, 100, None])
@pytest.mark.parametrize("skips", [False, True], ids=["clamps", "skips"])
async def test_centre_wide_and_per_learner_searches_lose_nothing(
    cap: int | None, skips: bool
) -> None:
    centre_reviews = CappingServer(250, cap, skips)
    learners = CappingServer(135, cap, skips)
    aims = CappingServer(15, cap, skips)
    reviews = CappingServer(12, cap, skips)
    with respx.mock(base_url=BASE, assert_all_called=False) as onefile:
        onefile.post("Authentication").respond(200, text="s/e+ssion=")

        def review_rows(request: httpx.Request) -> httpx.Response:
            flt = json.loads(request.content)
            server = reviews if "LearnerID" in flt else centre_reviews
            return paged_route(server, lambda n: {"ID": n, "ScheduledFor": None})(request)

        onefile.route(method="POST", path__regex=r"Review/Search/").mock(side_effect=review_rows)
        onefile.route(method="POST", path__regex=r"User/Search/").mock(
            side_effect=paged_route(learners, lambda n: {"ID": n, "MISID": str(n)})
        )
        onefile.route(method="POST", path__regex=r"LearningAim/Search/").mock(
            side_effect=paged_route(aims, lambda n: {"ID": n, "StandardID": 501, "UserID": 5})
        )
        c = client()
        with counting_calls() as tally:
            got = [r.id async for page in c.centre_reviews(expected=250) for r in page]
            assert got == list(range(1, 251))
            import datetime as dt

            since = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
            users = [u.id async for page in c.users_changed_since(since) for u in page]
            assert users == list(range(1, 136))
            assert [a.id for a in await c.learning_aims_of(5)] == list(range(1, 16))
            rows = await c.reviews_of_learner(9, detailed=False)
            assert [r.id for r in rows] == list(range(1, 13))
        await c.aclose()
    every = centre_reviews.asked + learners.asked + aims.asked + reviews.asked
    assert tally.calls == len(every)
