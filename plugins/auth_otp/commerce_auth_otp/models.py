"""The auth_otp plugin's table: outstanding sign-in codes, stored only as keyed hashes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from commerce_kernel import Base, UTCDateTime, utcnow
from commerce_kernel.identity import EmailColumn


class OTPChallenge(Base):
    """One emailed code. The newest challenge of an email is the only one that counts; it is
    dead once consumed, expired, or after `otp_max_attempts` wrong codes."""

    __tablename__ = "otp_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The canonical email, compared exactly (binary collation on MariaDB): a look-alike's
    # request must neither replace nor be taken for this address's code.
    email: Mapped[str] = mapped_column(EmailColumn, index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
