"""The `google` settings section (environment variables, `.env`)."""

from __future__ import annotations

from pydantic import Field, field_validator

from commerce_kernel.settings import CsvList, SectionSettings


class GoogleSettings(SectionSettings):
    """Where Google's endpoints are and who we are to Google. Without GOOGLE_CLIENT_ID the
    endpoints answer 503 (sign-in with Google is not configured)."""

    env_prefix = ""  # the fields carry their own prefix (variable names as documented)

    google_client_id: str | None = None
    google_client_secret: str | None = None
    google_jwks_url: str = "https://www.googleapis.com/oauth2/v3/certs"
    google_token_url: str = "https://oauth2.googleapis.com/token"
    google_authorization_endpoint: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_scopes: CsvList = Field(default_factory=lambda: ["openid", "email", "profile"])
    google_clock_leeway: int = Field(default=60, ge=0, description="seconds of clock skew")
    google_jwks_refetch_interval: float = Field(
        default=10.0,
        ge=0,
        description="least seconds between two JWKS fetches caused by unknown key ids",
    )
    google_http_timeout: float = Field(default=10.0, gt=0)

    @field_validator("google_scopes", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(" ", ",").split(",") if part.strip()]
        return value

    @field_validator("google_client_id", "google_client_secret", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value
