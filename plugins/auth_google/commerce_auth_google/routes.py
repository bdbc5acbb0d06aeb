"""HTTP handlers of the auth_google plugin: parse, call the service, answer."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from commerce_auth_google.schemas import GoogleConfig, GoogleSignInIn
from commerce_auth_google.service import google_sign_in, sign_in
from commerce_kernel import Call, TokensWithUser, anonymous, api_route, reply, routes_from


@api_route(
    "/api/auth/google/",
    guard=anonymous,
    summary="What a front end needs to start Google's OAuth flow",
    response=GoogleConfig,
    tags=["auth"],
    responses={503: "Sign-in with Google is not configured"},
)
async def google_config(call: Call) -> GoogleConfig:
    google = google_sign_in(call.kernel)
    return GoogleConfig(
        client_id=google.client_id,
        authorization_endpoint=google.settings.google_authorization_endpoint,
        scopes=google.settings.google_scopes,
    )


@api_route(
    "/api/auth/google/",
    "POST",
    guard=anonymous,
    body=GoogleSignInIn,
    response=TokensWithUser,
    summary="Sign in with a Google ID token (or an authorization code): 201 when created",
    tags=["auth"],
    responses={
        201: "Signed in; the account was created by this sign-in (same body as 200)",
        401: "The ID token or code was refused (signature, issuer, audience, expiry, "
        "issue time, unverified email, another nonce than the one sent)",
        422: "Neither id_token nor code with redirect_uri",
        503: "Google's keys or token endpoint are unreachable, or Google is not configured",
    },
)
async def google_login(call: Call) -> Response:
    """An existing account with the same verified email is linked to the Google account
    (the email is then proven: a password set by whoever signed up with it is removed and
    older sessions end); otherwise the account is created (201). Both answers carry the
    account and tokens."""
    google = google_sign_in(call.kernel)
    body: GoogleSignInIn = call.body
    id_token = body.id_token
    if id_token is None:
        assert body.code is not None and body.redirect_uri is not None
        id_token = await google.redeem_code(body.code, body.redirect_uri)
    user = await google.verify_id_token(id_token, body.nonce)
    tokens, created = await sign_in(call.kernel, user)
    return reply(tokens, status=201 if created else 200)


def routes() -> list[BaseRoute]:
    return list(routes_from(google_config, google_login))
