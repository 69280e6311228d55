"""The address check at connect time, and what aiohttp needs of us to make it hold.

aiohttp resolves a name once (through `GuardedResolver`, which refuses the
name if any answer is refused) and connects to those answers itself, with no
second lookup; IP-literal URLs never reach a resolver at all. So the last word
is `guarded_socket`, aiohttp's `socket_factory`: it sees the exact address about
to be connected, every Happy Eyeballs attempt included, and refuses it unless
the request's host is exempt (`PRICEALERT_FETCH_ALLOWED_HOSTS`).

Which request a socket belongs to travels in a context variable (`Hop`) set
around each hop: aiohttp opens connections in the requesting task (or in tasks
it starts from it, which copy the context), so the factory knows the hop's
exemption and can report a refusal and the peer back to it.
"""

from __future__ import annotations

import errno
import socket
from contextvars import ContextVar
from dataclasses import dataclass

import aiohttp
from aiohappyeyeballs import AddrInfoType
from aiohttp.client_reqrep import ClientResponse, ConnectionKey
from aiohttp.connector import Connection
from aiohttp.tracing import Trace

from pricealert.http._addresses import blocked_reason, parse_ip_literal


@dataclass(slots=True)
class Hop:
    """One request to one URL, as the connection layer saw it."""

    exempt: bool  #: the host[:port] is on the allow list: no address check
    connecting: bool = False  #: a new connection was attempted (else: waited for the pool)
    refused: str | None = None  #: why an address was refused at connect time
    address: str = ""  #: the IP address the request went to


CURRENT_HOP: ContextVar[Hop | None] = ContextVar("pricealert_http_hop", default=None)


class AddressRefused(OSError):
    """Raised by the socket factory: aiohttp treats it as a failed connection attempt."""


def guarded_socket(addr_info: AddrInfoType) -> socket.socket:
    """aiohttp's `socket_factory`: a socket only for an address the policy allows."""
    family, type_, proto, _canonname, sockaddr = addr_info
    hop = CURRENT_HOP.get()
    if hop is not None:
        hop.connecting = True
    if hop is None or not hop.exempt:  # no hop: not our request, so no exemption either
        host = str(sockaddr[0])
        address = parse_ip_literal(host.partition("%")[0])
        reason = "not an IP address" if address is None else blocked_reason(address)
        if reason is not None:
            if hop is not None:
                hop.refused = f"{host}: {reason}"
            raise AddressRefused(errno.EACCES, f"{host} is refused: {reason}")
    return socket.socket(family, type_, proto)


class GuardedConnector(aiohttp.TCPConnector):
    """A pool that never hands out a connection with anything already waiting on it.

    aiohttp keeps parsing on an idle pooled connection, so a response the server
    sent unasked would be read as the answer to the next request on it (aiohttp
    checks only that the connection is open). Such a connection is closed instead.
    """

    async def _get(self, key: ConnectionKey, traces: list[Trace]) -> Connection | None:
        while (connection := await super()._get(key, traces)) is not None:
            protocol = connection.protocol
            if protocol is not None and not protocol.should_close:
                return connection
            connection.close()
        return None


class GuardedRequest(aiohttp.ClientRequest):
    """Records which address each request went out to (pooled connections included)."""

    async def send(self, conn: Connection) -> ClientResponse:
        hop = CURRENT_HOP.get()
        transport = conn.transport
        if hop is not None and transport is not None:
            peer = transport.get_extra_info("peername")
            hop.address = str(peer[0]) if peer else ""
        return await super().send(conn)
