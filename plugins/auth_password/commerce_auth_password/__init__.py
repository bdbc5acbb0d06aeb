"""The auth_password plugin: email + password sign-up and sign-in, admin sign-in with TOTP."""

from __future__ import annotations

__version__ = "0.1.0"
