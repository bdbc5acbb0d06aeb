"""The auth_otp plugin: passwordless sign-in with a one-time code sent by email."""

from __future__ import annotations

__version__ = "0.1.0"
