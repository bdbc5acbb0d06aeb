"""auth_password's public API for other plugins: give an account a checked password."""

from __future__ import annotations

from commerce_auth_password.service import MIN_PASSWORD_LENGTH, check_password, set_password

__all__ = ["MIN_PASSWORD_LENGTH", "check_password", "set_password"]
