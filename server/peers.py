"""Who is calling: the client's IP address from the connection's peer, and from
`X-Forwarded-For` only where the peer is a proxy the operator trusts (`INGESTD_TRUSTED_PROXIES`),
as reverse proxies and their backends agree to do. A client cannot pick its own address by
sending the header."""

from __future__ import annotations

import ipaddress

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def peer_ip(peer: str) -> str:
    """The IP address of a transport's peer: gRPC's `ipv4:1.2.3.4:5`, `ipv6:[::1]:5`, or an
    HTTP peer's bare address."""
    if peer.startswith("ipv4:"):
        return peer[5:].rsplit(":", 1)[0]
    if peer.startswith("ipv6:"):
        return peer[5:].rsplit(":", 1)[0].strip("[]")
    return peer.split("%")[0]


class ClientAddresses:
    """Resolves a call's client address, trusting forwarded headers only from `trusted_proxies`
    (comma-separated CIDRs)."""

    def __init__(self, trusted_proxies: str) -> None:
        self._trusted: list[_Network] = [
            ipaddress.ip_network(n.strip(), strict=False) for n in trusted_proxies.split(",") if n.strip()
        ]

    def _is_trusted(self, address: str) -> bool:
        if not self._trusted:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def client(self, peer: str, forwarded_for: str) -> str:
        """The client's address: the peer's, or, when the peer is a trusted proxy, the last
        `X-Forwarded-For` hop that is not one (hops left of it may be forged by the client)."""
        address = peer_ip(peer)
        if not self._is_trusted(address):
            return address or "unknown"
        for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
            if not self._is_trusted(hop):
                return hop
        return address
