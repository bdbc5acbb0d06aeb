"""The HTTP edges that protect clients: security headers on every response, `no-store` on
every response that carries a credential, and strict parsing of the Host header."""

from __future__ import annotations

import ipaddress
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Keys whose presence in a JSON body means the response hands out a credential: sign-in and
# refresh answers (`access_token`, `refresh_token`) and a TOTP enrolment (`otpauth_uri`).
CREDENTIAL_KEYS = (b'"access_token"', b'"refresh_token"', b'"otpauth_uri"')

# A token response is small; a JSON body is held only this long to look for credential keys
# (past it the head goes out as it is, so a long JSON stream keeps streaming).
HOLD_LIMIT = 64 * 1024

FRAME_ANCESTORS = b"frame-ancestors 'none'"

_REG_NAME = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*\.?")
_PORT = re.compile(r"[0-9]{1,5}")


def parse_host(value: bytes) -> str | None:
    """The host of a `Host` header (lower case, no port, no trailing dot; an IPv6 address in
    brackets), or None when the value is not `host[:port]` as RFC 9110 writes it. Nothing is
    guessed: `127.0.0.1:x@evil.com`, a path, a space, an empty or out-of-range port, or a
    non-ASCII byte are all malformed."""
    try:
        text = value.decode("ascii").lower()
    except UnicodeDecodeError:
        return None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[: end + 1], text[end + 1 :]
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
    else:
        host, sep, port = text.partition(":")
        rest = sep + port
        if not _REG_NAME.fullmatch(host) or len(host) > 254:
            return None
        host = host.removesuffix(".")
    if rest:
        port = rest[1:]
        if not rest.startswith(":") or not _PORT.fullmatch(port) or int(port) > 65535:
            return None
    return host


class SecurityHeadersMiddleware:
    """Outermost layer of HTTP responses, error answers included.

    Every response: `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`.
    HTML pages: `X-Frame-Options: DENY` and `frame-ancestors 'none'` in their CSP (added to a
    CSP the page sets, or as the whole CSP). A JSON response carrying a credential (see
    `CREDENTIAL_KEYS`): `Cache-Control: no-store`, so neither a browser nor a proxy keeps a
    token. Values a handler set itself are kept, except `Cache-Control` on a credential."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held = _Held(send)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                message, is_json = _with_headers(message)
                if is_json:
                    held.start = message  # sent with the body, once it is known
                    return
                await send(message)
            elif held.start is None:
                await send(message)
            elif message["type"] != "http.response.body":
                await held.flush()
                await send(message)
            else:
                held.body.append(message)
                held.size += len(message.get("body", b""))
                if not message.get("more_body", False) or held.size > HOLD_LIMIT:
                    await held.flush()

        await self.app(scope, receive, send_wrapper)
        if held.start is not None:  # the app ended without a last body message
            await held.flush()


class _Held:
    """The head of a JSON response and its first body messages, until the body shows
    whether it carries a credential."""

    __slots__ = ("body", "send", "size", "start")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.start: Message | None = None
        self.body: list[Message] = []
        self.size = 0

    async def flush(self) -> None:
        start, self.start = self.start, None
        assert start is not None
        content = b"".join(m.get("body", b"") for m in self.body)
        if any(key in content for key in CREDENTIAL_KEYS):
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"cache-control"]
            start["headers"] = [*headers, (b"cache-control", b"no-store")]
        await self.send(start)
        for message in self.body:
            await self.send(message)
        self.body.clear()


def _with_headers(message: Message) -> tuple[Message, bool]:
    """The response head with the security headers added; whether its body is JSON."""
    headers = list(message.get("headers", ()))
    present = set()
    content_type = b""
    csp_at = -1
    for i, (name, value) in enumerate(headers):
        name = name.lower()
        present.add(name)
        if name == b"content-type":
            content_type = value.lower()
        elif name == b"content-security-policy":
            csp_at = i
    if b"x-content-type-options" not in present:
        headers.append((b"x-content-type-options", b"nosniff"))
    if b"referrer-policy" not in present:
        headers.append((b"referrer-policy", b"no-referrer"))
    if content_type.startswith(b"text/html"):
        if b"x-frame-options" not in present:
            headers.append((b"x-frame-options", b"DENY"))
        if csp_at < 0:
            headers.append((b"content-security-policy", FRAME_ANCESTORS))
        elif b"frame-ancestors" not in headers[csp_at][1]:
            name, csp = headers[csp_at]
            headers[csp_at] = (name, csp.rstrip(b"; ") + b"; " + FRAME_ANCESTORS)
    media = content_type.split(b";", 1)[0].strip()
    is_json = media == b"application/json" or media.endswith(b"+json")
    return {**message, "headers": headers}, is_json
