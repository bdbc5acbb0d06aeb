"""The auth_password settings section (environment variables, `.env`)."""

from __future__ import annotations

from pydantic import Field

from commerce_kernel import SectionSettings


class PasswordSettings(SectionSettings):
    """Hashing cost, sign-in and sign-up throttles. The argon2 defaults are argon2-cffi's (RFC 9106
    low-memory profile); lower them only in tests."""

    env_prefix = ""  # the fields carry their own prefix (variable names as documented)

    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_cost: int = Field(default=65536, ge=8, description="KiB")
    password_hash_parallelism: int = Field(default=4, ge=1)
    login_failures_per_account: int = Field(default=10, ge=1)
    login_failures_per_address: int = Field(default=100, ge=1)
    login_failure_window: int = Field(default=900, ge=1, description="seconds")
    # Generous enough for many people behind one NAT (an office, a campus), low enough that
    # one address cannot make the server run argon2 at will.
    signups_per_address_per_hour: int = Field(default=100, ge=1)
    totp_issuer: str = "commerce-kernel"
