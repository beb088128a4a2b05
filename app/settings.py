"""The service's configuration: parsed once at start-up, then passed down explicitly.

Variable names are fixed by docs/service.md. Secrets are `SecretStr`, so neither a
validation error nor a repr ever prints them.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.db.target import InvalidDatabaseUrl, parse_target
from app.onefile.client import Centre
from app.onefile.wire import AimFieldNames

_FIELD_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"  # a JSON field name as OneFile spells them
_ASSUMED = AimFieldNames()  # docs/onefile-api.md's assumed names (app/onefile/wire.py)


class OneFileSettings(BaseSettings):
    """What talking to OneFile needs (all that `onefile-sync probe` reads)."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    onefile_base_url: AnyHttpUrl
    onefile_api_token: SecretStr
    onefile_organisation_id: int = Field(gt=0)
    onefile_classroom_id: int = Field(gt=0)
    onefile_visit_type_id: int = Field(default=2, gt=0)
    onefile_rate_limit: int = Field(default=300, gt=0)
    onefile_rate_period: float = Field(default=60.0, gt=0)
    # Sender-side safety margin on the period: calls are spaced (period × (1 + margin)) / limit
    # apart, so network jitter of up to that much cannot push two windows' worth together.
    onefile_rate_margin: float = Field(default=0.01, ge=0, le=0.5)
    onefile_timeout: float = Field(default=30.0, gt=0)
    # The page size asked of paged searches. 1000 (the most the contract lets us ask): a
    # server that honours it reads a centre's reviews or learners in a call per thousand; one
    # that silently caps pages costs a single extra call per entity to find the cap, which is
    # then used (app/onefile/paging.py). `onefile-sync probe` prints the size it found honoured.
    onefile_page_size: int = Field(default=1000, ge=10, le=1000)
    # OneFile's names of the learning-aim fields no public source confirms (docs/onefile-api.md
    # "(assumed)"); `onefile-sync probe` says whether real records have them.
    onefile_field_total_elements: str = Field(default=_ASSUMED.total_elements, pattern=_FIELD_NAME)
    onefile_field_elements_done: str = Field(default=_ASSUMED.elements_done, pattern=_FIELD_NAME)
    onefile_field_claimed_date: str = Field(default=_ASSUMED.claimed_date, pattern=_FIELD_NAME)
    onefile_field_certificate_received_date: str = Field(
        default=_ASSUMED.certificate_received_date, pattern=_FIELD_NAME
    )

    @property
    def aim_field_names(self) -> AimFieldNames:
        return AimFieldNames(
            total_elements=self.onefile_field_total_elements,
            elements_done=self.onefile_field_elements_done,
            claimed_date=self.onefile_field_claimed_date,
            certificate_received_date=self.onefile_field_certificate_received_date,
        )

    @property
    def onefile_centre(self) -> Centre:
        return Centre(
            organisation_id=self.onefile_organisation_id,
            classroom_id=self.onefile_classroom_id,
            visit_type_id=self.onefile_visit_type_id,
        )


class Settings(OneFileSettings):
    """Everything the service reads from its environment."""

    # A plain string: libpq-style URLs with a socket folder (`?host=/path`) have no host part.
    database_url: SecretStr
    # Only for local development: the service refuses to start without a token otherwise.
    # Declared before the token, whose validator reads it.
    allow_unauthenticated: bool = False
    service_api_token: SecretStr | None = None

    # At least 2: never more than one sync runs (409), so one slot at least is always free for
    # a refresh or an enrolment, which must never wait behind a sync (issue 12; the test is
    # tests/exchange/test_interactive_beside_sync.py: with one slot it fails).
    worker_slots: int = Field(default=4, ge=2, le=64)
    learner_concurrency: int = Field(default=16, ge=1, le=256)
    job_lease_seconds: float = Field(default=30.0, ge=2)
    # Leadership lease: a frozen or lost leader is replaced within about this long, and a
    # SIGKILLed one within about 2 s (app/jobs/leader.py).
    leader_lease_seconds: float = Field(default=5.0, ge=1, le=60)
    job_max_attempts: int = Field(default=5, ge=1)
    # A run without `full` in its body is full when the last full one started longer ago than
    # this (docs/service.md). 1 keeps the seed's promise of every learner once a day; an
    # operator who confirmed with `onefile-sync probe` that LastModified reveals every change
    # may raise it. At most a year: beyond that a typo, not a schedule.
    full_sync_every_days: int = Field(default=1, ge=1, le=366)
    # B11: how long the history of written values is kept (it holds personal data).
    history_retention_days: int = Field(default=730, ge=1, le=36500)
    db_pool_size: int = Field(default=10, ge=2, le=100)
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, v: SecretStr) -> SecretStr:
        try:
            parse_target(v.get_secret_value())
        except InvalidDatabaseUrl as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, v: str) -> str:
        if v.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return v.upper()

    # A field validator, not a model validator: those run only once every field is valid, so
    # a missing token would be reported only after every other variable had been fixed.
    @field_validator("service_api_token")
    @classmethod
    def _token_required(cls, v: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if v is None and not info.data.get("allow_unauthenticated", False):
            raise ValueError("required (set ALLOW_UNAUTHENTICATED=true only for local development)")
        if v is not None and len(v) < 16:
            raise ValueError("must be at least 16 characters")
        return v

    @property
    def dsn(self) -> str:
        return self.database_url.get_secret_value()


class ConfigurationError(RuntimeError):
    """Settings are missing or invalid; the message names every one of them, never a value."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.settings = tuple(dict.fromkeys(name for name, _ in problems))
        super().__init__(
            "invalid configuration: " + "; ".join(f"{name}: {why}" for name, why in problems)
        )


def _why(err: Any) -> str:
    """pydantic's sentence for one error, in an operator's words."""
    if err["type"] == "missing":
        return "required, not set"
    if err["type"] == "value_error":
        return str(err["ctx"]["error"])  # our own validators' words, without "Value error, "
    return str(err["msg"])


def load_settings() -> Settings:
    """Read the environment once; every missing or invalid variable is named in one error."""
    return _load(Settings)


def load_onefile_settings() -> OneFileSettings:
    """Only the ONEFILE_* variables (the probe needs no database and no service token)."""
    return _load(OneFileSettings)


_S = TypeVar("_S", bound=BaseSettings)


def _load(cls: type[_S]) -> _S:
    try:
        return cls()  # values come from the environment
    except ValidationError as exc:
        problems = [
            (".".join(str(p) for p in err["loc"]).upper() or "configuration", _why(err))
            for err in exc.errors(include_input=False, include_url=False)
        ]
        raise ConfigurationError(problems) from None
