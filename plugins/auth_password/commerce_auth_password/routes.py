"""HTTP handlers of the auth_password plugin: parse, call the service, answer."""

from __future__ import annotations

from starlette.routing import BaseRoute

from commerce_auth_password import service
from commerce_auth_password.schemas import AdminLoginIn, LoginIn, SignupIn, TOTPEnrollment
from commerce_kernel import (
    ADMIN,
    CUSTOMER,
    Call,
    TokenPair,
    TokensWithUser,
    admin,
    api_route,
    routes_from,
)

THROTTLED = "Too many failed sign-in attempts (see `Retry-After`)"


@api_route(
    "/api/auth/signup/",
    "POST",
    body=SignupIn,
    response=TokensWithUser,
    status=201,
    summary="Create a customer account with a password and sign in",
    tags=["auth"],
    responses={
        409: "An account with this email already exists",
        422: "Invalid fields, or a weak password (under 8 characters, or the email itself)",
    },
)
async def signup(call: Call) -> TokensWithUser:
    """Creates a customer account (email normalised: trimmed, lower-cased) and answers its
    account and a customer token pair."""
    body: SignupIn = call.body
    return await service.sign_up(call.kernel, body.email, body.password, body.name)


@api_route(
    "/api/auth/login/",
    "POST",
    body=LoginIn,
    response=TokenPair,
    summary="Sign in with email and password (customer tokens)",
    tags=["auth"],
    responses={401: "Wrong email or password (one answer for both)", 429: THROTTLED},
)
async def login(call: Call) -> TokenPair:
    """Unknown email and wrong password answer the same 401. After 10 failures in 15
    minutes for one account (and more, per client address) the answer is 429."""
    body: LoginIn = call.body
    return await service.authenticate(
        call.kernel, body.email, body.password, call.client_address, audience=CUSTOMER
    )


@api_route(
    "/api/admin/auth/login/",
    "POST",
    body=AdminLoginIn,
    response=TokenPair,
    summary="Admin sign-in with email, password and, once enrolled, a TOTP code",
    tags=["admin auth"],
    responses={
        401: "Wrong email or password, not an admin account (same answer), or a missing or "
        "wrong authenticator code",
        429: THROTTLED,
    },
)
async def admin_login(call: Call) -> TokenPair:
    """Answers admin tokens (audience `commerce-admin`) for admin accounts only. A customer
    account gets the same 401 as a wrong password, so the answer does not reveal it."""
    body: AdminLoginIn = call.body
    return await service.authenticate(
        call.kernel,
        body.email,
        body.password,
        call.client_address,
        audience=ADMIN,
        otp=body.otp,
    )


@api_route(
    "/api/admin/auth/totp/",
    "POST",
    guard=admin,
    response=TOTPEnrollment,
    summary="Enrol an authenticator app for admin sign-in (replaces any previous one)",
    tags=["admin auth"],
    responses={401: "No or invalid token", 403: "Not an admin token"},
)
async def enroll_totp(call: Call) -> TOTPEnrollment:
    """From now on, admin sign-in for this account needs `otp`: the app's current code."""
    secret, uri = await service.enroll_totp(call.kernel, call.account_id)
    return TOTPEnrollment(secret=secret, otpauth_uri=uri)


def routes() -> list[BaseRoute]:
    return list(routes_from(signup, login, admin_login, enroll_totp))
