"""Outbound targets: which URLs the shop may POST to (the SSRF guard).

A URL must be `https` (or `http` with `WEBHOOKS_ALLOW_HTTP`), and every address its host
resolves to must be public: loopback, private, link-local (the cloud metadata address
169.254.169.254 among them), shared, reserved, multicast and unspecified addresses are
refused unless they fall in `WEBHOOKS_ALLOWED_NETWORKS`. The check runs when an endpoint is
registered and again before every delivery (DNS may change), and the delivery connects to
the very address that was checked, so a second lookup cannot swap it (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from commerce_webhooks.settings import WebhooksSettings

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL may not be delivered to; the message says why."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its host, port and the address to connect to."""

    scheme: str
    host: str
    port: int
    address: IP


def _public(ip: IP) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _allowed(ip: IP, settings: WebhooksSettings) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return _public(ip) or any(ip in net for net in settings.networks)


def check_syntax(url: str, settings: WebhooksSettings) -> tuple[str, str, int]:
    """The scheme, host and port of an acceptable URL, or TargetRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise TargetRefused("the URL must start with https://")
    if scheme == "http" and not settings.allow_http:
        raise TargetRefused("the URL must use https (WEBHOOKS_ALLOW_HTTP is off)")
    if parts.username or parts.password:
        raise TargetRefused("the URL must not carry credentials")
    host = (parts.hostname or "").lower()
    if not host:
        raise TargetRefused("the URL has no host")
    return scheme, host, port or (443 if scheme == "https" else 80)


async def _addresses(host: str, port: int) -> list[IP]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetRefused(f"{host} does not resolve: {exc}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    return addresses


async def resolve(url: str, settings: WebhooksSettings) -> Target:
    """Check `url` and resolve its host: a Target to connect to, or TargetRefused naming
    the address that is not allowed."""
    scheme, host, port = check_syntax(url, settings)
    addresses = await _addresses(host, port)
    for ip in addresses:
        if not _allowed(ip, settings):
            raise TargetRefused(
                f"{host} resolves to {ip}, which is not a public address "
                "(WEBHOOKS_ALLOWED_NETWORKS may allow it)"
            )
    return Target(scheme, host, port, addresses[0])
