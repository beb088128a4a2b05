"""The OneFile client against respx routes that record every request, answering each way the
public evidence allows (docs/onefile-evidence.md)."""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import httpx
import pytest
import respx

from app.onefile.client import Centre, OneFileClient
from app.onefile.drafts import AssessorDraft, ReviewDraft
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
from app.onefile.transport import counting_calls, read_session

BASE = "https://onefile.test/api/v2.1/"
SESSION = "q1Xb/9+Tz0kLmN3pQrSt4UvWxYz/Ab+Cd0Ef1Gh2Ij3Kl4Mn5Op6Qr7St8Uv9Wx=="
FAST = RetryPolicy(
    attempts=3,
    wait_initial=0.001,
    wait_max=0.01,
    rate_limited_attempts=4,
    rate_limited_wait_initial=0.001,
    rate_limited_wait_max=0.01,
)
JSON_TYPE = "application/json; charset=utf-8"


def make_client(
    policy: RetryPolicy = FAST, quota: Quota | None = None, page_size: int = 1000
) -> OneFileClient:
    return OneFileClient(
        base_url=BASE,
        api_token="customer-token",
        quota=quota or Quota(10_000, 1.0, margin=0.0),
        centre=Centre(organisation_id=1, classroom_id=1),
        page_size=page_size,
        policy=policy,
        timeout=2.0,
    )


def body_of(call: Any) -> Any:
    return json.loads(call.request.content) if call.request.content else None


@pytest.fixture
def onefile() -> respx.MockRouter:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.post("Authentication").respond(200, text=f'"{SESSION}"')
        yield router


# ---- the session ----------------------------------------------------------------------------


async def test_authenticates_once_and_sends_the_session(onefile: respx.MockRouter) -> None:
    route = onefile.post("LearningAim/Search/1/1000").respond(200, json=[])
    client = make_client()
    await client.learning_aims_of(5)
    await client.learning_aims_of(6)
    auth = onefile.routes[0]
    assert auth.call_count == 1
    assert auth.calls[0].request.headers["X-CustomerToken"] == "customer-token"
    assert route.calls[0].request.headers["X-TokenID"] == SESSION
    assert "X-CustomerToken" not in route.calls[0].request.headers
    await client.aclose()


async def test_every_call_names_the_process(onefile: respx.MockRouter) -> None:
    """Replicas share one token: the User-Agent tells their calls apart (pid, no host name)."""
    route = onefile.post("LearningAim/Search/1/1000").respond(200, json=[])
    client = make_client()
    await client.learning_aims_of(5)
    want = f"onefile-sync (pid {os.getpid()})"
    assert onefile.routes[0].calls[0].request.headers["User-Agent"] == want
    assert route.calls[0].request.headers["User-Agent"] == want
    await client.aclose()


@pytest.mark.parametrize(
    "body",
    [
        SESSION,  # bare text under a JSON Content-Type: what public clients show
        f"{SESSION}\r\n",
        f'"{SESSION}"',
        f'  "{SESSION}"  ',
        '"' + SESSION.replace("/", "\\/") + '"',  # a JSON string with escaped slashes
    ],
)
async def test_the_session_is_read_as_text_whatever_the_content_type(
    onefile: respx.MockRouter, body: str
) -> None:
    onefile.routes[0].respond(200, text=body, headers={"Content-Type": JSON_TYPE})
    route = onefile.post("Review/Search/1/1000").respond(200, json=[])
    client = make_client()
    assert await client.reviews_of_learner(1) == []
    assert onefile.routes[0].call_count == 1  # read at once, not retried as garbage
    assert route.calls[0].request.headers["X-TokenID"] == SESSION
    await client.aclose()


def test_what_is_not_a_session() -> None:
    for garbage in ("", "   ", "<html>Service Unavailable</html>", '[{"ID":10001,"First', '""'):
        assert read_session(garbage) is None
    assert read_session(SESSION) == SESSION


