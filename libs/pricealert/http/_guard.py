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
exemption and can report a refusal, and the connector the peer, back to it.

These hooks are aiohttp's private ones (`TCPConnector._get`, `_create_connection`,
`_factory`; `ResponseHandler._reschedule_timeout`, `_drop_timeout`), hence the
`<3.15` pin; tests/http exercises each of them.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import socket
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
from aiohappyeyeballs import AddrInfoType
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_reqrep import ConnectionKey
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
    """aiohttp's connector, with a pool that never hands out a connection with anything on it.

    aiohttp keeps parsing on an idle pooled connection, so a response the server
    sent unasked would be read as the answer to the next request on it (aiohttp
    checks only that the connection is open). Such a connection is closed instead.
    Each connection handed out tells the hop which address it goes to.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        handler = functools.partial(GuardedHandler, loop=self._loop)
        self._factory = cast("functools.partial[ResponseHandler]", handler)

    async def _get(self, key: ConnectionKey, traces: list[Trace]) -> Connection | None:
        while (connection := await super()._get(key, traces)) is not None:
            protocol = connection.protocol
            if protocol is not None and not protocol.should_close:
                _note_peer(protocol)
                return connection
            connection.close()
        return None

    async def _create_connection(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's signature, overridden
    ) -> ResponseHandler:
        protocol = await super()._create_connection(req, traces, timeout)
        _note_peer(protocol)
        return protocol


def _note_peer(protocol: ResponseHandler) -> None:
    hop = CURRENT_HOP.get()
    if hop is not None and isinstance(protocol, GuardedHandler):
        hop.address = protocol.peer_address


class GuardedHandler(ResponseHandler):
    """aiohttp's protocol, knowing its peer, with a read timeout that costs (almost) no timers.

    aiohttp cancels and re-arms its `sock_read` timer on every network read, and
    arms a new one for every response. Here a read only notes the time; the one
    timer of a connection, when it fires early, re-arms itself for what is left,
    and outlives a response when the next one reuses the connection. Fewer timers
    also keep the event loop's timer heap small, which every other timer pays for.
    """

    peer_address = ""
    _reading = False  #: a read deadline applies (a response is awaited and not paused)
    _last_read = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        self.peer_address = str(peer[0]) if peer else ""

    def _reschedule_timeout(self) -> None:
        timeout = self._read_timeout
        if not timeout:
            self._reading = False
            return
        loop = self._loop
        self._reading = True
        self._last_read = now = loop.time()
        handle = self._read_timeout_handle
        if handle is not None and handle.when() > now + timeout:  # armed for a longer one
            handle.cancel()
            handle = None
        if handle is None:
            self._read_timeout_handle = loop.call_at(now + timeout, self._check_read_timeout)

    def _drop_timeout(self) -> None:
        self._reading = False  # the timer stays armed; it finds nothing to do and stops

    def _check_read_timeout(self) -> None:
        self._read_timeout_handle = None
        timeout = self._read_timeout
        if not (self._reading and timeout and self.transport is not None):
            return
        deadline = self._last_read + timeout
        if self._loop.time() + 0.001 >= deadline:
            self._reading = False
            self._on_read_timeout()
        else:
            self._read_timeout_handle = self._loop.call_at(deadline, self._check_read_timeout)
