"""HTTP handlers of the auth_password plugin: parse, call the service, answer."""

from __future__ import annotations

from starlette.routing import BaseRoute

from commerce_auth_password import service
from commerce_auth_password.schemas import (
    AdminLoginIn,
    LoginIn,
    SignupIn,
    TOTPConfirmed,
    TOTPConfirmIn,
    TOTPEnrollIn,
    TOTPEnrollment,
)
from commerce_kernel import (
    ADMIN,
    CUSTOMER,
    Call,
    TokensWithUser,
    admin,
    anonymous,
    api_route,
    routes_from,
)

THROTTLED = "Too many sign-in attempts (see `Retry-After`)"


@api_route(
    "/api/auth/signup/",
    "POST",
    guard=anonymous,
    body=SignupIn,
    response=TokensWithUser,
    status=201,
    summary="Create a customer account with a password and sign in",
    tags=["auth"],
    responses={
        409: "An account with this email already exists",
        422: "Invalid fields, or a weak password (under 8 characters, or the email itself)",
        429: "Too many sign-ups from this client address (see `Retry-After`)",
    },
)
async def signup(call: Call) -> TokensWithUser:
    """Creates a customer account (email in its canonical form: NFC, case folded, the
    domain in IDNA ASCII) and answers its account and a customer token pair. The email is
    not proven by this: a later sign-in by a mailed code or Google removes the password."""
    body: SignupIn = call.body
    return await service.sign_up(
        call.kernel, body.email, body.password, body.name, call.client_address
    )


@api_route(
    "/api/auth/login/",
    "POST",
    guard=anonymous,
    body=LoginIn,
    response=TokensWithUser,
    summary="Sign in with email and password (customer tokens)",
    tags=["auth"],
    responses={401: "Wrong email or password (one answer for both)", 429: THROTTLED},
)
async def login(call: Call) -> TokensWithUser:
    """Answers the account and a customer token pair: the shape sign-up, Google and
    emailed-code sign-ins answer. Unknown email and wrong password answer the same 401.
    After 10 attempts in 15 minutes for one account (and more, per client address) the
    answer is 429."""
    body: LoginIn = call.body
    return await service.authenticate(
        call.kernel, body.email, body.password, call.client_address, audience=CUSTOMER
    )


@api_route(
    "/api/admin/auth/login/",
    "POST",
    guard=anonymous,
    body=AdminLoginIn,
    response=TokensWithUser,
    summary="Admin sign-in with email, password and, once enrolled, a TOTP code",
    tags=["admin auth"],
    responses={
        401: "Wrong email or password, not an admin account, or a missing, wrong or used "
        "authenticator code (one answer for all)",
        429: THROTTLED,
    },
)
async def admin_login(call: Call) -> TokensWithUser:
    """Answers the account and admin tokens (audience `commerce-admin`), the shape of every
    sign-in, for admin accounts only. Every failure (a customer account, a wrong password, a
    missing or wrong code) gets the same 401, so the answer does not reveal which."""
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
    body=TOTPEnrollIn,
    response=TOTPEnrollment,
    summary="Start enrolling an authenticator app for admin sign-in (confirm it next)",
    tags=["admin auth"],
    responses={
        401: "No or invalid token",
        403: "Not an admin token or account, or the password or authenticator code is wrong",
        429: THROTTLED,
    },
)
async def enroll_totp(call: Call) -> TOTPEnrollment:
    """Needs the account's password and, when an authenticator is enrolled, a current code
    of it. The new secret is active only once a code from it is sent to
    `/api/admin/auth/totp/confirm/` (within 10 minutes); it then replaces the old one."""
    body: TOTPEnrollIn = call.body
    secret, uri = await service.enroll_totp(
        call.kernel, call.account_id, body.password, body.otp, call.client_address
    )
    return TOTPEnrollment(secret=secret, otpauth_uri=uri)


@api_route(
    "/api/admin/auth/totp/confirm/",
    "POST",
    guard=admin,
    body=TOTPConfirmIn,
    response=TOTPConfirmed,
    summary="Confirm a new authenticator with a code from it: it becomes the enrolled one",
    tags=["admin auth"],
    responses={
        401: "No or invalid token",
        403: "Not an admin token, a wrong code, or no enrolment waiting",
        429: THROTTLED,
    },
)
async def confirm_totp(call: Call) -> TOTPConfirmed:
    """From now on, admin sign-in for this account needs `otp`: the app's current code (the
    code sent here is spent)."""
    body: TOTPConfirmIn = call.body
    await service.confirm_totp(call.kernel, call.account_id, body.otp, call.client_address)
    return TOTPConfirmed(detail="The authenticator is enrolled; admin sign-in needs its codes.")


def routes() -> list[BaseRoute]:
    return list(routes_from(signup, login, admin_login, enroll_totp, confirm_totp))