async def test_a_garbage_authentication_answer_is_retried(onefile: respx.MockRouter) -> None:
    onefile.routes[0].side_effect = [
        httpx.Response(
            200, text="<html>Service Unavailable</html>", headers={"Content-Type": JSON_TYPE}
        ),
        httpx.Response(200, text=SESSION),
    ]
    route = onefile.post("Review/Search/1/1000").respond(200, json=[])
    client = make_client()
    await client.reviews_of_learner(1)
    assert onefile.routes[0].call_count == 2
    assert route.calls[0].request.headers["X-TokenID"] == SESSION
    await client.aclose()


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_session_is_renewed_once(onefile: respx.MockRouter, status: int) -> None:
    onefile.routes[0].side_effect = [
        httpx.Response(200, text="old/session+1="),
        httpx.Response(200, text=' "new/session+2=" \n'),
    ]
    route = onefile.post("Review/Search/1/1000").mock(
        side_effect=[
            httpx.Response(200, json=[]),  # the old session is accepted once…
            httpx.Response(status),  # …then it has expired
            httpx.Response(200, json=[]),
        ]
    )
    client = make_client()
    assert await client.reviews_of_learner(1) == []
    assert await client.reviews_of_learner(1) == []
    assert [c.request.headers["X-TokenID"] for c in route.calls] == [
        "old/session+1=",
        "old/session+1=",
        "new/session+2=",
    ]
    await client.aclose()


@pytest.mark.parametrize("status", [401, 403])
async def test_a_fresh_session_refused_too_means_the_token_is(
    onefile: respx.MockRouter, status: int
) -> None:
    route = onefile.post("Review/Search/1/1000").respond(status)
    client = make_client()
    with pytest.raises(OneFileAuthError) as err:
        await client.reviews_of_learner(1)
    assert "API token was refused" in str(err.value)
    assert onefile.routes[0].call_count == 2  # renewed once, not more
    assert route.call_count == 2
    assert "customer-token" not in str(err.value) and SESSION not in str(err.value)
    await client.aclose()


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_token_is_permanent(onefile: respx.MockRouter, status: int) -> None:
    onefile.routes[0].respond(status)
    client = make_client()
    with pytest.raises(OneFileAuthError) as err:
        await client.learning_aims_of(1)
    assert "the API token was refused" in str(err.value)
    assert "customer-token" not in str(err.value)
    await client.aclose()


# ---- retries --------------------------------------------------------------------------------


class RecordingQuota(Quota):
    """The real quota, which also notes every pause asked of it (a fake, not a patch)."""

    def __init__(self, events: list[tuple[str, float]]) -> None:
        super().__init__(10_000, 1.0, margin=0.0)
        self.events = events

    def pause(self, seconds: float) -> None:
        self.events.append(("pause", seconds))
        super().pause(seconds)


async def test_429_is_retried_and_honours_retry_after(onefile: respx.MockRouter) -> None:
    events: list[tuple[str, float]] = []
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "0.2"}),
            httpx.Response(200, json=[{"ID": 1, "UserID": 5, "TotalElements": 4}]),
        ]
    )

    def answer(request: httpx.Request) -> httpx.Response:
        events.append(("call", 0.0))
        return next(answers)

    route = onefile.post("LearningAim/Search/1/1000").mock(side_effect=answer)
    client = make_client(quota=RecordingQuota(events))
    aims = await client.learning_aims_of(5)
    assert aims[0].total_elements == 4
    assert route.call_count == 2
    # OneFile's 0.2 s, not the policy's own backoff (at most 0.01 s in FAST), held the whole
    # quota between the 429 and the retry.
    assert events == [("call", 0.0), ("pause", pytest.approx(0.2)), ("call", 0.0)]
    await client.aclose()


async def test_429_forever_ends_as_rate_limited(onefile: respx.MockRouter) -> None:
    onefile.post("LearningAim/Search/1/1000").respond(429)
    client = make_client()
    with pytest.raises(OneFileRateLimited):
        await client.learning_aims_of(5)
    await client.aclose()


async def test_5xx_and_garbage_are_retried_for_reads(onefile: respx.MockRouter) -> None:
    route = onefile.post("Review/Search/1/1000").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(200, text="<html>oops</html>"),
            httpx.Response(200, json=[]),
        ]
    )
    client = make_client()
    with counting_calls() as tally:
        assert await client.reviews_of_learner(3) == []
    assert route.call_count == 3
    assert tally.calls == 3  # retries are calls: the quota counts them
    await client.aclose()


async def test_5xx_beyond_the_policy_is_unavailable(onefile: respx.MockRouter) -> None:
    onefile.post("Review/Search/1/1000").respond(502)
    client = make_client()
    with pytest.raises(OneFileUnavailable):
        await client.reviews_of_learner(3)
    await client.aclose()


