"""Where a tenant's webhook may point: only at public addresses, checked after resolving the
name, at the moment of connecting too (a name that resolved to a public address when the
admin saved it can be changed to point inside later), and never following redirects. So an
admin cannot use the relay to reach the server's own network (loopback, private and
link-local ranges, the cloud's metadata address) or learn what answers there.

On-premises targets (an ERP inside the company's network) are allowed explicitly with
`RECAP_WEBHOOK_ALLOW`, a comma-separated list of networks (`10.1.2.0/24,192.0.2.7/32`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from ..errors import Invalid

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetRefused(Invalid):
    code = "webhook_target_refused"


def allow_list(setting: str) -> list[Network]:
    """The networks `RECAP_WEBHOOK_ALLOW` names."""
    return [
        ipaddress.ip_network(part.strip(), strict=False)
        for part in setting.split(",")
        if part.strip()
    ]


def reachable(address: Address, allow: list[Network]) -> bool:
    """A public unicast address, or one the operator allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allow):
        return True
    return address.is_global and not address.is_multicast


async def _addresses(host: str, port: int) -> list[Address]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:  # UnicodeError: not a valid IDNA name
        raise TargetRefused(f"the webhook's host {host!r} cannot be resolved ({exc})") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def check_target(url: str, allow: list[Network]) -> None:
    """Refuse a webhook URL that is not http(s) or whose host resolves to any address a
    webhook may not reach (every numeric spelling resolves too: 0x7f000001, 127.1)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:  # a bad port, an unclosed IPv6 bracket
        raise TargetRefused(f"the webhook's URL is not valid ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("the webhook must be an http or https URL with a host")
    for address in await _addresses(parts.hostname, port):
        if not reachable(address, allow):
            raise TargetRefused(
                f"the webhook's host resolves to {address}, which webhooks may not reach "
                "(loopback, private, link-local, multicast or reserved); an operator can "
                "allow an on-premises network with RECAP_WEBHOOK_ALLOW"
            )


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, keeping only the addresses a webhook may reach: the connection
    goes to an address checked at that very moment."""

    def __init__(self, allow: list[Network]) -> None:
        self._inner = ThreadedResolver()
        self._allow = allow

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept = [r for r in found if reachable(ipaddress.ip_address(r["host"]), self._allow)]
        if not kept:
            raise OSError(f"{host} resolves only to addresses webhooks may not reach")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def session(allow: list[Network], timeout_s: float) -> aiohttp.ClientSession:
    """The HTTP session webhooks are delivered through."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow), limit=100)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s)
    )
