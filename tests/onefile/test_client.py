"""The OneFile client against respx routes that record every request."""

from __future__ import annotations

import os

import httpx
import pytest
import respx

from app.onefile.client import OneFileClient
from app.onefile.errors import (
    OneFileAmbiguous,
    OneFileAuthError,
    OneFileBadRequest,
    OneFileNotFound,
    OneFileRateLimited,
    OneFileUnavailable,
)
from app.onefile.quota import Quota
from app.onefile.retry import RetryPolicy

BASE = "https://onefile.test/api/v2.1/"
FAST = RetryPolicy(
    attempts=3,
    wait_initial=0.001,
    wait_max=0.01,
    rate_limited_attempts=4,
    rate_limited_wait_initial=0.001,
    rate_limited_wait_max=0.01,
)


def make_client(policy: RetryPolicy = FAST, quota: Quota | None = None) -> OneFileClient:
    return OneFileClient(
        base_url=BASE,
        api_token="customer-token",
        quota=quota or Quota(10_000, 1.0, margin=0.0),
        policy=policy,
        timeout=2.0,
    )


@pytest.fixture
def onefile() -> respx.MockRouter:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.post("Authentication").respond(200, text='"session-1"')
        yield router


async def test_authenticates_once_and_sends_the_session(onefile: respx.MockRouter) -> None:
    route = onefile.post("LearningAim/Search/1/100").respond(200, json=[])
    client = make_client()
    await client.learning_aims(5)
    await client.learning_aims(6)
    auth = onefile.routes[0]
    assert auth.call_count == 1
    assert auth.calls[0].request.headers["X-CustomerToken"] == "customer-token"
    assert route.calls[0].request.headers["X-TokenID"] == "session-1"
    assert "X-CustomerToken" not in route.calls[0].request.headers
    await client.aclose()


async def test_every_call_names_the_process(onefile: respx.MockRouter) -> None:
    """Replicas share one token: the User-Agent tells their calls apart (pid, no host name)."""
    route = onefile.post("LearningAim/Search/1/100").respond(200, json=[])
    client = make_client()
    await client.learning_aims(5)
    want = f"onefile-sync (pid {os.getpid()})"
    assert onefile.routes[0].calls[0].request.headers["User-Agent"] == want
    assert route.calls[0].request.headers["User-Agent"] == want
    await client.aclose()


async def test_a_401_renews_the_session_once(onefile: respx.MockRouter) -> None:
    onefile.routes[0].side_effect = [
        httpx.Response(200, text='"old"'),
        httpx.Response(200, text=' "new" \n'),
    ]
    route = onefile.post("Review/Search/1/100").mock(
        side_effect=[httpx.Response(401), httpx.Response(200, json=[])]
    )
    client = make_client()
    assert await client.reviews_of_learner(1) == []
    assert [c.request.headers["X-TokenID"] for c in route.calls] == ["old", "new"]
    await client.aclose()


async def test_a_refused_token_is_permanent(onefile: respx.MockRouter) -> None:
    onefile.routes[0].respond(401)
    client = make_client()
    with pytest.raises(OneFileAuthError) as err:
        await client.learning_aims(1)
    assert "customer-token" not in str(err.value)
    await client.aclose()


async def test_429_is_retried_and_honours_retry_after(onefile: respx.MockRouter) -> None:
    quota = Quota(10_000, 1.0, margin=0.0)
    route = onefile.post("LearningAim/Search/1/100").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0.2"}),
            httpx.Response(200, json=[{"ID": 1, "UserID": 5, "TotalElements": 4}]),
        ]
    )
    client = make_client(quota=quota)
    aims = await client.learning_aims(5)
    assert aims[0].total_elements == 4
    assert route.call_count == 2
    gap = route.calls[1].request  # sent after the quota's pause
    assert gap is not None
    await client.aclose()


async def test_429_forever_ends_as_rate_limited(onefile: respx.MockRouter) -> None:
    onefile.post("LearningAim/Search/1/100").respond(429)
    client = make_client()
    with pytest.raises(OneFileRateLimited):
        await client.learning_aims(5)
    await client.aclose()


async def test_5xx_and_garbage_are_retried_for_reads(onefile: respx.MockRouter) -> None:
    route = onefile.post("Review/Search/1/100").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(200, text="<html>oops</html>"),
            httpx.Response(200, json=[]),
        ]
    )
    client = make_client()
    assert await client.reviews_of_learner(3) == []
    assert route.call_count == 3
    await client.aclose()


