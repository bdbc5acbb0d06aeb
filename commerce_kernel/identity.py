"""Accounts, tokens (JWT access + rotating opaque refresh) and the request guards."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Boolean, ForeignKey, Index, String, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.requests import HTTPConnection

from commerce_kernel.db import Base, UTCDateTime, rowcount, utcnow
from commerce_kernel.errors import Forbidden, Unauthorized

CUSTOMER = "commerce"
ADMIN = "commerce-admin"
AUDIENCES = (CUSTOMER, ADMIN)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family", "family"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family: Mapped[str] = mapped_column(String(32))
    audience: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AccountOut(BaseModel):
    """An account as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    is_admin: bool
    created_at: datetime


class TokenPair(BaseModel):
    """What every sign-in answers: a short-lived access token and a single-use refresh token."""

    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int


class TokensWithUser(TokenPair):
    user: AccountOut


def normalize_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True)
class Principal:
    """Who is calling, as proven by a verified access token (no database hit)."""

    account_id: int
    audience: str

    @property
    def is_admin(self) -> bool:
        return self.audience == ADMIN


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    """Issues and verifies tokens. One per app, built from the settings at start-up."""

    def __init__(
        self, secret_key: str, access_ttl: int, admin_access_ttl: int, refresh_ttl: int
    ) -> None:
        self._key = OctKey.import_key(hashlib.sha256(secret_key.encode()).digest())
        self.access_ttl = access_ttl
        self.admin_access_ttl = admin_access_ttl
        self.refresh_ttl = refresh_ttl

    def access_token(self, account_id: int, audience: str) -> tuple[str, int]:
        ttl = self.admin_access_ttl if audience == ADMIN else self.access_ttl
        now = int(time.time())
        claims = {
            "sub": str(account_id),
            "aud": audience,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(
            {"alg": "HS256", "typ": "JWT"}, claims, self._key, algorithms=["HS256"]
        ), ttl

    def verify_access(self, token: str, audience: str) -> Principal:
        try:
            decoded = jwt.decode(token, self._key, algorithms=["HS256"])
        except (JoseError, ValueError):
            raise Unauthorized("The access token is invalid.") from None
        claims = decoded.claims
        try:
            jwt.JWTClaimsRegistry(
                exp={"essential": True},
                sub={"essential": True},
                aud={"essential": True, "value": audience},
                leeway=5,
            ).validate(claims)
        except JoseError as exc:
            if claims.get("aud") in AUDIENCES and claims.get("aud") != audience:
                raise Forbidden(
                    "This token is not valid for this operation "
                    f"({'admin' if audience == ADMIN else 'customer'} token required)."
                ) from None
            raise Unauthorized(f"The access token is invalid ({exc.error}).") from None
        try:
            return Principal(int(claims["sub"]), audience)
        except (TypeError, ValueError):
            raise Unauthorized("The access token is invalid.") from None

    async def issue(
        self, session: AsyncSession, account_id: int, audience: str, family: str | None = None
    ) -> TokenPair:
        """A new access/refresh pair; the refresh token is stored only as a hash."""
        if audience not in AUDIENCES:
            raise ValueError(audience)
        refresh = secrets.token_urlsafe(32)
        session.add(
            RefreshToken(
                account_id=account_id,
                token_hash=_hash(refresh),
                family=family or uuid.uuid4().hex,
                audience=audience,
                expires_at=utcnow() + timedelta(seconds=self.refresh_ttl),
            )
        )
        await session.flush()
        access, ttl = self.access_token(account_id, audience)
        return TokenPair(access_token=access, refresh_token=refresh, expires_in=ttl)

    async def sign_in(
        self, session: AsyncSession, account: Account, audience: str = CUSTOMER
    ) -> TokensWithUser:
        """What every sign-in answers: a new pair for `account`, with the account itself."""
        pair = await self.issue(session, account.id, audience)
        return TokensWithUser(user=AccountOut.model_validate(account), **pair.model_dump())

    async def rotate(self, session: AsyncSession, refresh_token: str) -> TokenPair:
        """Trade a refresh token for a new pair of the same audience. Reusing a used token
        revokes its whole family (someone copied it)."""
        now = utcnow()
        row = (
            await session.execute(
                select(RefreshToken).where(RefreshToken.token_hash == _hash(refresh_token))
            )
        ).scalar_one_or_none()
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            raise Unauthorized("The refresh token is invalid or expired.")
        # Mark used with a conditional update so two concurrent refreshes cannot both win.
        claimed = await session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
            .values(used_at=now)
        )
        if rowcount(claimed) != 1:
            await self.revoke_family(session, row.family)
            await session.commit()
            raise Unauthorized("The refresh token was already used; its sessions are revoked.")
        account = await session.get(Account, row.account_id)
        if (
            account is None
            or not account.is_active
            or (row.audience == ADMIN and not account.is_admin)
        ):
            raise Unauthorized("The account is no longer allowed to sign in.")
        return await self.issue(session, row.account_id, row.audience, family=row.family)

    async def revoke(self, session: AsyncSession, refresh_token: str) -> None:
        row = (
            await session.execute(
                select(RefreshToken).where(RefreshToken.token_hash == _hash(refresh_token))
            )
        ).scalar_one_or_none()
        if row is not None:
            await self.revoke_family(session, row.family)

    async def revoke_family(self, session: AsyncSession, family: str) -> None:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


