"""The kernel's own account routes: refresh, logout and who am I. Signing in is a plugin's."""

from __future__ import annotations

from pydantic import Field
from starlette.routing import BaseRoute

from commerce_kernel.bodies import Body
from commerce_kernel.errors import Unauthorized
from commerce_kernel.identity import Account, AccountOut, TokenPair, anonymous, signed_in
from commerce_kernel.routing import Call, api_route, routes_from


class RefreshIn(Body):
    refresh_token: str = Field(min_length=1, max_length=512)


@api_route(
    "/api/auth/token/refresh/",
    "POST",
    guard=anonymous,
    body=RefreshIn,
    response=TokenPair,
    summary="Trade a refresh token for a new pair (same audience)",
    tags=["auth"],
    responses={401: "Invalid, expired or reused refresh token"},
)
async def refresh(call: Call) -> TokenPair:
    # Not `transaction()`: a reused token's family is revoked (committed) before the 401.
    async with call.kernel.db.session(write=True) as session:
        pair = await call.kernel.tokens.rotate(session, call.body.refresh_token)
        await session.commit()
    return pair


@api_route(
    "/api/auth/logout/",
    "POST",
    guard=anonymous,
    body=RefreshIn,
    status=204,
    summary="Revoke a refresh token and every token rotated from it",
    tags=["auth"],
)
async def logout(call: Call) -> None:
    """Revoke a refresh token and every token rotated from it. The access tokens issued with
    them end too: admin tokens at once, customer tokens within `TOKEN_STATE_TTL` seconds
    (at once when the deployment's pub/sub delivers the revocation, the usual case)."""
    async with call.kernel.db.transaction() as session:
        await call.kernel.tokens.revoke(session, call.body.refresh_token)
    return None


@api_route(
    "/api/auth/me/",
    guard=signed_in,
    response=AccountOut,
    summary="The signed-in account",
    tags=["auth"],
)
async def me(call: Call) -> AccountOut:
    async with call.kernel.db.session() as session:
        account = await session.get(Account, call.account_id)
    if account is None or not account.is_active:
        # The guard's state may be up to TOKEN_STATE_TTL old; the token is what ended.
        raise Unauthorized("The account no longer exists or was deactivated.")
    return AccountOut.model_validate(account)


def routes() -> list[BaseRoute]:
    return list(routes_from(refresh, logout, me))