async def test_5xx_beyond_the_policy_is_unavailable(onefile: respx.MockRouter) -> None:
    onefile.post("Review/Search/1/100").respond(502)
    client = make_client()
    with pytest.raises(OneFileUnavailable):
        await client.reviews_of_learner(3)
    await client.aclose()


async def test_a_timed_out_create_is_not_resent(onefile: respx.MockRouter) -> None:
    route = onefile.post("Placement").mock(side_effect=httpx.ReadTimeout("slow"))
    client = make_client()
    with pytest.raises(OneFileAmbiguous):
        await client.create_placement(1, "Acme", "ORG1")
    assert route.call_count == 1
    await client.aclose()


async def test_a_create_that_never_connected_is_resent(onefile: respx.MockRouter) -> None:
    route = onefile.post("Placement").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=20001)]
    )
    client = make_client()
    assert await client.create_placement(1, "Acme", "ORG1") == 20001
    assert route.call_count == 2
    await client.aclose()


async def test_a_400_is_permanent_and_carries_onefile_message(onefile: respx.MockRouter) -> None:
    onefile.post("User").respond(
        400, json={"message": "Email 'jo@example.test' is not valid for user 1234567890"}
    )
    client = make_client()
    with pytest.raises(OneFileBadRequest) as err:
        await client.create_user({"Role": 5})
    text = str(err.value)
    assert "Email" in text
    assert "jo@example.test" not in text  # values are redacted, field names kept
    assert "1234567890" not in text
    await client.aclose()


async def test_404_is_not_found(onefile: respx.MockRouter) -> None:
    onefile.post("LearningAim/77").respond(404)
    client = make_client()
    with pytest.raises(OneFileNotFound):
        await client.update_learning_aim(77, {"RegistrationNumber": "R1"})
    await client.aclose()


async def test_paged_search_reads_until_a_short_page(onefile: respx.MockRouter) -> None:
    page1 = [{"ID": i, "LearnerID": 9} for i in range(1000)]
    page2 = [{"ID": 5000, "LearnerID": 9}]
    onefile.post("Review/Search/1/1000").respond(200, json=page1)
    onefile.post("Review/Search/2/1000").respond(200, json=page2)
    client = make_client()
    pages = [p async for p in client.iter_centre_reviews(1)]
    assert [len(p) for p in pages] == [1000, 1]
    await client.aclose()


async def test_empty_search_may_be_204(onefile: respx.MockRouter) -> None:
    onefile.post("User/Search/1/100").respond(204)
    client = make_client()
    assert await client.search_users({"MISID": "X"}) == []
    await client.aclose()


async def test_new_ids_are_read_from_a_bare_body(onefile: respx.MockRouter) -> None:
    onefile.post("Visit").respond(200, text="40001")
    onefile.post("Review").respond(200, json={"ID": 50001})
    client = make_client()
    assert await client.create_visit({}) == 40001
    assert await client.create_review({}) == 50001
    await client.aclose()


async def test_read_ahead_asks_for_the_expected_pages_together(onefile: respx.MockRouter) -> None:
    full = [{"ID": i, "LearnerID": 9} for i in range(1000)]
    routes = [
        onefile.post("Review/Search/1/1000").respond(200, json=full),
        onefile.post("Review/Search/2/1000").respond(200, json=full),
        onefile.post("Review/Search/3/1000").respond(200, json=full[:10]),
        onefile.post("Review/Search/4/1000").respond(204),
    ]
    client = make_client()
    gen = client.iter_centre_reviews(1, expected=2500)  # three pages expected
    first = await gen.__anext__()
    assert len(first) == 1000
    assert [r.call_count for r in routes[:3]] == [1, 1, 1]  # requested side by side
    rest = [len(p) async for p in gen]
    assert rest == [1000, 10]
    assert routes[3].call_count == 0  # no call past the short page
    await client.aclose()


async def test_read_ahead_goes_on_past_an_underestimate(onefile: respx.MockRouter) -> None:
    full = [{"ID": i, "LearnerID": 9} for i in range(1000)]
    onefile.post("Review/Search/1/1000").respond(200, json=full)
    onefile.post("Review/Search/2/1000").respond(200, json=full)
    onefile.post("Review/Search/3/1000").respond(204)
    client = make_client()
    pages = [len(p) async for p in client.iter_centre_reviews(1, expected=0)]
    assert pages == [1000, 1000, 0]
    await client.aclose()
