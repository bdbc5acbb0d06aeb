"""Email sign-in codes: issue, rate-limit, check and consume them. The rules, without HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from datetime import timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select, update

from commerce_auth_otp.models import OTPChallenge
from commerce_auth_otp.settings import OTPSettings
from commerce_kernel import (
    CUSTOMER,
    Kernel,
    RateLimiter,
    TokensWithUser,
    TooManyRequests,
    Unauthorized,
    utcnow,
)
from commerce_kernel.db import retry_on_conflict, rowcount
from commerce_kernel.identity import find_or_create_account, normalize_email, prove_email

SEND_CODE = "auth_otp.send_code"
CODE_DIGITS = 6
LOGIN_FAILURE_WINDOW = 900
INVALID_CODE = "The code is wrong, expired or already used."
REQUESTED = "If the address can receive mail, a sign-in code is on its way."


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


class CodeKeys:
    """Keys derived from the deployment's SECRET_KEY: one for the code hashes in the
    database (a leaked table alone does not give the codes away, even though there are only
    a million), one to seal the code while it waits in the task queue (Redis)."""

    def __init__(self, secret_key: str) -> None:
        secret = secret_key.encode()
        self._hash_key = hashlib.sha256(b"commerce auth_otp code hash\0" + secret).digest()
        self._seal = AESGCM(hashlib.sha256(b"commerce auth_otp code seal\0" + secret).digest())

    def code_hash(self, email: str, code: str) -> str:
        # Bound to the email, so a hash is worth nothing for another address.
        message = f"{normalize_email(email)}\0{code.strip()}".encode()
        return hmac.new(self._hash_key, message, hashlib.sha256).hexdigest()

    def seal(self, code: str) -> str:
        nonce = os.urandom(12)
        return base64.urlsafe_b64encode(
            nonce + self._seal.encrypt(nonce, code.encode(), None)
        ).decode()

    def unseal(self, sealed: str) -> str:
        """The code; raises ValueError when the seal was not made with this key."""
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
            return self._seal.decrypt(raw[:12], raw[12:], None).decode()
        except (InvalidTag, ValueError) as exc:
            raise ValueError("not a code sealed by this deployment") from exc


def code_keys(kernel: Kernel) -> CodeKeys:
    """This deployment's code keys (one per kernel)."""
    return kernel.cached(
        "auth_otp.code_keys", lambda: CodeKeys(kernel.settings.resolved_secret_key())
    )


def _digest(email: str) -> str:
    # Limiter keys carry a hash, not the address itself.
    return hashlib.sha256(email.encode()).hexdigest()[:32]


async def _limit(limiter: RateLimiter, key: str, limit: int, window: int, detail: str) -> None:
    retry_after = await limiter.hit(key, limit, window)
    if retry_after is not None:
        raise TooManyRequests(detail, retry_after=retry_after)


async def request_code(kernel: Kernel, email: str, address: str | None = None) -> int:
    """Email a new sign-in code to `email` (replacing any earlier one) and return how many
    seconds it is valid. Whether an account exists changes nothing: a first code creates
    one. Requests are limited per email and, when `address` (the client's) is given, per
    address: `TooManyRequests` (429) past a limit."""
    settings = kernel.section(OTPSettings)
    email = normalize_email(email)
    limiter = kernel.limiter
    if address:
        await _limit(
            limiter,
            f"auth_otp:request:address:{address}",
            settings.otp_requests_per_address_per_hour,
            3600,
            "Too many sign-in codes requested from this address; try again later.",
        )
    if settings.otp_request_interval:
        await _limit(
            limiter,
            f"auth_otp:request:interval:{_digest(email)}",
            1,
            settings.otp_request_interval,
            "A code was just sent to this address; wait before asking for another.",
        )
    await _limit(
        limiter,
        f"auth_otp:request:hour:{_digest(email)}",
        settings.otp_requests_per_hour,
        3600,
        "Too many sign-in codes requested for this address; try again later.",
    )
    keys = code_keys(kernel)
    code = new_code()
    now = utcnow()
    async with kernel.db.transaction() as session:
        # One live code per email: a new request kills the previous ones.
        await session.execute(delete(OTPChallenge).where(OTPChallenge.email == email))
        challenge = OTPChallenge(
            email=email,
            code_hash=keys.code_hash(email, code),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.otp_code_ttl),
            attempts=0,
        )
        session.add(challenge)
        await session.flush()
    await kernel.queue.enqueue(SEND_CODE, challenge.id, keys.seal(code))
    return settings.otp_code_ttl


async def log_in(
    kernel: Kernel, email: str, code: str, address: str | None
) -> tuple[TokensWithUser, bool]:
    """Customer tokens for the right, live code of `email`; True when this created the
    (passwordless) account. A code works once; `otp_max_attempts` wrong codes kill it.
    Signing in proves the email (`identity.prove_email`): the first time, a password someone
    set without proving the address is removed and every earlier session ends."""
    settings = kernel.section(OTPSettings)
    email, code = normalize_email(email), code.strip()
    if address:
        # Counted before the code is looked at, with the limiter's atomic increment, so a
        # concurrent burst of guesses cannot get past the limit.
        await _limit(
            kernel.limiter,
            f"auth_otp:fail:address:{address}",
            settings.otp_login_failures_per_address,
            LOGIN_FAILURE_WINDOW,
            "Too many wrong codes; try again later.",
        )

    now = utcnow()
    limit = settings.otp_max_attempts
    async with kernel.db.session() as session:
        challenge = (
            await session.execute(
                select(OTPChallenge)
                .where(OTPChallenge.email == email)
                .order_by(OTPChallenge.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    if (
        challenge is None
        or challenge.consumed_at is not None
        or challenge.expires_at <= now
        or challenge.attempts >= limit
    ):
        raise Unauthorized(INVALID_CODE)
    live = (
        OTPChallenge.id == challenge.id,
        OTPChallenge.consumed_at.is_(None),
        OTPChallenge.attempts < limit,
        OTPChallenge.expires_at > now,
    )
    if not hmac.compare_digest(challenge.code_hash, code_keys(kernel).code_hash(email, code)):
        # Counted in the database with a conditional update, so concurrent guesses (from
        # any number of processes) cannot get past the limit.
        async with kernel.db.transaction() as session:
            await session.execute(
                update(OTPChallenge).where(*live).values(attempts=OTPChallenge.attempts + 1)
            )
        raise Unauthorized(INVALID_CODE)

    async def attempt() -> tuple[TokensWithUser, bool]:
        async with kernel.db.transaction() as session:
            # Consume with a conditional update: of two logins with one code, one wins.
            claimed = await session.execute(
                update(OTPChallenge).where(*live).values(consumed_at=now)
            )
            if rowcount(claimed) != 1:
                raise Unauthorized(INVALID_CODE)
            account, created = await find_or_create_account(session, email)
            if not account.is_active:
                raise Unauthorized("The account is disabled.")
            await prove_email(kernel, session, account)
            tokens = await kernel.tokens.sign_in(session, account, CUSTOMER)
        return tokens, created

    # Another sign-in method may create the account at the same moment; everything here is
    # rolled back then, so the second try finds the account.
    return await retry_on_conflict(attempt)


async def purge_expired(kernel: Kernel) -> int:
    """Delete dead challenges (expired or used); returns how many."""
    async with kernel.db.transaction() as session:
        result = await session.execute(
            delete(OTPChallenge).where(
                (OTPChallenge.expires_at <= utcnow()) | OTPChallenge.consumed_at.is_not(None)
            )
        )
    return rowcount(result)
