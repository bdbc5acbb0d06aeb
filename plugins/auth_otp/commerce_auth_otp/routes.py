"""HTTP handlers of the auth_otp plugin: parse, call the service, answer."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from commerce_auth_otp import service
from commerce_auth_otp.schemas import CodeLoginIn, CodeRequested, CodeRequestIn
from commerce_kernel import Call, TokensWithUser, anonymous, api_route, reply, routes_from


@api_route(
    "/api/auth/otp/request/",
    "POST",
    guard=anonymous,
    body=CodeRequestIn,
    response=CodeRequested,
    status=202,
    summary="Email a 6-digit sign-in code (valid 5 minutes)",
    tags=["auth"],
    responses={
        202: "Accepted; the same answer whether or not an account exists for the email",
        429: "One request per email per 30 s, a few per hour, and a limit per client address "
        "(see `Retry-After`)",
    },
)
async def request_code(call: Call) -> CodeRequested:
    """The code is mailed by a background task; a new request replaces the previous code."""
    body: CodeRequestIn = call.body
    expires_in = await service.request_code(call.kernel, body.email, call.client_address)
    return CodeRequested(detail=service.REQUESTED, expires_in=expires_in)


@api_route(
    "/api/auth/otp-login/",
    "POST",
    guard=anonymous,
    body=CodeLoginIn,
    response=TokensWithUser,
    summary="Sign in with an emailed code: 201 when this created the account",
    tags=["auth"],
    responses={
        201: "Signed in; this created a passwordless account (same body as 200)",
        401: "Wrong, expired, used or dead code (5 wrong codes kill it)",
        429: "Too many sign-in attempts from this client address (see `Retry-After`)",
    },
)
async def otp_login(call: Call) -> Response:
    """Answers the account and customer tokens. The code proves the email: the first time,
    a password set by whoever signed up with it is removed and older sessions end."""
    body: CodeLoginIn = call.body
    tokens, created = await service.log_in(call.kernel, body.email, body.code, call.client_address)
    return reply(tokens, status=201 if created else 200)


def routes() -> list[BaseRoute]:
    return list(routes_from(request_code, otp_login))
