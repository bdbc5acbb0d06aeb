"""The auth_password plugin's tables: password hashes, admin TOTP authenticators and the
authenticators waiting for their confirming code."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from commerce_kernel import Base, UTCDateTime, utcnow


class PasswordCredential(Base):
    """An account's password, as an argon2id hash (the accounts table knows nothing of it)."""

    __tablename__ = "password_credentials"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    hash: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TOTPAuthenticator(Base):
    """An admin's enrolled authenticator app. `last_used_step` refuses a code seen before."""

    __tablename__ = "totp_authenticators"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class TOTPPendingEnrolment(Base):
    """A new authenticator secret, active only once a code from it is confirmed (then it
    replaces the account's `TOTPAuthenticator`); void after `service.PENDING_TOTP_TTL`."""

    __tablename__ = "totp_pending_enrolments"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
