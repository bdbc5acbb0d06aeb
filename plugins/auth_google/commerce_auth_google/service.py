"""Google sign-in: verify an ID token against Google's keys, redeem a code, find or create the
account. No HTTP of our own in here (only calls out to Google)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import warnings
from dataclasses import dataclass

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key, RSAKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_auth_google.models import GoogleIdentity
from commerce_auth_google.settings import GoogleSettings
from commerce_kernel import (
    CUSTOMER,
    Account,
    Kernel,
    ServiceUnavailable,
    TokensWithUser,
    Unauthorized,
)
from commerce_kernel.db import retry_on_conflict
from commerce_kernel.identity import find_or_create_account, normalize_email, prove_email

logger = logging.getLogger("commerce.auth_google")

GOOGLE_ISSUERS = ["https://accounts.google.com", "accounts.google.com"]
ALGORITHMS = ["RS256"]
STATE_KEY = "auth_google.sign_in"


def rejected(why: str) -> Unauthorized:
    return Unauthorized(f"The Google sign-in was refused: {why}.")


class GoogleKeys:
    """Google's public signing keys (JWKS), cached in this process.

    A token naming an unknown `kid` makes one refetch (keys rotate); refetches caused by
    unknown ids are at least `refetch_interval` seconds apart, so made-up ids cannot turn
    every request into a call to Google. Keys older than `max_age` are refreshed on use.
    """

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        refetch_interval: float = 10.0,
        max_age: float = 6 * 3600,
    ) -> None:
        self.url = url
        self.http = http
        self.refetch_interval = refetch_interval
        self.max_age = max_age
        self.fetches = 0
        self._keys: dict[str, Key] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    def _age(self) -> float | None:
        return None if self._fetched_at is None else time.monotonic() - self._fetched_at

    async def key(self, kid: str) -> Key | None:
        """The key with id `kid`, fetching Google's keys when needed; None if Google has none."""
        age = self._age()
        if kid in self._keys and age is not None and age < self.max_age:
            return self._keys[kid]
        async with self._lock:
            age = self._age()  # another request may have fetched while we waited
            stale = age is None or age >= self.max_age
            if kid not in self._keys and not stale and age is not None:
                if age < self.refetch_interval:
                    return None
                await self.fetch()
            elif stale:
                try:
                    await self.fetch()
                except ServiceUnavailable:
                    if kid not in self._keys:
                        raise
                    # Google unreachable: the keys we have are still Google's.
                    logger.warning("could not refresh Google's keys; using the cached ones")
        return self._keys.get(kid)

    async def fetch(self) -> None:
        try:
            response = await self.http.get(self.url)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("fetching Google's keys from %s failed: %s", self.url, exc)
            raise ServiceUnavailable("Google's signing keys could not be fetched.") from None
        keys: dict[str, Key] = {}
        for item in data.get("keys", []) if isinstance(data, dict) else []:
            if not isinstance(item, dict) or item.get("kty") != "RSA" or not item.get("kid"):
                continue
            try:
                keys[str(item["kid"])] = RSAKey.import_key(item)
            except (JoseError, ValueError, TypeError):
                logger.warning("ignoring an unreadable key %r in Google's JWKS", item.get("kid"))
        # Replace, not merge: a key Google stopped publishing is no longer trusted.
        self._keys = keys
        self._fetched_at = time.monotonic()
        self.fetches += 1

    def forget(self) -> None:
        """Drop the cache (the next token fetches the keys again)."""
        self._keys, self._fetched_at = {}, None


@dataclass(frozen=True)
class GoogleUser:
    """What a verified ID token says about the person."""

    sub: str
    email: str
    name: str


