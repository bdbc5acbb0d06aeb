"""Passwords (argon2id), the failed-login throttle and admin TOTP: the rules, without HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from functools import cached_property

import pyotp
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_auth_password.models import PasswordCredential, TOTPAuthenticator
from commerce_auth_password.settings import PasswordSettings
from commerce_kernel import (
    ADMIN,
    CUSTOMER,
    Account,
    Conflict,
    Forbidden,
    Kernel,
    RateLimiter,
    TokenPair,
    TokensWithUser,
    TooManyRequests,
    Unauthorized,
    UnprocessableEntity,
    utcnow,
)
from commerce_kernel.db import rowcount
from commerce_kernel.identity import account_by_email, find_or_create_account, normalize_email

MIN_PASSWORD_LENGTH = 8
TOTP_INTERVAL = 30
# One body for every wrong-credential case (unknown email, wrong password, not an admin,
# inactive), so the answer says nothing about which one it was.
BAD_CREDENTIALS = "The email or password is incorrect."
OTP_REQUIRED = "A valid authenticator code (`otp`) is required."


class PasswordHashing:
    """The deployment's argon2id hasher, plus a dummy hash that unknown accounts are checked
    against so that a login for an unknown email costs what a wrong password costs."""

    def __init__(self, settings: PasswordSettings) -> None:
        self.hasher = PasswordHasher(
            time_cost=settings.password_hash_time_cost,
            memory_cost=settings.password_hash_memory_cost,
            parallelism=settings.password_hash_parallelism,
            type=Type.ID,
        )

    @cached_property
    def dummy_hash(self) -> str:
        return self.hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        # argon2 is deliberately slow: keep it off the event loop.
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """True when `password` matches `stored`; None (no credential) is never a match, but
        still pays for one verification."""
        try:
            matched = await asyncio.to_thread(
                self.hasher.verify, stored or self.dummy_hash, password
            )
        except (VerificationError, InvalidHashError):
            return False
        return bool(matched) and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True


def hashing_for(kernel: Kernel) -> PasswordHashing:
    """The hasher of this deployment (one per kernel, built at start-up)."""

    def make() -> PasswordHashing:
        hashing = PasswordHashing(kernel.section(PasswordSettings))
        hashing.dummy_hash  # noqa: B018 - computed now, not on the first unknown-email login
        return hashing

    return kernel.cached("auth_password.hashing", make)


def check_password(password: str, email: str) -> None:
    """Refuse a weak password with 422: under 8 characters, or the email address itself."""
    msg = None
    if len(password) < MIN_PASSWORD_LENGTH:
        msg = f"Use at least {MIN_PASSWORD_LENGTH} characters."
    elif normalize_email(password) == normalize_email(email):
        msg = "The password must not be the email address."
    if msg is not None:
        raise UnprocessableEntity(
            f"The password is too weak. {msg}",
            errors=[{"loc": ["body", "password"], "msg": msg, "type": "weak_password"}],
        )


async def save_password_hash(session: AsyncSession, account_id: int, hashed: str) -> None:
    """Store (or replace) an account's password hash, inside the caller's transaction."""
    credential = await session.get(PasswordCredential, account_id)
    if credential is None:
        session.add(PasswordCredential(account_id=account_id, hash=hashed, updated_at=utcnow()))
    else:
        credential.hash, credential.updated_at = hashed, utcnow()
    await session.flush()


async def set_password(
    kernel: Kernel, session: AsyncSession, account_id: int, password: str
) -> None:
    """Give an account a password (replacing any earlier one), inside the caller's
    transaction: 422 when it is weak, hashed with this deployment's settings. What the
    `set_password` hook (`commerce createsuperuser`) does."""
    account = await session.get(Account, account_id)
    if account is None:
        raise LookupError(f"no account {account_id}")
    check_password(password, account.email)
    hashed = await hashing_for(kernel).hash(password)
    await save_password_hash(session, account_id, hashed)


async def sign_up(kernel: Kernel, email: str, password: str, name: str = "") -> TokensWithUser:
    """A new customer account with a password, signed in. 409 when the email is taken."""
    email = normalize_email(email)
    check_password(password, email)
    hashed = await hashing_for(kernel).hash(password)
    taken = Conflict("An account with this email already exists.")
    try:
        async with kernel.db.transaction() as session:
            account, created = await find_or_create_account(session, email, name)
            if not created:
                raise taken
            await save_password_hash(session, account.id, hashed)
            tokens = await kernel.tokens.sign_in(session, account, CUSTOMER)
    except IntegrityError:
        # A concurrent sign-up with the same email won the unique index.
        raise taken from None
    return tokens


class LoginThrottle:
    """Counts failed logins per account (tight) and per client address (loose) in the
    kernel's rate limiter, so the limits hold across processes when Redis is configured."""

    def __init__(self, limiter: RateLimiter, settings: PasswordSettings) -> None:
        self.limiter = limiter
        self.window = settings.login_failure_window
        self.per_account = settings.login_failures_per_account
        self.per_address = settings.login_failures_per_address

    def _counters(self, email: str, address: str | None) -> list[tuple[str, int]]:
        # The email is hashed so the limiter's keys do not hold addresses in clear.
        digest = hashlib.sha256(email.encode()).hexdigest()[:32]
        counters = [(f"auth_password:fail:account:{digest}", self.per_account)]
        if address:
            counters.append((f"auth_password:fail:address:{address}", self.per_address))
        return counters

    async def check(self, email: str, address: str | None) -> None:
        """429 with Retry-After when a counter is already at its limit."""
        for key, limit in self._counters(email, address):
            if await self.limiter.count(key, self.window) >= limit:
                # One more hit past the limit answers how long the window still runs.
                retry_after = await self.limiter.hit(key, limit, self.window) or 1
                raise TooManyRequests(
                    "Too many failed sign-in attempts; try again later.", retry_after=retry_after
                )

    async def failed(self, email: str, address: str | None) -> None:
        for key, limit in self._counters(email, address):
            await self.limiter.hit(key, limit, self.window)

    async def succeeded(self, email: str) -> None:
        key, _ = self._counters(email, None)[0]
        await self.limiter.reset(key)