async def test_a_timed_out_create_is_not_resent(onefile: respx.MockRouter) -> None:
    route = onefile.post("Placement").mock(side_effect=httpx.ReadTimeout("slow"))
    client = make_client()
    with pytest.raises(OneFileAmbiguous):
        await client.create_placement("Acme", "ORG1")
    assert route.call_count == 1
    await client.aclose()


async def test_a_create_that_never_connected_is_resent(onefile: respx.MockRouter) -> None:
    route = onefile.post("Placement").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=20001)]
    )
    client = make_client()
    assert await client.create_placement("Acme", "ORG1") == 20001
    assert route.call_count == 2
    await client.aclose()


async def test_a_400_is_permanent_and_carries_onefile_message(onefile: respx.MockRouter) -> None:
    onefile.post("User").respond(
        400, json={"message": "Email 'jo@example.test' is not valid for user 1234567890"}
    )
    client = make_client()
    with pytest.raises(OneFileBadRequest) as err:
        await client.create_assessor(AssessorDraft("A", "B", "jo@example.test", "OFF1"))
    text = str(err.value)
    assert "Email" in text
    assert "jo@example.test" not in text  # values are redacted, field names kept
    assert "1234567890" not in text
    await client.aclose()


async def test_a_404_on_a_get_is_not_found(onefile: respx.MockRouter) -> None:
    onefile.get("LearningAim/77").respond(404)
    client = make_client()
    with pytest.raises(OneFileNotFound):
        await client.learning_aim(77)
    await client.aclose()


# ---- creates: what is sent, both answer shapes ------------------------------------------------


async def test_an_assessor_is_sent_with_its_email(onefile: respx.MockRouter) -> None:
    route = onefile.post("User").respond(200, json={"ID": 10001, "Username": "x"})
    client = make_client()
    assert (
        await client.create_assessor(AssessorDraft("Ann", "Lee", " ann@x.test ", "OFF3")) == 10001
    )
    assert body_of(route.calls[0]) == {
        "OrganisationID": 1,
        "FirstName": "Ann",
        "LastName": "Lee",
        "Role": 5,
        "Email": "ann@x.test",
        "MISID": "OFF3",
    }
    await client.aclose()


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="20001"),
        httpx.Response(200, json=20001),
        httpx.Response(
            200,
            json={
                "ID": 20001,
                "OrganisationID": 1,
                "Name": "Acme",
                "MISID": "ORG1",
                "Active": True,
            },
        ),
    ],
)
async def test_a_placement_is_created_active_and_either_answer_is_read(
    onefile: respx.MockRouter, answer: httpx.Response
) -> None:
    route = onefile.post("Placement").mock(return_value=answer)
    client = make_client()
    assert await client.create_placement("Acme", "ORG1") == 20001
    assert body_of(route.calls[0]) == {
        "OrganisationID": 1,
        "Name": "Acme",
        "MISID": "ORG1",
        "Active": True,
    }
    await client.aclose()


async def test_new_ids_are_read_from_a_bare_body_or_an_object(onefile: respx.MockRouter) -> None:
    visit = onefile.post("Visit").respond(200, text="40001")
    onefile.post("Review").respond(200, json={"ID": 50001})
    client = make_client()
    start = dt.datetime(2026, 5, 5, 13, tzinfo=dt.UTC)
    draft = ReviewDraft(learner_id=7, assessor_id=8, start=start, end=start + dt.timedelta(hours=1))
    assert await client.create_visit(draft) == 40001
    assert await client.create_review(draft, 40001) == 50001
    assert body_of(visit.calls[0])["DateFrom"] == "2026-05-05T13:00:00.000Z"
    await client.aclose()


# ---- look-ups ---------------------------------------------------------------------------------


async def test_an_officer_is_looked_up_among_role_5_then_role_4(onefile: respx.MockRouter) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        role = json.loads(request.content)["Role"]
        rows = [{"ID": 10007, "FirstName": "T", "LastName": "A", "MISID": "OFF9"}]
        return httpx.Response(200, json=rows if role == 4 else [])

    route = onefile.post("User/Search/1/1000").mock(side_effect=answer)
    client = make_client()
    assert await client.find_officer("OFF9") == 10007
    assert [body_of(c)["Role"] for c in route.calls] == [5, 4]
    assert body_of(route.calls[0]) == {"OrganisationID": 1, "Role": 5, "MISID": "OFF9"}
    await client.aclose()