async def account_by_email(session: AsyncSession, email: str) -> Account | None:
    return (
        await session.execute(select(Account).where(Account.email == normalize_email(email)))
    ).scalar_one_or_none()


async def create_account(
    session: AsyncSession, email: str, name: str = "", *, is_admin: bool = False
) -> Account:
    account = Account(
        email=normalize_email(email), name=name.strip(), is_admin=is_admin, created_at=utcnow()
    )
    session.add(account)
    await session.flush()
    return account


async def find_or_create_account(
    session: AsyncSession, email: str, name: str = ""
) -> tuple[Account, bool]:
    """The account of `email`, created (as a customer) when there is none; True if created.
    Two concurrent first sign-ins race on the unique email: the loser's flush raises
    `IntegrityError`, and running its transaction again finds the winner's account."""
    account = await account_by_email(session, email)
    if account is not None:
        return account, False
    return await create_account(session, email, name), True


Guard = Callable[[HTTPConnection], Principal | None]


def _bearer(conn: HTTPConnection) -> str:
    header = conn.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


def _tokens(conn: HTTPConnection) -> Tokens:
    return conn.app.state.kernel.tokens


def public(conn: HTTPConnection) -> Principal | None:
    """Anyone; if a valid token of either audience is sent, it is noted (admins see more)."""
    header = conn.headers.get("authorization")
    if not header:
        return None
    token = _bearer(conn)
    for audience in (ADMIN, CUSTOMER):
        try:
            return _tokens(conn).verify_access(token, audience)
        except (Unauthorized, Forbidden):
            continue
    raise Unauthorized("The access token is invalid.")


def customer(conn: HTTPConnection) -> Principal:
    """A customer token (audience `commerce`); an admin token is refused with 403."""
    return _tokens(conn).verify_access(_bearer(conn), CUSTOMER)


def admin(conn: HTTPConnection) -> Principal:
    """An admin token (audience `commerce-admin`); a customer token is refused with 403."""
    return _tokens(conn).verify_access(_bearer(conn), ADMIN)


def signed_in(conn: HTTPConnection) -> Principal:
    """Either audience."""
    principal = public(conn)
    if principal is None:
        raise Unauthorized()
    return principal


public.security = None  # type: ignore[attr-defined]
customer.security = "customer"  # type: ignore[attr-defined]
admin.security = "admin"  # type: ignore[attr-defined]
signed_in.security = "any"  # type: ignore[attr-defined]

__all__: list[Any] = [
    "ADMIN",
    "CUSTOMER",
    "Account",
    "AccountOut",
    "Principal",
    "TokenPair",
    "Tokens",
    "TokensWithUser",
    "account_by_email",
    "admin",
    "create_account",
    "customer",
    "find_or_create_account",
    "normalize_email",
    "public",
    "signed_in",
]
