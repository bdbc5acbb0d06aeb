"""Accounts, tokens (JWT access + rotating opaque refresh) and the request guards.

How long an access token outlives what should end it (logout, password change, a captured
account, deactivation, deletion, demotion):

- admin tokens: not at all. Every request with an admin token reads the account and the
  token's refresh family from the database.
- customer tokens: at most `TOKEN_STATE_TTL` seconds (default 5). Each process keeps what
  decides a customer token (account active, token epoch, family revoked) for that long.
  A change committed through the kernel's sessions (an ORM update of `is_active`/`is_admin`,
  deleting the account, `revoke_account`, `revoke_family`, logout) drops the entries at once
  in the committing process and, through `kernel.pubsub`, in every other process. The bound
  is reached only for changes made outside (an SQL console), by a process that serves no
  requests and never called `token_states(kernel)` (a CLI command, a worker), or when a
  pub/sub message is lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import secrets
import time
import unicodedata
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import idna
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    bindparam,
    event,
    exists,
    select,
    update,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column
from starlette.requests import HTTPConnection

from commerce_kernel import hookspecs
from commerce_kernel.db import Base, UTCDateTime, rowcount, utcnow
from commerce_kernel.errors import Forbidden, Unauthorized
from commerce_kernel.pubsub import GAP, Subscription

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel

CUSTOMER = "commerce"
ADMIN = "commerce-admin"
AUDIENCES = (CUSTOMER, ADMIN)


EmailColumn = String(254).with_variant(mysql.VARCHAR(254, collation="utf8mb4_bin"), "mysql")
"""An email column compared exactly: the canonical form is stored, and MariaDB's default
collation (accent- and case-insensitive) would make look-alikes equal."""


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(EmailColumn, unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When a verified identity (a Google ID token's verified email, a mailed code) proved the
    # email; None while only someone who typed it (a password sign-up) vouches for it.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Raised to end every token issued before (logout everywhere, password change, capture).
    token_epoch: Mapped[int] = mapped_column(Integer, default=0)


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


def canonical_email(email: str) -> str:
    """The one form an email is stored and compared in: Unicode NFC, case folded, the domain
    in IDNA ASCII (`Alice@Exámple.COM` -> `alice@xn--exmple-qta.com`). Look-alikes stay
    different (`exámple` is not `example`); `ValueError` for what cannot be an address."""
    text = unicodedata.normalize("NFC", email.strip())
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise ValueError("an email address needs a local part and a domain")
    local = unicodedata.normalize("NFC", local.casefold())
    try:
        ascii_domain = idna.encode(domain.rstrip("."), uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"invalid email domain: {exc}") from None
    return f"{local}@{ascii_domain.lower()}"


def normalize_email(email: str) -> str:
    """`canonical_email`, falling back to the trimmed, case-folded text for a value that is no
    address at all (it then matches no account)."""
    try:
        return canonical_email(email)
    except ValueError:
        return unicodedata.normalize("NFC", email.strip().casefold())


@dataclass(frozen=True)
class Principal:
    """Who is calling, as proven by a verified access token: the account, the audience, and
    what the guards check the token against (the account's token epoch when it was issued,
    and the refresh family it belongs to; None for a token minted without one)."""

    account_id: int
    audience: str
    epoch: int = 0
    family: str | None = None

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

    def access_token(
        self, account_id: int, audience: str, *, epoch: int = 0, family: str | None = None
    ) -> tuple[str, int]:
        """A signed access token and its lifetime. `epoch` is the account's `token_epoch`
        now (raising it ends the token), `family` the refresh family it was issued with
        (revoking the family, as logout does, ends it); `issue` fills both."""
        ttl = self.admin_access_ttl if audience == ADMIN else self.access_ttl
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": str(account_id),
            "aud": audience,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "ep": epoch,
        }
        if family is not None:
            claims["fam"] = family
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
        # Tokens signed before epochs existed carry neither claim: epoch 0, no family.
        epoch = claims.get("ep", 0)
        family = claims.get("fam")
        if type(epoch) is not int or not (family is None or isinstance(family, str)):
            raise Unauthorized("The access token is invalid.")
        try:
            return Principal(int(claims["sub"]), audience, epoch, family)
        except (TypeError, ValueError):
            raise Unauthorized("The access token is invalid.") from None

    async def issue(
        self,
        session: AsyncSession,
        account_id: int,
        audience: str,
        family: str | None = None,
        *,
        epoch: int | None = None,
    ) -> TokenPair:
        """A new access/refresh pair; the refresh token is stored only as a hash. The access
        token carries the account's current token epoch (read here unless given) and the
        refresh family, so `revoke_account` and `revoke_family` end it."""
        if audience not in AUDIENCES:
            raise ValueError(audience)
        if epoch is None:
            # Read, not taken from a loaded Account: `revoke_account` may have raised it in
            # this transaction with a bulk UPDATE.
            epoch = (
                await session.execute(select(Account.token_epoch).where(Account.id == account_id))
            ).scalar_one_or_none() or 0
        family = family or uuid.uuid4().hex
        refresh = secrets.token_urlsafe(32)
        session.add(
            RefreshToken(
                account_id=account_id,
                token_hash=_hash(refresh),
                family=family,
                audience=audience,
                expires_at=utcnow() + timedelta(seconds=self.refresh_ttl),
            )
        )
        await session.flush()
        access, ttl = self.access_token(account_id, audience, epoch=epoch, family=family)
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
        return await self.issue(
            session, row.account_id, row.audience, family=row.family, epoch=account.token_epoch
        )

    async def revoke(self, session: AsyncSession, refresh_token: str) -> None:
        row = (
            await session.execute(
                select(RefreshToken).where(RefreshToken.token_hash == _hash(refresh_token))
            )
        ).scalar_one_or_none()
        if row is not None:
            await self.revoke_family(session, row.family)

    async def revoke_account(self, session: AsyncSession, account_id: int) -> None:
        """End every session of the account, inside the caller's transaction: its refresh
        tokens are revoked and its token epoch raised, so access tokens issued before are
        refused too (password change, a captured account, "log out everywhere")."""
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.account_id == account_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        await session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(token_epoch=Account.token_epoch + 1)
            .execution_options(**{_TRACKED: True})
        )
        _pending(session.sync_session).accounts.add(account_id)

    async def revoke_family(self, session: AsyncSession, family: str) -> None:
        """Revoke a refresh family (logout, a replayed refresh token), inside the caller's
        transaction; the access tokens issued with it end too."""
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        _pending(session.sync_session).families.add(family)


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


async def prove_email(kernel: Kernel, session: AsyncSession, account: Account) -> bool:
    """Record, inside the caller's transaction, that a verified identity (a Google ID token
    with a verified email, a mailed code) just proved `account`'s email. The first time, every
    credential set before that proof was set by someone who never proved the address (an
    attacker may have signed up with the victim's email): the `email_proven` hook removes
    them (auth_password deletes the password) and every session of the account ends. Returns
    True when this was the first proof."""
    if account.email_verified_at is not None:
        return False
    account.email_verified_at = utcnow()
    await session.flush()
    await kernel.hooks.call(
        hookspecs.email_proven, kernel=kernel, session=session, account_id=account.id
    )
    await kernel.tokens.revoke_account(session, account.id)
    return True


# --- whether a verified token still holds ------------------------------------------------

logger = logging.getLogger("commerce.identity")

TOKEN_STATES_CHANNEL = "kernel.token_states"
_TRACKED = "commerce_token_change_tracked"
_PENDING = "commerce.token_changes"
_WATCHED = ("is_active", "is_admin", "token_epoch")
_MAX_ENTRIES = 100_000
_RELISTEN_SECONDS = 5.0


@dataclass
class _Changes:
    """What a transaction changed that may end tokens; announced when it commits."""

    accounts: set[int] = field(default_factory=set)
    families: set[str] = field(default_factory=set)
    everything: bool = False

    def message(self) -> dict[str, Any]:
        return {
            "accounts": sorted(self.accounts),
            "families": sorted(self.families),
            "all": self.everything,
        }


def _pending(session: Session) -> _Changes:
    changes = session.info.get(_PENDING)
    if changes is None:
        changes = session.info[_PENDING] = _Changes()
    return changes


def _account_ids(objects: Any, *, changed_only: bool = False) -> list[int]:
    ids = []
    for obj in objects:
        if not isinstance(obj, Account):
            continue
        state = sa_inspect(obj)
        if changed_only and not any(state.attrs[n].history.has_changes() for n in _WATCHED):
            continue
        # The identity key, or for a row just inserted (no key until the flush ends) the
        # value in the instance dict: `obj.id` could try to load, and nothing may here.
        account_id = state.identity[0] if state.identity else state.dict.get("id")
        if account_id is not None:
            ids.append(account_id)
    return ids


@event.listens_for(Session, "after_flush")
def _note_account_rows(session: Session, _context: Any) -> None:
    # New rows too: SQLite hands a deleted account's id to the next account created.
    ids = _account_ids(session.new) + _account_ids(session.deleted)
    ids += _account_ids(session.dirty, changed_only=True)
    if ids:
        _pending(session).accounts.update(ids)


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_statements(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete) or state.execution_options.get(_TRACKED):
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    # Which rows an UPDATE/DELETE matched is unknown here: forget every cached state.
    # (Updates of refresh tokens that end sessions go through `revoke_family`, tracked.)
    if table == Account.__tablename__ or (state.is_delete and table == RefreshToken.__tablename__):
        _pending(state.session).everything = True


@event.listens_for(Session, "after_commit")
def _announce_changes(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the outer transaction may still roll back
    changes: _Changes | None = session.info.pop(_PENDING, None)
    if changes is None:
        return
    # By pool: a session may be bound to the engine with other execution options.
    pool = getattr(session.bind, "pool", None)
    for states in list(_LIVE):
        if states.engine.pool is pool:
            states.changed(changes)


@dataclass(frozen=True, slots=True)
class _AccountState:
    is_active: bool
    is_admin: bool
    epoch: int


_FAMILY_ROWS = exists().where(
    RefreshToken.family == bindparam("family"), RefreshToken.account_id == Account.id
)
_FAMILY_REVOKED = exists().where(
    RefreshToken.family == bindparam("family"),
    RefreshToken.account_id == Account.id,
    RefreshToken.revoked_at.is_not(None),
)
_ACCOUNT_STATE = select(Account.is_active, Account.is_admin, Account.token_epoch).where(
    Account.id == bindparam("account_id")
)
_ACCOUNT_AND_FAMILY_STATE = select(
    Account.is_active, Account.is_admin, Account.token_epoch, _FAMILY_ROWS, _FAMILY_REVOKED
).where(Account.id == bindparam("account_id"))

_LIVE: weakref.WeakSet[TokenStates] = weakref.WeakSet()


class TokenStates:
    """Decides whether a verified access token still holds: its account exists and is
    active (and an admin, for an admin token), its epoch is the account's `token_epoch`,
    and its refresh family exists for that account and is not revoked.

    One per kernel (`token_states(kernel)`). Admin tokens are always checked against the
    database. For customer tokens the answer is kept `TOKEN_STATE_TTL` seconds; committed
    changes drop it at once here and, through `kernel.pubsub`, in every other process of
    the deployment. Nothing is kept while that subscription is not established."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.ttl = kernel.settings.token_state_ttl
        self.engine: Engine = kernel.db.engine.sync_engine
        self._accounts: dict[int, tuple[_AccountState | None, float]] = {}
        self._families: dict[str, tuple[int, bool, float]] = {}
        # Raised by every invalidation: a state read before one is not kept.
        self._generation = 0
        self._listener: asyncio.Task[None] | None = None
        self._listening = False
        self._subscription: Subscription | None = None
        self._listen_after = 0.0
        self._publishing: set[asyncio.Task[None]] = set()
        _LIVE.add(self)

    async def check(self, principal: Principal, *, fresh: bool | None = None) -> None:
        """Raise `Unauthorized` when the token no longer holds. `fresh` (the default for
        admin tokens) reads the database whatever is cached."""
        if fresh is None:
            fresh = principal.is_admin
        self._ensure_listener()
        now = time.monotonic()
        cached = None if fresh or not self._hearing() else self._cached(principal, now)
        if cached is None:
            cached = await self._load(principal, now)
        _refuse_ended(principal, *cached)

    def _hearing(self) -> bool:
        """Changes published by other processes reach this one now. While they do not (Redis
        away, the subscription not yet confirmed), nothing is kept, and what was is dropped.
        What has already arrived (a change, or a GAP after the subscription came back) is
        applied first, not left for the listener task to reach after this request."""
        sub = self._subscription
        if self._listening and sub is not None and self.kernel.pubsub.listening(sub.channel):
            while not sub.queue.empty():
                self._apply(sub.get_nowait())
            return True
        if self._accounts or self._families:
            self.forget({"all": True})
        return False

    def _cached(self, principal: Principal, now: float) -> tuple[_AccountState | None, bool] | None:
        entry = self._accounts.get(principal.account_id)
        if entry is None or entry[1] <= now:
            return None
        if principal.family is None:
            return entry[0], True
        family = self._families.get(principal.family)
        if family is None or family[2] <= now or family[0] != principal.account_id:
            return None
        return entry[0], family[1]

    async def _load(self, principal: Principal, now: float) -> tuple[_AccountState | None, bool]:
        generation = self._generation
        row: Any
        async with self.kernel.db.reader.connect() as conn:
            if principal.family is None:
                row = (
                    await conn.execute(_ACCOUNT_STATE, {"account_id": principal.account_id})
                ).first()
            else:
                row = (
                    await conn.execute(
                        _ACCOUNT_AND_FAMILY_STATE,
                        {"account_id": principal.account_id, "family": principal.family},
                    )
                ).first()
        account = None if row is None else _AccountState(bool(row[0]), bool(row[1]), int(row[2]))
        live = principal.family is None or (row is not None and bool(row[3]) and not row[4])
        if self.ttl > 0 and generation == self._generation and self._hearing():
            if len(self._accounts) >= _MAX_ENTRIES or len(self._families) >= _MAX_ENTRIES:
                self._accounts.clear()
                self._families.clear()
            until = now + self.ttl
            self._accounts[principal.account_id] = (account, until)
            if principal.family is not None:
                self._families[principal.family] = (principal.account_id, live, until)
        return account, live

    def forget(self, message: dict[str, Any]) -> None:
        """Drop what a change made stale: `{"accounts": [ids], "families": [...], "all": bool}`
        (the pub/sub message every process receives)."""
        self._generation += 1
        if message.get("all"):
            self._accounts.clear()
            self._families.clear()
            return
        for account_id in message.get("accounts") or ():
            self._accounts.pop(account_id, None)
        for family in message.get("families") or ():
            self._families.pop(family, None)

    def changed(self, changes: _Changes) -> None:
        """A transaction of this process committed `changes`: forget here, tell the others."""
        message = changes.message()
        self.forget(message)
        if not self.kernel.started:
            return  # stopping or stopped: pub/sub is closed
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop, no other process to tell from here
        task = loop.create_task(self._publish(message))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _publish(self, message: dict[str, Any]) -> None:
        try:
            await self.kernel.pubsub.publish(TOKEN_STATES_CHANNEL, message)
        except Exception as exc:
            # The other processes then notice within TOKEN_STATE_TTL.
            logger.warning("could not announce ended tokens (%s)", type(exc).__name__)

    def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.done():
            return
        now = time.monotonic()
        if not self.kernel.started or now < self._listen_after:
            return
        self._listen_after = now + _RELISTEN_SECONDS
        self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        try:
            async with self.kernel.pubsub.subscribe(TOKEN_STATES_CHANNEL, gaps=True) as sub:
                self._subscription = sub
                self._listening = True
                while True:
                    self._apply(await sub.get())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning(
                "not subscribed to ended tokens (%s): checking every token against the "
                "database until the subscription is back",
                type(exc).__name__,
            )
        finally:
            self._listening = False
            self._subscription = None
            self.forget({"all": True})

    def _apply(self, message: Any) -> None:
        if message is GAP:  # changes may have been missed meanwhile
            self.forget({"all": True})
        elif isinstance(message, dict):
            self.forget(message)

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        if self._publishing:
            await asyncio.wait(list(self._publishing), timeout=2)


def _refuse_ended(principal: Principal, account: _AccountState | None, live: bool) -> None:
    if account is None or not account.is_active:
        raise Unauthorized("The account no longer exists or was deactivated.")
    if principal.epoch != account.epoch or not live:
        raise Unauthorized("The access token was revoked (signed out).")
    if principal.audience == ADMIN and not account.is_admin:
        raise Unauthorized("The account is no longer an admin.")


def token_states(kernel: Kernel) -> TokenStates:
    """The kernel's `TokenStates` (made on first use, closed when the kernel stops)."""
    return kernel.cached("kernel.token_states", lambda: TokenStates(kernel))


# --- guards ---------------------------------------------------------------------------------

Guard = Callable[[HTTPConnection], Awaitable[Principal | None] | Principal | None]
"""What `api_route(guard=...)` takes: the request -> who calls (None: anonymous), or a raised
`Unauthorized`/`Forbidden`. The kernel's guards are coroutines; a plain function works too."""


def _bearer(conn: HTTPConnection) -> str:
    header = conn.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


def _kernel(conn: HTTPConnection) -> Kernel:
    return conn.app.state.kernel


async def _holding(conn: HTTPConnection, principal: Principal) -> Principal:
    await token_states(_kernel(conn)).check(principal)
    return principal


async def public(conn: HTTPConnection) -> Principal | None:
    """Anyone; if a valid token of either audience is sent, it is noted (admins see more)."""
    header = conn.headers.get("authorization")
    if not header:
        return None
    token = _bearer(conn)
    tokens = _kernel(conn).tokens
    for audience in (ADMIN, CUSTOMER):
        try:
            principal = tokens.verify_access(token, audience)
        except (Unauthorized, Forbidden):
            continue
        return await _holding(conn, principal)
    raise Unauthorized("The access token is invalid.")


async def anonymous(conn: HTTPConnection) -> None:
    """Anyone, and any `Authorization` header is ignored: for signing in, refreshing and
    logging out, which a client must reach even while it still sends an expired token (and
    for health checks). Use `public` where a valid token changes the answer."""
    return None


async def customer(conn: HTTPConnection) -> Principal:
    """A customer token (audience `commerce`); an admin token is refused with 403. Checked
    against the account's state as of at most `TOKEN_STATE_TTL` seconds ago."""
    principal = _kernel(conn).tokens.verify_access(_bearer(conn), CUSTOMER)
    return await _holding(conn, principal)


async def admin(conn: HTTPConnection) -> Principal:
    """An admin token (audience `commerce-admin`); a customer token is refused with 403.
    Checked against the database on every request (demotion, logout end it at once)."""
    principal = _kernel(conn).tokens.verify_access(_bearer(conn), ADMIN)
    return await _holding(conn, principal)


async def signed_in(conn: HTTPConnection) -> Principal:
    """Either audience."""
    principal = await public(conn)
    if principal is None:
        raise Unauthorized()
    return principal


async def resolve_guard(guard: Guard, conn: HTTPConnection) -> Principal | None:
    """Run a guard, awaiting it when it is a coroutine function."""
    result = guard(conn)
    if inspect.isawaitable(result):
        return await result
    return result


public.security = None  # type: ignore[attr-defined]
anonymous.security = None  # type: ignore[attr-defined]
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
    "TokenStates",
    "Tokens",
    "TokensWithUser",
    "account_by_email",
    "admin",
    "anonymous",
    "canonical_email",
    "create_account",
    "customer",
    "find_or_create_account",
    "normalize_email",
    "prove_email",
    "public",
    "signed_in",
    "token_states",
]
