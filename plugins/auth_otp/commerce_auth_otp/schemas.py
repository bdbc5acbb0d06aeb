"""Request and response bodies of the auth_otp endpoints."""

from __future__ import annotations

from pydantic import BaseModel, EmailStr, Field

from commerce_kernel.bodies import Body


class CodeRequestIn(Body):
    email: EmailStr = Field(max_length=254)


class CodeRequested(BaseModel):
    """The same answer whether or not an account exists for the email."""

    detail: str
    expires_in: int = Field(description="Seconds the emailed code stays valid.")


class CodeLoginIn(Body):
    # Not EmailStr: any mismatch is the same 401 as a wrong code.
    email: str = Field(min_length=1, max_length=254)
    code: str = Field(pattern=r"^\s*\d{6}\s*$", description="The 6-digit code from the email.")
