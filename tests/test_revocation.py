"""Access tokens end with what should end them: logout (the refresh family), password change
(`revoke_account`), deactivation, deletion, demotion. Admin tokens at once, on every request;
customer tokens at once through the kernel and within TOKEN_STATE_TTL for changes made
outside it. A deleted account's token is 401, never 500."""

from __future__ import annotations

import asyncio
import time
import types
from typing import Any

import httpx
import pytest
from joserfc import jwt
from sqlalchemy import delete, event, select, text, update

from commerce_kernel import CUSTOMER, Plugin, hookimpl, utcnow
from commerce_kernel.identity import (
    Account,
    RefreshToken,
    admin,
    create_account,
    customer,
    public,
    token_states,
)
from commerce_kernel.routing import Call, api_route, routes_from
from commerce_kernel.testing import backend_urls, sign_in

TTL = 1.0


@api_route("/api/revocation/admin/", guard=admin, summary="An admin route")
async def admin_only(call: Call) -> Any:
    return {"account_id": call.account_id}


@api_route("/api/revocation/customer/", guard=customer, summary="A customer route")
async def customer_only(call: Call) -> Any:
    return {"account_id": call.account_id}


@api_route("/api/revocation/public/", guard=public, summary="A public route")
async def anyone(call: Call) -> Any:
    return {"admin": call.is_admin}


@api_route("/api/revocation/write/", "POST", guard=customer, status=201, summary="Writes a row")
async def write(call: Call) -> Any:
    # Any row with a foreign key to the caller's account (a cart line, an order) will do.
    async with call.kernel.db.transaction() as session:
        session.add(
            RefreshToken(
                account_id=call.account_id,
                token_hash=f"probe-{time.monotonic_ns()}",
                family="probe",
                audience=CUSTOMER,
                expires_at=utcnow(),
            )
        )
    return {"ok": True}


probe = types.ModuleType("revocation_probe")
probe.plugin = Plugin(name="revocation_probe", version="0.0.1")  # type: ignore[attr-defined]


@hookimpl
def routes(kernel: Any) -> list[Any]:
    return list(routes_from(admin_only, customer_only, anyone, write))


probe.routes = routes  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def commerce_extra_plugins():
    return [probe]


@pytest.fixture(scope="session")
def commerce_settings():
    return {"TOKEN_STATE_TTL": str(TTL)}


@pytest.fixture
def state_reads(kernel):
    """How many times the guards read an account's token state from the database."""
    reads: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "token_epoch" in statement and statement.lstrip().upper().startswith("SELECT"):
            reads.append(statement)

    engines = [engine.sync_engine for engine in kernel.db.engines]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    yield reads
    for engine in engines:
        event.remove(engine, "before_cursor_execute", count)


async def raw_sql(kernel, statement: str, **params: Any) -> None:
    """A change made outside the kernel's sessions (an SQL console): no ORM event sees it."""
    async with kernel.db.engine.begin() as conn:
        await conn.execute(text(statement), params)


async def status(client: httpx.AsyncClient, path: str, token: str) -> int:
    r = await client.get(path, headers={"Authorization": f"Bearer {token}"})
    return r.status_code


async def test_tokens_carry_the_epoch_and_the_family(kernel, customer):
    claims = jwt.decode(customer.access_token, kernel.tokens._key).claims
    async with kernel.db.session() as session:
        family = (
            await session.execute(
                select(RefreshToken.family).where(RefreshToken.account_id == customer.id)
            )
        ).scalar_one()
    assert claims["ep"] == 0 and claims["fam"] == family


async def test_logout_ends_the_admin_access_token_at_once(client, admin):
    """The issue's probe: log out, then reuse the access token on an admin route."""
    assert await status(client, "/api/revocation/admin/", admin.access_token) == 200
    r = await client.post("/api/auth/logout/", json={"refresh_token": admin.refresh_token})
    assert r.status_code == 204
    r = await client.get(
        "/api/revocation/admin/", headers={"Authorization": f"Bearer {admin.access_token}"}
    )
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert await status(client, "/api/revocation/public/", admin.access_token) == 401


