"""Request and response bodies of the auth_password endpoints."""

from __future__ import annotations

from pydantic import BaseModel, EmailStr, Field

from commerce_kernel.bodies import Body

# argon2 hashes any length, but an unbounded password is a cheap way to burn CPU.
MAX_PASSWORD_LENGTH = 1024


class SignupIn(Body):
    email: EmailStr = Field(max_length=254)
    password: str = Field(min_length=8, max_length=MAX_PASSWORD_LENGTH)
    name: str = Field(default="", max_length=200)


class LoginIn(Body):
    # Not EmailStr: a malformed address is just an unknown account (401), not a 422 that
    # would answer differently from a wrong password.
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class AdminLoginIn(LoginIn):
    otp: str | None = Field(
        default=None,
        max_length=10,
        description="The current code of the enrolled authenticator app (required once enrolled).",
    )


class TOTPEnrollIn(Body):
    """What proves it is the admin, not only someone holding the admin's access token."""

    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    otp: str | None = Field(
        default=None,
        max_length=10,
        description="A current code of the enrolled authenticator (required once enrolled).",
    )


class TOTPConfirmIn(Body):
    otp: str = Field(min_length=1, max_length=10, description="A current code of the new secret.")


class TOTPConfirmed(BaseModel):
    detail: str


class TOTPEnrollment(BaseModel):
    secret: str = Field(description="Base32 secret for the authenticator app.")
    otpauth_uri: str = Field(description="`otpauth://` URI, usually shown as a QR code.")