class GoogleSignIn:
    """One deployment's Google sign-in: settings, an HTTP client and the key cache."""

    def __init__(self, settings: GoogleSettings) -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(timeout=settings.google_http_timeout)
        self.keys = GoogleKeys(
            settings.google_jwks_url, self.http, settings.google_jwks_refetch_interval
        )

    @property
    def client_id(self) -> str:
        if not self.settings.google_client_id:
            raise ServiceUnavailable("Sign-in with Google is not configured (GOOGLE_CLIENT_ID).")
        return self.settings.google_client_id

    async def verify_id_token(self, id_token: str, nonce: str | None = None) -> GoogleUser:
        """Check the token's signature against Google's keys and its claims: `iss` is Google,
        `aud` is our client id, `exp` and `iat` are sane, the email is verified (a JSON
        `true`), and, when the client sent a `nonce` to Google, the token carries exactly
        that one (a token replayed from another sign-in does not). 401 if not."""
        client_id = self.client_id
        try:
            header = jws.extract_compact(id_token.encode()).headers()
        except (JoseError, ValueError, TypeError, KeyError):
            raise rejected("the ID token is malformed") from None
        if header.get("alg") not in ALGORITHMS:
            raise rejected("the ID token is not signed with RS256")
        kid = header.get("kid")
        key = await self.keys.key(kid) if isinstance(kid, str) and kid else None
        if key is None:
            raise rejected("the ID token is signed with an unknown key")
        try:
            claims = jwt.decode(id_token, key, algorithms=ALGORITHMS).claims
            jwt.JWTClaimsRegistry(
                leeway=self.settings.google_clock_leeway,
                iss={"essential": True, "values": GOOGLE_ISSUERS},
                aud={"essential": True, "value": client_id},
                exp={"essential": True},
                iat={"essential": True},
                sub={"essential": True},
            ).validate(claims)
        except JoseError as exc:
            raise rejected(f"the ID token is invalid ({exc.error})") from None
        except (ValueError, TypeError):
            raise rejected("the ID token is invalid") from None
        aud = claims["aud"]
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != client_id:
            raise rejected("the ID token was issued to another client")
        # Only a JSON true: `1 == True` in Python, and a string is not what Google's ID
        # tokens carry; anything else, missing included, is unverified.
        if claims.get("email_verified") is not True:
            raise rejected("the Google account's email is not verified")
        if nonce is not None:
            carried = claims.get("nonce")
            if not isinstance(carried, str) or not hmac.compare_digest(
                carried.encode(), nonce.encode()
            ):
                raise rejected("the ID token does not carry this sign-in's nonce")
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email or len(email) > 254:
            raise rejected("the ID token has no usable email")
        name = claims.get("name")
        return GoogleUser(
            sub=str(claims["sub"]),
            email=normalize_email(email),
            name=name[:200] if isinstance(name, str) else "",
        )

    async def redeem_code(self, code: str, redirect_uri: str) -> str:
        """Trade an authorization code for tokens at Google's token endpoint; the ID token."""
        # authlib warns on import that its httpx integration prefers httpx2; httpx is what
        # the kernel ships. Its module adds an "always" filter when imported, so import it
        # first and silence the warning after that.
        from authlib.deprecate import AuthlibDeprecationWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AuthlibDeprecationWarning)
            from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

        async with AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self.settings.google_client_secret,
            redirect_uri=redirect_uri,
            timeout=self.settings.google_http_timeout,
        ) as oauth:
            try:
                token = await oauth.fetch_token(
                    self.settings.google_token_url, code=code, grant_type="authorization_code"
                )
            except OAuthError as exc:
                raise rejected(f"the authorization code was not accepted ({exc.error})") from None
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code < 500:
                    raise rejected("the authorization code was not accepted") from None
                raise ServiceUnavailable("Google's token endpoint is unavailable.") from None
            except (httpx.HTTPError, ValueError):
                raise ServiceUnavailable("Google's token endpoint is unavailable.") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise rejected("Google answered no ID token (is `openid` in the scopes?)")
        return id_token

    async def aclose(self) -> None:
        await self.http.aclose()


def google_sign_in(kernel: Kernel) -> GoogleSignIn:
    """This deployment's Google sign-in (one per kernel, so the key cache is shared; its HTTP
    client is closed, and forgotten, when the kernel stops)."""
    return kernel.cached(STATE_KEY, lambda: GoogleSignIn(kernel.section(GoogleSettings)))


async def _find_or_create(session: AsyncSession, user: GoogleUser) -> tuple[Account, bool]:
    """The account this Google user signs in as: already linked by `sub`, else the account
    with the same (verified) email, linked now, else a new one. True when created."""
    linked = (
        await session.execute(
            select(Account)
            .join(GoogleIdentity, GoogleIdentity.account_id == Account.id)
            .where(GoogleIdentity.sub == user.sub)
        )
    ).scalar_one_or_none()
    if linked is not None:
        return linked, False
    # Compared exactly in canonical form: a look-alike verified email is another account.
    account, created = await find_or_create_account(session, user.email, user.name)
    session.add(GoogleIdentity(sub=user.sub, account_id=account.id))
    await session.flush()
    return account, created


async def sign_in(kernel: Kernel, user: GoogleUser) -> tuple[TokensWithUser, bool]:
    """Customer tokens for a verified Google user; True when the account was created. An
    account whose email is the user's verified email has it proven (`prove_email`)."""

    async def attempt() -> tuple[TokensWithUser, bool]:
        async with kernel.db.transaction() as session:
            account, created = await _find_or_create(session, user)
            if not account.is_active:
                raise rejected("the account is disabled")
            if account.email == user.email:
                # Google verified this very address: the first time, a password set by
                # whoever signed up with it goes, with every earlier session. (An account
                # linked by `sub` whose Google email changed since proves nothing.)
                await prove_email(kernel, session, account)
            tokens = await kernel.tokens.sign_in(session, account, CUSTOMER)
        return tokens, created

    # A concurrent first sign-in (same sub or email) may create the rows first; the second
    # try finds them.
    return await retry_on_conflict(attempt)