async def test_logout_ends_the_customer_token_of_that_family_only(kernel, app, client):
    phone = await sign_in(kernel, app, "two-devices@example.com")
    laptop = await sign_in(kernel, app, "two-devices@example.com")
    for device in (phone, laptop):
        assert await status(client, "/api/revocation/customer/", device.access_token) == 200
    await client.post("/api/auth/logout/", json={"refresh_token": phone.refresh_token})
    # At once, though the state was cached a moment ago: the commit dropped it.
    assert await status(client, "/api/revocation/customer/", phone.access_token) == 401
    assert await status(client, "/api/auth/me/", phone.access_token) == 401
    assert await status(client, "/api/revocation/customer/", laptop.access_token) == 200


async def test_a_replayed_refresh_token_ends_the_family_access_tokens(client, customer):
    first = await client.post(
        "/api/auth/token/refresh/", json={"refresh_token": customer.refresh_token}
    )
    rotated = first.json()["access_token"]
    assert await status(client, "/api/revocation/customer/", rotated) == 200
    replay = await client.post(
        "/api/auth/token/refresh/", json={"refresh_token": customer.refresh_token}
    )
    assert replay.status_code == 401
    assert await status(client, "/api/revocation/customer/", rotated) == 401
    assert await status(client, "/api/revocation/customer/", customer.access_token) == 401


async def test_password_change_ends_every_token_and_new_ones_work(kernel, app, client, customer):
    other = await sign_in(kernel, app, "customer@example.com")
    staff = await sign_in(kernel, app, "staff@example.com", admin=True)
    for signed, path in ((customer, "customer"), (other, "customer"), (staff, "admin")):
        assert await status(client, f"/api/revocation/{path}/", signed.access_token) == 200
    async with kernel.db.transaction() as session:
        await kernel.tokens.revoke_account(session, customer.id)
        await kernel.tokens.revoke_account(session, staff.id)
    for signed, path in ((customer, "customer"), (other, "customer"), (staff, "admin")):
        assert await status(client, f"/api/revocation/{path}/", signed.access_token) == 401
    again = await sign_in(kernel, app, "customer@example.com")
    assert jwt.decode(again.access_token, kernel.tokens._key).claims["ep"] == 1
    assert await status(client, "/api/revocation/customer/", again.access_token) == 200


async def test_epoch_raised_and_new_tokens_issued_in_one_transaction(kernel, client, customer):
    """`prove_email` raises the epoch, then the plugin signs the prover in: same transaction."""
    async with kernel.db.transaction() as session:
        account = await session.get(Account, customer.id)
        assert account is not None
        await kernel.tokens.revoke_account(session, account.id)
        pair = await kernel.tokens.sign_in(session, account)
    assert await status(client, "/api/revocation/customer/", customer.access_token) == 401
    assert await status(client, "/api/revocation/customer/", pair.access_token) == 200


async def test_deactivation_ends_the_customer_token_at_once(kernel, client, customer):
    assert await status(client, "/api/revocation/customer/", customer.access_token) == 200
    async with kernel.db.transaction() as session:
        account = await session.get(Account, customer.id)
        assert account is not None
        account.is_active = False
    assert await status(client, "/api/revocation/customer/", customer.access_token) == 401
    assert await status(client, "/api/revocation/public/", customer.access_token) == 401
    r = await client.post(
        "/api/auth/token/refresh/", json={"refresh_token": customer.refresh_token}
    )
    assert r.status_code == 401


async def test_bulk_update_of_accounts_ends_tokens_at_once(kernel, client, customer):
    assert await status(client, "/api/revocation/customer/", customer.access_token) == 200
    async with kernel.db.transaction() as session:
        await session.execute(
            update(Account).where(Account.id == customer.id).values(is_active=False)
        )
    assert await status(client, "/api/revocation/customer/", customer.access_token) == 401


async def test_demotion_ends_the_admin_token_at_once_even_made_outside(kernel, client, admin):
    assert await status(client, "/api/revocation/admin/", admin.access_token) == 200
    await raw_sql(
        kernel, "UPDATE accounts SET is_admin = :no WHERE id = :id", no=False, id=admin.id
    )
    r = await client.get(
        "/api/revocation/admin/", headers={"Authorization": f"Bearer {admin.access_token}"}
    )
    assert r.status_code == 401
    assert await status(client, "/api/revocation/public/", admin.access_token) == 401
    assert await status(client, "/api/auth/me/", admin.access_token) == 401


async def test_admin_tokens_read_the_database_on_every_request(client, admin, state_reads):
    for _ in range(3):
        assert await status(client, "/api/revocation/admin/", admin.access_token) == 200
    assert len(state_reads) == 3


