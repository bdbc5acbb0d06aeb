"""The auth_google plugin's table: which Google account (`sub`) signs in as which account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from commerce_kernel import Base, UTCDateTime, utcnow


class GoogleIdentity(Base):
    __tablename__ = "google_identities"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Google's stable account id; the email of a Google account can change, `sub` cannot.
    sub: Mapped[str] = mapped_column(String(255), unique=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