async def test_a_thin_placement_row_is_confirmed_with_a_get(onefile: respx.MockRouter) -> None:
    onefile.post("Placement/Search/1/1000").respond(
        200, json=[{"ID": 20002, "Name": "Acme"}, {"ID": 20003, "Name": "Acme"}]
    )
    onefile.get("Placement/20002").respond(
        200, json={"ID": 20002, "Name": "Acme", "MISID": "ORG1", "Active": False}
    )
    onefile.get("Placement/20003").respond(
        200, json={"ID": 20003, "Name": "Acme", "MISID": "ORG1", "Active": True}
    )
    client = make_client()
    found = await client.find_placement("ORG1")
    assert found is not None and found.id == 20003  # the active one is linked first
    assert client.rows_thin("Placement") is True
    await client.aclose()


# ---- thin rows ------------------------------------------------------------------------------

FULL_AIM = {
    "ID": 30001,
    "UserID": 5,
    "StandardID": 501,
    "Status": 0,
    "StartDate": "2026-05-04T23:00:00.000Z",
    "PlannedEnd": "2027-01-05T00:00:00.000Z",
    "RegistrationNumber": "R1",
    "RegistrationDate": None,
    "AchievedDate": None,
    "ClaimedDate": None,
    "CertificateAppliedDate": None,
    "CertificateReceivedDate": None,
    "TotalElements": 40,
    "ElementsDone": 4,
    "Progress": 10,
    "LeadAssessorID": 10001,
}
THIN_AIM = {k: FULL_AIM[k] for k in ("ID", "StandardID", "UserID", "Status")}


async def test_full_aim_rows_cost_one_search_and_no_get(onefile: respx.MockRouter) -> None:
    onefile.post("LearningAim/Search/1/1000").respond(200, json=[FULL_AIM])
    get = onefile.get("LearningAim/30001").respond(200, json=FULL_AIM)
    client = make_client()
    got = await client.linked_learning_aims(5, [30001])
    assert got.aims[30001].total_elements == 40 and got.gone == set()
    assert get.call_count == 0
    assert client.rows_thin("LearningAim") is False
    await client.aclose()


async def test_thin_aim_rows_are_completed_by_get_then_skipped(onefile: respx.MockRouter) -> None:
    search = onefile.post("LearningAim/Search/1/1000").respond(200, json=[THIN_AIM])
    onefile.get("LearningAim/30001").respond(200, json=FULL_AIM)
    onefile.get("LearningAim/30009").respond(404)
    client = make_client()
    with counting_calls() as tally:
        got = await client.linked_learning_aims(5, [30001])
    assert got.aims[30001].detailed and got.aims[30001].elements_done == 4
    assert (tally.calls, tally.gets) == (2, 1)  # the first learner: a search, then a GET
    with counting_calls() as tally:
        got = await client.linked_learning_aims(5, [30001, 30009])
    assert (tally.calls, tally.gets) == (2, 2)  # rows known thin: GETs alone
    assert got.gone == {30009} and set(got.aims) == {30001}
    assert search.call_count == 1
    thin = (await client.learning_aims_of(5))[0]
    assert thin.has("standard_id") and not thin.has("total_elements")
    assert thin.total_elements is None and not thin.detailed  # absent, never "null"
    await client.aclose()


async def test_an_aim_update_sends_the_whole_record_as_served(onefile: respx.MockRouter) -> None:
    onefile.get("LearningAim/30001").respond(200, json={**FULL_AIM, "SomethingElse": "kept"})
    update = onefile.post("LearningAim/30001").respond(204)
    client = make_client()
    aim = await client.learning_aim(30001)
    await client.update_learning_aim(
        aim, {"registration_date": dt.date(2026, 5, 5), "registration_number": "R2"}
    )
    sent = body_of(update.calls[0])
    assert sent == {
        **FULL_AIM,
        "SomethingElse": "kept",
        "RegistrationDate": "2026-05-05T00:00:00.000Z",  # written as midnight UTC
        "RegistrationNumber": "R2",
    }
    assert sent["StartDate"] == FULL_AIM["StartDate"]  # sent back as served: never moves
    await client.aclose()