async def test_customer_state_is_reused_within_the_ttl(client, customer, state_reads):
    start = time.monotonic()
    assert await status(client, "/api/revocation/customer/", customer.access_token) == 200
    assert len(state_reads) == 1
    # The sign-in's own announcement (it ended no session, but it is announced) reaches this
    # process through Redis a moment later and drops the state once: let it arrive first.
    await asyncio.sleep(0.2)
    state_reads.clear()
    for _ in range(5):
        assert await status(client, "/api/revocation/customer/", customer.access_token) == 200
    elapsed = time.monotonic() - start
    # Reused: five requests, one read (after that announcement) plus one per TTL window a
    # loaded machine may cross.
    assert len(state_reads) <= 1 + int(elapsed // TTL), (len(state_reads), elapsed)


async def test_a_change_made_outside_the_kernel_ends_a_customer_token_within_the_ttl(
    kernel, client, customer
):
    assert await status(client, "/api/revocation/customer/", customer.access_token) == 200
    changed = time.monotonic()
    await raw_sql(
        kernel, "UPDATE accounts SET is_active = :no WHERE id = :id", no=False, id=customer.id
    )
    while await status(client, "/api/revocation/customer/", customer.access_token) == 200:
        assert time.monotonic() - changed <= TTL + 0.5, "outlived TOKEN_STATE_TTL"
        await asyncio.sleep(0.05)


async def test_deleted_account_token_is_401_never_500(kernel, client, customer):
    headers = {"Authorization": f"Bearer {customer.access_token}"}
    assert (await client.post("/api/revocation/write/", headers=headers)).status_code == 201
    # Deleted outside the kernel: the cached state still says "active", but the write's
    # foreign key fails and that is answered 401, not 500.
    await raw_sql(kernel, "DELETE FROM accounts WHERE id = :id", id=customer.id)
    r = await client.post("/api/revocation/write/", headers=headers)
    assert r.status_code == 401, r.text
    assert await status(client, "/api/revocation/customer/", customer.access_token) == 401
    assert await status(client, "/api/auth/me/", customer.access_token) == 401


async def test_deleted_through_the_kernel_is_401_at_once(kernel, client, customer, admin):
    assert await status(client, "/api/revocation/customer/", customer.access_token) == 200
    async with kernel.db.transaction() as session:
        account = await session.get(Account, customer.id)
        await session.delete(account)
    headers = {"Authorization": f"Bearer {customer.access_token}"}
    assert (await client.get("/api/revocation/customer/", headers=headers)).status_code == 401
    assert (await client.post("/api/revocation/write/", headers=headers)).status_code == 401
    async with kernel.db.transaction() as session:
        await session.execute(delete(Account).where(Account.id == admin.id))
    assert await status(client, "/api/revocation/admin/", admin.access_token) == 401


async def test_a_reused_account_id_does_not_revive_an_old_token(kernel, client):
    """SQLite gives a deleted account's id to the next one: the old token's family is gone."""
    async with kernel.db.transaction() as session:
        old = await create_account(session, "old@example.com")
        pair = await kernel.tokens.issue(session, old.id, CUSTOMER)
    async with kernel.db.transaction() as session:
        await session.execute(delete(Account).where(Account.id == old.id))
    async with kernel.db.transaction() as session:
        new = await create_account(session, "new@example.com")
        await kernel.tokens.issue(session, new.id, CUSTOMER)
    assert await status(client, "/api/revocation/customer/", pair.access_token) == 401


async def test_tokens_without_epoch_claims_hold_until_the_epoch_moves(kernel, client, customer):
    """Access tokens signed before this change (no `ep`, no `fam`) keep working until
    they expire, unless the account's sessions are ended."""
    now = int(time.time())
    legacy = jwt.encode(
        {"alg": "HS256", "typ": "JWT"},
        {"sub": str(customer.id), "aud": CUSTOMER, "iat": now, "exp": now + 60},
        kernel.tokens._key,
    )
    assert await status(client, "/api/revocation/customer/", legacy) == 200
    async with kernel.db.transaction() as session:
        await kernel.tokens.revoke_account(session, customer.id)
    assert await status(client, "/api/revocation/customer/", legacy) == 401


async def test_malformed_epoch_claims_are_401(kernel, client, customer):
    now = int(time.time())
    for extra in ({"ep": "0"}, {"ep": True}, {"fam": 7}):
        token = jwt.encode(
            {"alg": "HS256"},
            {"sub": str(customer.id), "aud": CUSTOMER, "iat": now, "exp": now + 60, **extra},
            kernel.tokens._key,
        )
        assert await status(client, "/api/revocation/customer/", token) == 401, extra


async def test_nothing_is_cached_while_invalidations_cannot_arrive(kernel, client, customer):
    states = token_states(kernel)
    await states.aclose()  # as if the pub/sub subscription were lost
    states._listen_after = time.monotonic() + 60  # and not back yet
    try:
        assert await status(client, "/api/revocation/customer/", customer.access_token) == 200
        await raw_sql(
            kernel, "UPDATE accounts SET is_active = :no WHERE id = :id", no=False, id=customer.id
        )
        assert await status(client, "/api/revocation/customer/", customer.access_token) == 401
    finally:
        states._listen_after = 0.0


# --- across real server processes (MariaDB + Redis) -------------------------------------


async def until_refused(url: str, token: str, within: float, who: str = "") -> float:
    """Seconds until `url` refuses `token` (401); fails after `within`."""
    start = time.monotonic()
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        while True:
            code = (await http.get(url)).status_code
            if code == 401:
                return time.monotonic() - start
            assert code == 200, code
            assert time.monotonic() - start < within, f"{url} still accepts the token {who}"
            await asyncio.sleep(0.05)


async def accepted_everywhere(servers: list[Any], *signed: Any) -> None:
    async with httpx.AsyncClient() as http:
        for server in servers:
            for one in signed:
                r = await http.get(
                    f"{server.url}/api/auth/me/",
                    headers={"Authorization": f"Bearer {one.access_token}"},
                )
                assert r.status_code == 200, r.text


async def test_two_server_processes_end_tokens(kernel, app, spawn):
    """Two `commerce serve` processes with a long TOKEN_STATE_TTL (60 s): a logout that is
    one process's very first request, and a deactivation and a password change committed by
    a third process, reach both at once (pub/sub); a demotion made with plain SQL ends the
    admin token at once on both (read on every request)."""
    if backend_urls()[1] is None:
        pytest.skip("needs Redis (COMMERCE_TEST_REDIS_URL) for pub/sub between processes")
    servers = [spawn("serve", env={"TOKEN_STATE_TTL": "60"}) for _ in range(2)]
    # This process commits changes too; a serving process announces them from its first
    # request on, a CLI or test process once its token states exist.
    token_states(kernel)
    logged_out = await sign_in(kernel, app, "leaves@example.com")
    deactivated = await sign_in(kernel, app, "deactivated@example.com")
    changed_password = await sign_in(kernel, app, "new-password@example.com")
    demoted = await sign_in(kernel, app, "demoted@example.com", admin=True)
    everyone = (logged_out, deactivated, changed_password, demoted)
    await accepted_everywhere(servers[1:], *everyone)

    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{servers[0].url}/api/auth/logout/",
            json={"refresh_token": logged_out.refresh_token},
        )
    assert r.status_code == 204
    await until_refused(f"{servers[1].url}/api/auth/me/", logged_out.access_token, 5)

    await accepted_everywhere(servers[:1], deactivated, changed_password, demoted)
    async with kernel.db.transaction() as session:
        account = await session.get(Account, deactivated.id)
        assert account is not None
        account.is_active = False
        await kernel.tokens.revoke_account(session, changed_password.id)
    await raw_sql(
        kernel, "UPDATE accounts SET is_admin = :no WHERE id = :id", no=False, id=demoted.id
    )
    for server in servers:
        for signed in everyone:
            # Far below the 60 s bound: the announcement arrived (or, for the admin, the
            # database was read).
            await until_refused(
                f"{server.url}/api/auth/me/", signed.access_token, 5, signed.account.email
            )


async def test_changes_made_outside_reach_other_processes_within_the_ttl(kernel, app, spawn):
    """Without any announcement (plain SQL), a customer token ends on every server process
    within TOKEN_STATE_TTL; works on SQLite (one file, two processes) too."""
    servers = [spawn("serve", env={"TOKEN_STATE_TTL": "1"}) for _ in range(2)]
    signed = await sign_in(kernel, app, "outside@example.com")
    await accepted_everywhere(servers, signed)
    await raw_sql(
        kernel, "UPDATE accounts SET is_active = :no WHERE id = :id", no=False, id=signed.id
    )
    for server in servers:
        await until_refused(f"{server.url}/api/auth/me/", signed.access_token, 1.5)