def totp_step(now: float | None = None) -> int:
    return int(now if now is not None else time.time()) // TOTP_INTERVAL


def matching_totp_step(secret: str, code: str | None, now: float | None = None) -> int | None:
    """The time step (current ±1, pyotp's valid_window=1) whose code is `code`, else None."""
    if not code or not code.strip().isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_INTERVAL)
    current = totp_step(now)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code.strip()):
            return step
    return None


async def authenticate(
    kernel: Kernel,
    email: str,
    password: str,
    address: str | None,
    *,
    audience: str = CUSTOMER,
    otp: str | None = None,
) -> TokenPair:
    """Sign in with email and password; admin sign-in (audience ADMIN) also needs an admin
    account and, once an authenticator is enrolled, its current code.

    Every credential failure is 401 with one body and costs one argon2 verification;
    failures are counted and answered with 429 past the limits.
    """
    settings = kernel.section(PasswordSettings)
    hashing = hashing_for(kernel)
    throttle = LoginThrottle(kernel.limiter, settings)
    email = normalize_email(email)
    await throttle.check(email, address)

    # A short read, then hashing outside any transaction: SQLite takes its write lock at
    # BEGIN, and no lock should be held while argon2 runs.
    async with kernel.db.session() as session:
        account = await account_by_email(session, email)
        credential = await session.get(PasswordCredential, account.id) if account else None
        authenticator = (
            await session.get(TOTPAuthenticator, account.id)
            if account is not None and audience == ADMIN
            else None
        )
    stored = credential.hash if credential is not None else None
    matched = await hashing.verify(stored, password)
    allowed = (
        matched
        and account is not None
        and account.is_active
        and (audience != ADMIN or account.is_admin)
    )
    if not allowed:
        await throttle.failed(email, address)
        raise Unauthorized(BAD_CREDENTIALS)
    assert account is not None and stored is not None

    step = None
    if authenticator is not None:
        step = matching_totp_step(authenticator.secret, otp)
        if step is None:
            await throttle.failed(email, address)
            raise Unauthorized(OTP_REQUIRED)

    new_hash = await hashing.hash(password) if hashing.needs_rehash(stored) else None
    async with kernel.db.transaction() as session:
        fresh_code = step is None or await _claim_totp_step(session, account.id, step)
        if fresh_code:
            if new_hash is not None:
                await _replace_hash(session, account.id, stored, new_hash)
            pair = await kernel.tokens.issue(session, account.id, audience)
    if not fresh_code:
        await throttle.failed(email, address)
        raise Unauthorized(OTP_REQUIRED)
    await throttle.succeeded(email)
    return pair


async def _claim_totp_step(session: AsyncSession, account_id: int, step: int) -> bool:
    """Record `step` as used, unless it (or a later one) already was: a conditional update,
    so one code cannot sign in twice, even from two processes at once."""
    result = await session.execute(
        update(TOTPAuthenticator)
        .where(
            TOTPAuthenticator.account_id == account_id,
            or_(
                TOTPAuthenticator.last_used_step.is_(None),
                TOTPAuthenticator.last_used_step < step,
            ),
        )
        .values(last_used_step=step)
    )
    return rowcount(result) == 1


async def _replace_hash(session: AsyncSession, account_id: int, old: str, new: str) -> None:
    # Only replace the hash that was verified: a password changed meanwhile must win.
    await session.execute(
        update(PasswordCredential)
        .where(PasswordCredential.account_id == account_id, PasswordCredential.hash == old)
        .values(hash=new, updated_at=utcnow())
    )


async def enroll_totp(kernel: Kernel, account_id: int) -> tuple[str, str]:
    """A new authenticator secret for an admin (replacing any previous one): from now on
    admin sign-in needs its current code. Returns (secret, otpauth URI)."""
    settings = kernel.section(PasswordSettings)
    secret = pyotp.random_base32()
    async with kernel.db.transaction() as session:
        account = await session.get(Account, account_id)
        if account is None or not account.is_active or not account.is_admin:
            raise Forbidden("Only an active admin account can enrol an authenticator.")
        existing = await session.get(TOTPAuthenticator, account_id)
        if existing is None:
            session.add(TOTPAuthenticator(account_id=account_id, secret=secret))
        else:
            existing.secret, existing.created_at, existing.last_used_step = secret, utcnow(), None
        uri = pyotp.TOTP(secret, interval=TOTP_INTERVAL).provisioning_uri(
            name=account.email, issuer_name=settings.totp_issuer
        )
    return secret, uri
