"""The auth_google plugin: sign in with a Google ID token (or an authorization code)."""

from __future__ import annotations

__version__ = "0.1.0"
