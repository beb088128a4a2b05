"""The service's configuration: parsed once at start-up, then passed down explicitly.

Variable names are fixed by docs/service.md. Secrets are `SecretStr`, so neither a
validation error nor a repr ever prints them.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    service_api_token: SecretStr | None = None
    # Only for local development: the service refuses to start without a token otherwise.
    allow_unauthenticated: bool = False

    worker_slots: int = Field(default=4, ge=1, le=64)
    learner_concurrency: int = Field(default=16, ge=1, le=256)
    job_lease_seconds: float = Field(default=30.0, ge=2)
    job_max_attempts: int = Field(default=5, ge=1)
    full_sync_every_days: int = Field(default=7, ge=1)
    db_pool_size: int = Field(default=10, ge=2, le=100)
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return v

    @model_validator(mode="after")
    def _token_required(self) -> Settings:
        if self.service_api_token is None and not self.allow_unauthenticated:
            raise ValueError(
                "SERVICE_API_TOKEN is required (set ALLOW_UNAUTHENTICATED=true only for local "
                "development)"
            )
        if self.service_api_token is not None and len(self.service_api_token) < 16:
            raise ValueError("SERVICE_API_TOKEN must be at least 16 characters")
        return self

    @property
    def dsn(self) -> str:
        return self.database_url.get_secret_value()


class ConfigurationError(RuntimeError):
    """A setting is missing or invalid; the message names the variables, never their values."""


def load_settings() -> Settings:
    """Read the environment once; turn pydantic's error into one line per bad variable."""
    return _load(Settings)


def load_onefile_settings() -> OneFileSettings:
    """Only the ONEFILE_* variables (the probe needs no database and no service token)."""
    return _load(OneFileSettings)


_S = TypeVar("_S", bound=BaseSettings)


def _load(cls: type[_S]) -> _S:
    try:
        return cls()  # values come from the environment
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_input=False, include_url=False):
            loc = ".".join(str(p) for p in err["loc"]).upper()
            problems.append(f"{loc}: {err['msg']}" if loc else err["msg"])
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None
