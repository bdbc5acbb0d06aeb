"""The auth_otp settings section (environment variables, `.env`)."""

from __future__ import annotations

from pydantic import Field

from commerce_kernel import SectionSettings


class OTPSettings(SectionSettings):
    """Code lifetime, attempts and request limits of email sign-in codes."""

    env_prefix = ""  # the fields carry their own prefix (variable names as documented)

    otp_code_ttl: int = Field(default=300, ge=30, description="seconds a code is valid")
    otp_max_attempts: int = Field(default=5, ge=1, description="wrong codes that kill a code")
    otp_request_interval: int = Field(
        default=30, ge=0, description="seconds between two requests for one email (0: off)"
    )
    otp_requests_per_hour: int = Field(default=5, ge=1, description="requests per email per hour")
    otp_requests_per_address_per_hour: int = Field(
        default=30, ge=1, description="requests per client address per hour"
    )
    otp_login_failures_per_address: int = Field(
        default=50,
        ge=1,
        description="sign-in attempts per client address per 15 minutes (a success counts)",
    )
    otp_mail_subject: str = "Your sign-in code"
