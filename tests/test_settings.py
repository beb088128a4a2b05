"""Configuration: names from docs/service.md; bad or missing values named, never shown."""

from __future__ import annotations

import pytest

from app.settings import ConfigurationError, load_settings

BASE = {
    "DATABASE_URL": "postgresql://postgres:s3cretpw@127.0.0.1:5432/postgres",
    "ONEFILE_BASE_URL": "https://wsapibeta.onefile.co.uk/api/v2.1/",
    "ONEFILE_API_TOKEN": "tok-very-secret-123",
    "ONEFILE_ORGANISATION_ID": "12",
    "ONEFILE_CLASSROOM_ID": "3",
    "SERVICE_API_TOKEN": "service-token-abcdefgh",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in (
        *BASE,
        "ALLOW_UNAUTHENTICATED",
        "ONEFILE_RATE_LIMIT",
        "ONEFILE_VISIT_TYPE_ID",
        "FULL_SYNC_EVERY_DAYS",
        "WORKER_SLOTS",
    ):
        monkeypatch.delenv(key, raising=False)
    for key, value in BASE.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def test_defaults_and_names(env: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert s.onefile_rate_limit == 300
    assert s.onefile_rate_period == 60
    assert s.onefile_visit_type_id == 2
    assert s.onefile_organisation_id == 12
    assert s.full_sync_every_days == 1  # the seed: every learner read once a day
    assert s.worker_slots == 4
    assert "tok-very-secret" not in repr(s)
    assert "s3cretpw" not in repr(s)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FULL_SYNC_EVERY_DAYS", "0"),
        ("FULL_SYNC_EVERY_DAYS", "367"),
        ("FULL_SYNC_EVERY_DAYS", "1.5"),
        # One slot would let the sync take it and a refresh wait behind it.
        ("WORKER_SLOTS", "1"),
    ],
)
def test_schedule_and_slots_out_of_range_are_named(
    env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    env.setenv(name, value)
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    assert err.value.settings == (name,)


def test_refuses_to_start_without_a_service_token(env: pytest.MonkeyPatch) -> None:
    env.delenv("SERVICE_API_TOKEN")
    with pytest.raises(ConfigurationError, match="SERVICE_API_TOKEN"):
        load_settings()
    env.setenv("ALLOW_UNAUTHENTICATED", "true")
    assert load_settings().service_api_token is None


def test_invalid_values_are_named_without_their_value(env: pytest.MonkeyPatch) -> None:
    env.setenv("ONEFILE_RATE_LIMIT", "lots")
    env.setenv("DATABASE_URL", "mysql://root:hunter2@db/x")
    env.delenv("ONEFILE_API_TOKEN")
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    text = str(err.value)
    for name in ("ONEFILE_RATE_LIMIT", "DATABASE_URL", "ONEFILE_API_TOKEN"):
        assert name in text
    assert "hunter2" not in text
    assert "lots" not in text


def test_every_problem_is_named_at_once_the_token_included(env: pytest.MonkeyPatch) -> None:
    """A model validator would only report the token once every other variable was valid."""
    env.delenv("SERVICE_API_TOKEN")
    env.delenv("ONEFILE_BASE_URL")
    env.setenv("ONEFILE_RATE_LIMIT", "lots")
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    assert err.value.settings == ("ONEFILE_BASE_URL", "ONEFILE_RATE_LIMIT", "SERVICE_API_TOKEN")
    assert "SERVICE_API_TOKEN: required" in str(err.value)
    assert "Value error" not in str(err.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://admin:hunter2@[bad",
        "postgresql://admin:hunter2@db:port/x",
        "postgresql://admin:hunter2@db:5432,db2:nope/x",
    ],
)
def test_a_malformed_database_url_is_named_without_its_value(
    env: pytest.MonkeyPatch, url: str
) -> None:
    env.setenv("DATABASE_URL", url)
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    assert str(err.value).startswith("invalid configuration: DATABASE_URL: is not a valid URL")
    assert "hunter2" not in str(err.value)


def test_an_unknown_log_level_is_a_configuration_error(env: pytest.MonkeyPatch) -> None:
    env.setenv("LOG_LEVEL", "chatty")
    with pytest.raises(ConfigurationError, match="LOG_LEVEL"):
        load_settings()
    env.setenv("LOG_LEVEL", "debug")
    assert load_settings().log_level == "DEBUG"
