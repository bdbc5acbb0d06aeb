"""Passwords (argon2id), the sign-in throttle and admin TOTP: the rules, without HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from datetime import timedelta
from functools import cached_property

import pyotp
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_auth_password.models import (
    PasswordCredential,
    TOTPAuthenticator,
    TOTPPendingEnrolment,
)
from commerce_auth_password.settings import PasswordSettings
from commerce_kernel import (
    ADMIN,
    CUSTOMER,
    Account,
    Conflict,
    Forbidden,
    Kernel,
    RateLimiter,
    TokensWithUser,
    TooManyRequests,
    Unauthorized,
    UnprocessableEntity,
    utcnow,
)
from commerce_kernel.db import retry_on_conflict, rowcount
from commerce_kernel.identity import account_by_email, find_or_create_account, normalize_email

MIN_PASSWORD_LENGTH = 8
TOTP_INTERVAL = 30
# A new authenticator that no code has confirmed within this time must be enrolled again.
PENDING_TOTP_TTL = 600
SIGNUP_WINDOW = 3600
# One body for every wrong-credential case (unknown email, wrong password, not an admin,
# inactive), so the answer says nothing about which one it was.
BAD_CREDENTIALS = "The email or password is incorrect."
# Admin sign-in adds the authenticator code to that list: a right password with a missing or
# wrong code must not answer differently from a wrong password (a password oracle).
ADMIN_BAD_CREDENTIALS = "The email, password or authenticator code is incorrect."
REAUTH_FAILED = "The password or the authenticator code is incorrect."
CONFIRM_FAILED = "The code is wrong, or no new authenticator is waiting for confirmation."
THROTTLED = "Too many failed sign-in attempts; try again later."


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
    transaction: 422 when it is weak, hashed with this deployment's settings. Every session
    of the account ends (whoever knew the old password may hold one). What the
    `set_password` hook (`commerce createsuperuser`) does."""
    account = await session.get(Account, account_id)
    if account is None:
        raise LookupError(f"no account {account_id}")
    check_password(password, account.email)
    hashed = await hashing_for(kernel).hash(password)
    await save_password_hash(session, account_id, hashed)
    await kernel.tokens.revoke_account(session, account_id)


async def forget_credentials(session: AsyncSession, account_id: int) -> None:
    """Delete the account's password and authenticators, inside the caller's transaction:
    what the `email_proven` hook does, since whoever set them never proved the email."""
    for model in (PasswordCredential, TOTPAuthenticator, TOTPPendingEnrolment):
        await session.execute(delete(model).where(model.account_id == account_id))


async def sign_up(
    kernel: Kernel, email: str, password: str, name: str = "", address: str | None = None
) -> TokensWithUser:
    """A new customer account with a password, signed in. 409 when the email is taken;
    429 past `SIGNUPS_PER_ADDRESS_PER_HOUR` from the client `address` (counted before
    argon2 runs, so a flood of sign-ups costs no hashing)."""
    settings = kernel.section(PasswordSettings)
    email = normalize_email(email)
    check_password(password, email)
    if address:
        retry_after = await kernel.limiter.hit(
            f"auth_password:signup:address:{address}",
            settings.signups_per_address_per_hour,
            SIGNUP_WINDOW,
        )
        if retry_after is not None:
            raise TooManyRequests(
                "Too many sign-ups from this address; try again later.", retry_after=retry_after
            )
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
    """Sign-in attempts per account (tight) and per client address (loose), in the kernel's
    rate limiter, so the limits hold across processes when Redis is configured.

    An attempt is counted BEFORE its password is checked, by the limiter's atomic
    increment: of N concurrent guesses only those within the limit reach argon2, the rest
    are 429. A success clears the account's counter, not the address's (signing in to
    one's own account must not reset the count of an address that sprays others)."""

    def __init__(self, limiter: RateLimiter, settings: PasswordSettings) -> None:
        self.limiter = limiter
        self.window = settings.login_failure_window
        self.per_account = settings.login_failures_per_account
        self.per_address = settings.login_failures_per_address

    @staticmethod
    def _account_key(email: str) -> str:
        # Keyed on the canonical email, the one identity every spelling of it signs in
        # as; hashed so the limiter's keys do not hold addresses in clear.
        digest = hashlib.sha256(normalize_email(email).encode()).hexdigest()[:32]
        return f"auth_password:fail:account:{digest}"

    async def attempt(self, email: str, address: str | None) -> None:
        """Count one attempt; 429 with Retry-After when a counter is past its limit."""
        waits = [await self.limiter.hit(self._account_key(email), self.per_account, self.window)]
        if address:
            waits.append(
                await self.limiter.hit(
                    f"auth_password:fail:address:{address}", self.per_address, self.window
                )
            )
        retry_after = max((w for w in waits if w is not None), default=None)
        if retry_after is not None:
            raise TooManyRequests(THROTTLED, retry_after=retry_after)

    async def succeeded(self, email: str) -> None:
        await self.limiter.reset(self._account_key(email))


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


def unused_totp_step(authenticator: TOTPAuthenticator, code: str | None) -> int | None:
    """The step of `code` when it is a current code of `authenticator` not used before."""
    step = matching_totp_step(authenticator.secret, code)
    last = authenticator.last_used_step
    return step if step is not None and (last is None or step > last) else None


