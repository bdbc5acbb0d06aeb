"""auth_google's public API for other plugins: who a Google ID token says is signing in."""

from __future__ import annotations

from commerce_auth_google.service import GoogleUser, google_sign_in
from commerce_kernel import Kernel

__all__ = ["GoogleUser", "verify_id_token"]


async def verify_id_token(kernel: Kernel, id_token: str, nonce: str | None = None) -> GoogleUser:
    """The person a Google ID token names, once its signature (Google's keys, cached per
    deployment) and claims (issuer, audience = this deployment's client id, expiry, issue
    time, verified email as a JSON `true`, and `nonce` when given) check out:
    `Unauthorized` (401) if not, `ServiceUnavailable` (503) when Google's keys cannot be
    fetched or no client id is configured."""
    return await google_sign_in(kernel).verify_id_token(id_token, nonce)