async def test_a_thin_aim_row_is_never_written_back(onefile: respx.MockRouter) -> None:
    """Written back, a thin row would clear every field it lacks on a replacing OneFile."""
    onefile.post("LearningAim/Search/1/1000").respond(200, json=[THIN_AIM])
    update = onefile.post("LearningAim/30001").respond(204)
    client = make_client()
    (aim,) = await client.learning_aims_of(5)
    with pytest.raises(ValueError, match="whole record"):
        await client.update_learning_aim(aim, {"registration_number": "R2"})
    assert update.call_count == 0
    await client.aclose()


async def test_assumed_aim_names_come_from_the_settings(onefile: respx.MockRouter) -> None:
    from app.onefile.wire import AimFieldNames

    row = {**THIN_AIM, "ElementsTotal": 12, "ElementsCompleted": 3, "LeadAssessorID": None}
    onefile.post("LearningAim/Search/1/1000").respond(200, json=[row])
    client = OneFileClient(
        base_url=BASE,
        api_token="t",
        quota=Quota(10_000, 1.0),
        centre=Centre(1, 1),
        aim_fields=AimFieldNames(total_elements="ElementsTotal", elements_done="ElementsCompleted"),
    )
    (aim,) = await client.learning_aims_of(5)
    assert (aim.total_elements, aim.elements_done) == (12, 3)
    await client.aclose()


async def test_thin_review_rows_are_read_with_a_get_each(onefile: respx.MockRouter) -> None:
    search = onefile.post("Review/Search/1/1000").respond(
        200,
        json=[
            {"ID": 50001, "ScheduledFor": "2026-05-05T09:00:00.000Z"},
            {"ID": 50002, "ScheduledFor": "2026-06-05T09:00:00.000Z"},
        ],
    )
    onefile.get("Review/50001").respond(
        200,
        json={
            "ID": 50001,
            "LearnerID": 10002,
            "ScheduledFor": "2026-05-05T09:00:00.000Z",
            "AssessorID": 10001,
            "StartedOn": "2026-05-05T09:10:00.000Z",
            "LearnerSignedOn": None,
        },
    )
    onefile.get("Review/50002").respond(404)  # deleted between the search and the GET
    client = make_client()
    rows = await client.reviews_of_learner(10002, detailed=False)
    assert [r.id for r in rows] == [50001, 50002] and not rows[0].has("started_on")
    full = await client.reviews_of_learner(10002)
    assert [r.id for r in full] == [50001]
    assert full[0].started_on == dt.datetime(2026, 5, 5, 9, 10, tzinfo=dt.UTC)
    assert body_of(search.calls[0]) == {"OrganisationID": 1, "LearnerID": 10002}
    await client.aclose()


# ---- dates (issue 15) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("served", "day"),
    [
        ("2026-05-05T00:00:00.000Z", dt.date(2026, 5, 5)),  # midnight UTC
        ("2026-05-04T23:00:00.000Z", dt.date(2026, 5, 5)),  # UK midnight in summer
        ("2026-01-05T00:00:00.000Z", dt.date(2026, 1, 5)),  # UK midnight in winter
        ("2026-03-28T00:00:00.000Z", dt.date(2026, 3, 28)),  # the day before spring forward
        ("2026-03-29T00:00:00.000Z", dt.date(2026, 3, 29)),  # spring forward: 00:00 GMT
        ("2026-03-29T23:00:00.000Z", dt.date(2026, 3, 30)),  # the day after, UK midnight
        ("2026-10-24T23:00:00.000Z", dt.date(2026, 10, 25)),  # fall back: 00:00 BST
        ("2026-10-25T00:00:00.000Z", dt.date(2026, 10, 25)),
        ("2026-10-26T00:00:00.000Z", dt.date(2026, 10, 26)),  # the day after, GMT again
    ],
)
async def test_date_only_values_are_uk_calendar_dates(
    onefile: respx.MockRouter, served: str, day: dt.date
) -> None:
    onefile.get("LearningAim/30001").respond(200, json={**FULL_AIM, "RegistrationDate": served})
    client = make_client()
    assert (await client.learning_aim(30001)).registration_date == day
    await client.aclose()
