"""Background work of the auth_otp plugin: mailing a code, purging dead codes."""

from __future__ import annotations

import hmac
import logging

from commerce_auth_otp import service
from commerce_auth_otp.models import OTPChallenge
from commerce_auth_otp.settings import OTPSettings
from commerce_kernel import GiveUp, Mail, TaskContext, utcnow

logger = logging.getLogger("commerce.auth_otp")


def code_mail(email: str, code: str, settings: OTPSettings) -> Mail:
    minutes = max(1, settings.otp_code_ttl // 60)
    return Mail(
        to=[email],
        subject=settings.otp_mail_subject,
        body=(
            f"Your sign-in code is {code}\n\n"
            f"It is valid for {minutes} minutes and works once. If you did not ask for it, "
            "ignore this message: nobody can sign in without the code.\n"
        ),
    )


async def send_code(ctx: TaskContext, challenge_id: int, sealed_code: str) -> None:
    """Mail the code of one challenge, unless it is no longer live (used, expired or replaced
    by a newer request): a retried or late job never sends a dead code."""
    kernel = ctx.kernel
    keys = service.code_keys(kernel)
    try:
        code = keys.unseal(sealed_code)
    except ValueError as exc:
        raise GiveUp(str(exc)) from None
    async with kernel.db.session() as session:
        challenge = await session.get(OTPChallenge, challenge_id)
    if (
        challenge is None
        or challenge.consumed_at is not None
        or challenge.expires_at <= utcnow()
        or not hmac.compare_digest(challenge.code_hash, keys.code_hash(challenge.email, code))
    ):
        logger.info("sign-in code %s is no longer live; not sent", challenge_id)
        return
    await kernel.mailer.send(code_mail(challenge.email, code, kernel.section(OTPSettings)))


async def purge_expired(ctx: TaskContext) -> None:
    removed = await service.purge_expired(ctx.kernel)
    if removed:
        logger.info("purged %d dead sign-in codes", removed)