async def authenticate(
    kernel: Kernel,
    email: str,
    password: str,
    address: str | None,
    *,
    audience: str = CUSTOMER,
    otp: str | None = None,
) -> TokensWithUser:
    """Sign in with email and password; admin sign-in (audience ADMIN) also needs an admin
    account and, once an authenticator is enrolled, its current code. Answers what every
    sign-in answers: the account and a token pair of `audience`.

    The attempt is counted first (429 past the limits); every failure then costs one argon2
    verification and is one 401 with one body (admin sign-in: one body for every cause,
    the authenticator code included).
    """
    hashing = hashing_for(kernel)
    throttle = LoginThrottle(kernel.limiter, kernel.section(PasswordSettings))
    email = normalize_email(email)
    refused = Unauthorized(ADMIN_BAD_CREDENTIALS if audience == ADMIN else BAD_CREDENTIALS)
    await throttle.attempt(email, address)

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
    # Checked whatever else was wrong (it costs microseconds), and a code seen before is
    # refused here already: every admin failure does the same work.
    step = unused_totp_step(authenticator, otp) if authenticator is not None else None
    allowed = (
        matched
        and account is not None
        and account.is_active
        and (audience != ADMIN or account.is_admin)
        and (authenticator is None or step is not None)
    )
    if not allowed:
        raise refused
    assert account is not None and stored is not None

    new_hash = await hashing.hash(password) if hashing.needs_rehash(stored) else None
    async with kernel.db.transaction() as session:
        fresh_code = step is None or await _claim_totp_step(session, account.id, step)
        if fresh_code:
            if new_hash is not None:
                await _replace_hash(session, account.id, stored, new_hash)
            tokens = await kernel.tokens.sign_in(session, account, audience)
    if not fresh_code:
        raise refused
    await throttle.succeeded(email)
    return tokens


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


async def _active_admin(session: AsyncSession, account_id: int) -> Account:
    account = await session.get(Account, account_id)
    if account is None or not account.is_active or not account.is_admin:
        raise Forbidden("Only an active admin account can enrol an authenticator.")
    return account


async def enroll_totp(
    kernel: Kernel,
    account_id: int,
    password: str,
    otp: str | None = None,
    address: str | None = None,
) -> tuple[str, str]:
    """A new authenticator secret for an admin, waiting for confirmation
    (`confirm_totp`): until a code from it is confirmed, admin sign-in goes on as before.

    An access token alone is not enough (it may be stolen): the account's password is
    needed and, when an authenticator is enrolled, a current code of it (spent, like a
    sign-in code). Attempts count against the account's sign-in limit. 403 when the
    password or code is wrong. Returns (secret, otpauth URI)."""
    settings = kernel.section(PasswordSettings)
    hashing = hashing_for(kernel)
    async with kernel.db.session() as session:
        account = await _active_admin(session, account_id)
        credential = await session.get(PasswordCredential, account_id)
        authenticator = await session.get(TOTPAuthenticator, account_id)
    throttle = LoginThrottle(kernel.limiter, settings)
    await throttle.attempt(account.email, address)
    matched = await hashing.verify(credential.hash if credential else None, password)
    step = unused_totp_step(authenticator, otp) if authenticator is not None else None
    if not matched or (authenticator is not None and step is None):
        raise Forbidden(REAUTH_FAILED)
    secret = pyotp.random_base32()

    async def attempt() -> bool:
        async with kernel.db.transaction() as session:
            if step is not None and not await _claim_totp_step(session, account_id, step):
                return False
            pending = await session.get(TOTPPendingEnrolment, account_id)
            if pending is None:
                session.add(
                    TOTPPendingEnrolment(account_id=account_id, secret=secret, created_at=utcnow())
                )
            else:
                pending.secret, pending.created_at = secret, utcnow()
        return True

    # Two first enrolments at once race on the pending row's key; the retry updates it.
    if not await retry_on_conflict(attempt):
        raise Forbidden(REAUTH_FAILED)
    await throttle.succeeded(account.email)
    uri = pyotp.TOTP(secret, interval=TOTP_INTERVAL).provisioning_uri(
        name=account.email, issuer_name=settings.totp_issuer
    )
    return secret, uri


async def confirm_totp(
    kernel: Kernel, account_id: int, otp: str, address: str | None = None
) -> None:
    """Make the waiting authenticator of an admin the enrolled one, given a current code from
    it (spent: sign in with a later one). It replaces any earlier authenticator. 403 when the
    code is wrong or nothing waits (an enrolment older than 10 minutes is void)."""
    settings = kernel.section(PasswordSettings)
    async with kernel.db.session() as session:
        account = await _active_admin(session, account_id)
        pending = await session.get(TOTPPendingEnrolment, account_id)
    throttle = LoginThrottle(kernel.limiter, settings)
    await throttle.attempt(account.email, address)
    now = utcnow()
    live = pending is not None and pending.created_at > now - timedelta(seconds=PENDING_TOTP_TTL)
    step = matching_totp_step(pending.secret, otp) if pending is not None and live else None
    if pending is None or step is None:
        raise Forbidden(CONFIRM_FAILED)
    async with kernel.db.transaction() as session:
        # Taken with a conditional delete: of two confirmations one wins, and a secret
        # replaced by a newer enrolment meanwhile is not the one made active.
        taken = await session.execute(
            delete(TOTPPendingEnrolment).where(
                TOTPPendingEnrolment.account_id == account_id,
                TOTPPendingEnrolment.secret == pending.secret,
            )
        )
        confirmed = rowcount(taken) == 1
        if confirmed:
            authenticator = await session.get(TOTPAuthenticator, account_id)
            if authenticator is None:
                session.add(
                    TOTPAuthenticator(
                        account_id=account_id,
                        secret=pending.secret,
                        created_at=now,
                        last_used_step=step,
                    )
                )
            else:
                authenticator.secret, authenticator.created_at = pending.secret, now
                authenticator.last_used_step = step
    if not confirmed:
        raise Forbidden(CONFIRM_FAILED)
    await throttle.succeeded(account.email)
