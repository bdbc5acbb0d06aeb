"""Signed-in HTTP clients of a test deployment's app (in-process ASGI, no server)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from commerce_kernel.identity import ADMIN, CUSTOMER, Account, account_by_email, create_account
from commerce_kernel.kernel import Kernel


def client_of(app: Any, token: str | None = None) -> httpx.AsyncClient:
    """An httpx client of `app`, carrying `token` as a bearer token when given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost", headers=headers
    )


@dataclass
class SignedIn:
    account: Account
    client: httpx.AsyncClient
    access_token: str
    refresh_token: str

    @property
    def id(self) -> int:
        return self.account.id


async def sign_in(
    kernel: Kernel, app: Any, email: str, *, admin: bool = False, name: str = ""
) -> SignedIn:
    """An account (created if needed) with a client carrying its token."""
    async with kernel.db.transaction() as session:
        account = await account_by_email(session, email)
        if account is None:
            account = await create_account(session, email, name, is_admin=admin)
        pair = await kernel.tokens.issue(session, account.id, ADMIN if admin else CUSTOMER)
    return SignedIn(
        account, client_of(app, pair.access_token), pair.access_token, pair.refresh_token
    )
