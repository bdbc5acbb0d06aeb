"""auth_otp's public API for other plugins: send someone a sign-in code; the table of codes."""

from __future__ import annotations

from commerce_auth_otp.models import OTPChallenge
from commerce_auth_otp.service import purge_expired, request_code

__all__ = ["OTPChallenge", "purge_expired", "request_code"]
